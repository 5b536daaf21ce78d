"""The four services as separate processes on the real Kafka broker and FerretDB, with the mock LLM over HTTP.

A crash-free reference run of a fixed set of documents gives the expected pair ids; the crash, database-outage
and broker-restart runs must end with exactly the same pairs, nothing stored twice and every group at zero lag.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pipeline_harness import MockLLM, Pipeline, tail, write_documents

from agentinstruct import devinfra
from services.common.settings import STAGES

pytestmark = pytest.mark.timeout(600)

DOCUMENTS = 16


@dataclass
class Reference:
    pipeline: Pipeline
    seeds: set[str]
    pairs_by_seed: dict[str, set[str]]
    pair_ids: set[str]
    exit_codes: dict[str, int | None]
    seconds: float


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return write_documents(tmp_path_factory.mktemp("documents"), DOCUMENTS)


@pytest.fixture(scope="module")
def reference(infra: None, mock_llm: MockLLM, logs_dir: Path, documents: list[Path]) -> Iterator[Reference]:
    """A crash-free run; its services are stopped gracefully, its topics and database kept for inspection."""
    pipeline = Pipeline(logs_dir, mock_llm.base_url)
    try:
        started = time.monotonic()
        pipeline.start()
        counts = pipeline.ingest(documents)
        assert counts.published == counts.seeds > 0, counts
        pipeline.wait_complete(180)
        seconds = time.monotonic() - started
        exit_codes = pipeline.stop()
        yield Reference(
            pipeline=pipeline,
            seeds=pipeline.seed_ids(),
            pairs_by_seed=pipeline.pairs_by_seed(),
            pair_ids=pipeline.pair_ids(),
            exit_codes=exit_codes,
            seconds=seconds,
        )
    finally:
        pipeline.cleanup()


def assert_same_outcome(pipeline: Pipeline, reference: Reference) -> None:
    assert pipeline.seed_ids() == reference.seeds
    pair_ids = pipeline.pair_ids()
    assert pair_ids == reference.pair_ids, (
        f"missing {sorted(reference.pair_ids - pair_ids)[:5]}, extra {sorted(pair_ids - reference.pair_ids)[:5]}"
    )
    assert pipeline.pairs_by_seed() == reference.pairs_by_seed
    hashes = [doc["content_hash"] for doc in pipeline.db["pairs"].find({}, {"content_hash": 1})]
    assert len(hashes) == len(set(hashes)) == len(pair_ids), "a pair was stored twice"
    assert pipeline.lags() == dict.fromkeys(STAGES, 0)


def test_end_to_end(reference: Reference, documents: list[Path]) -> None:
    pipeline = reference.pipeline
    assert reference.exit_codes == dict.fromkeys(STAGES, 0), "a service did not shut down cleanly on SIGTERM"
    assert len(reference.seeds) >= len(documents)
    assert reference.pair_ids, "no pair was accepted"
    # Every pair is traceable to an ingested seed, in the chat format, with its lineage and checks.
    for doc in pipeline.db["pairs"].find({}):
        assert doc["lineage"]["seed_id"] in reference.seeds
        assert doc["_id"] == doc["id"]
        roles = [m["role"] for m in doc["messages"]]
        assert roles[0] == "system" and roles[1] == "user" and roles[-1] == "assistant"
        assert doc["skill"] in {"rc", "text_modification"}
        assert all(check["passed"] for check in doc["checks"])
    assert len(reference.pairs_by_seed) >= len(reference.seeds) // 2, "most seeds should yield pairs"
    # Every candidate became a pair or a rejection with its reason, in the collection and on the topic.
    candidates = pipeline.read_json(pipeline.settings.candidates_topic)
    rejected_docs = {doc["_id"]: doc for doc in pipeline.db["rejected"].find({})}
    assert all(doc["reason"] for doc in rejected_docs.values())
    rejected_topic = {r["id"] for r in pipeline.read_json(pipeline.settings.rejected_topic) if r["stage"] == "validate"}
    assert rejected_topic == set(rejected_docs)
    assert len({c["id"] for c in candidates}) == len(reference.pair_ids) + len(rejected_docs)
    for stage in STAGES:
        assert pipeline.read(pipeline.settings.dlq_topic(stage)) == [], f"unexpected dead letters from {stage}"
    # Re-ingesting the same documents is a no-op.
    before = len(pipeline.read(pipeline.settings.seeds_topic))
    again = pipeline.ingest(documents)
    assert again.published == 0 and again.already_ingested == again.seeds
    assert len(pipeline.read(pipeline.settings.seeds_topic)) == before


def kill_repeatedly(
    pipeline: Pipeline, name: str, kills: int, seed: int, log: list[dict[str, Any]], errors: list[BaseException]
) -> None:
    """Kill -9 service `name` `kills` times, each at a random moment while it has messages in flight (when it
    gets any within 15 s), and start it again."""
    rng = random.Random(seed)
    service = pipeline.services[name]
    try:
        for _ in range(kills):
            service.wait_healthy(90)
            time.sleep(rng.uniform(0.2, 1.0))
            deadline = time.monotonic() + 15
            status: dict[str, Any] = {}
            while time.monotonic() < deadline:
                status = service.health() or {}
                if status.get("in_flight", 0) > 0:
                    break
                time.sleep(0.05)
            time.sleep(rng.uniform(0.0, 0.3))
            service.kill()
            log.append({"service": name, "in_flight": status.get("in_flight", 0)})
            time.sleep(rng.uniform(0.0, 1.0))
            service.start()
        service.wait_healthy(90)
    except BaseException as exc:
        errors.append(exc)


@pytest.fixture(scope="module")
def slow_mock_llm(logs_dir: Path) -> Iterator[MockLLM]:
    """The same deterministic answers, slower (0-120 ms), so that kills find work in flight."""
    server = MockLLM(logs_dir, "--latency-median-ms", "60", "--latency-dist", "uniform").start()
    yield server
    server.stop()


def test_crash_recovery(
    make_pipeline: Callable[..., Pipeline], slow_mock_llm: MockLLM, documents: list[Path], reference: Reference
) -> None:
    """kill -9 every service at random moments (5 times each) while work keeps arriving.

    The refiner and the validator run two replicas each, so kills also move partitions between live members
    (revocation while work is in flight). After the documents, already ingested seeds are published again until
    the last kill (replays, as after a crash upstream): they keep every stage busy and must change nothing.
    """
    pipeline = make_pipeline(slow_mock_llm.base_url, MAX_IN_FLIGHT_MESSAGES="6", LLM_CACHE="false")
    pipeline.add_replica("refiner")
    pipeline.add_replica("validator")
    pipeline.start()
    kills: list[dict[str, Any]] = []
    errors: list[BaseException] = []
    threads = [
        threading.Thread(target=kill_repeatedly, args=(pipeline, name, 5, 100 + i, kills, errors))
        for i, name in enumerate(STAGES)
    ]
    for thread in threads:
        thread.start()
    for batch in (documents[i::8] for i in range(8)):
        pipeline.ingest(batch)
        time.sleep(3)
    seeds = pipeline.read(pipeline.settings.seeds_topic)
    rng = random.Random(5)
    replays = 0
    while any(thread.is_alive() for thread in threads):
        chosen = rng.sample(seeds, k=min(3, len(seeds)))
        pipeline.produce(pipeline.settings.seeds_topic, [(r.key, r.value) for r in chosen])
        replays += len(chosen)
        time.sleep(2)
    for thread in threads:
        thread.join(300)
    assert not errors, errors
    assert len(kills) == 5 * len(STAGES)
    hits = sum(1 for k in kills if k["in_flight"])
    print(f"kills with work in flight: {hits} of {len(kills)}; seeds replayed: {replays}; kills: {kills}")
    assert hits >= len(kills) // 2, f"too few kills hit in-flight work: {kills}"
    pipeline.wait_complete(300)
    assert_same_outcome(pipeline, reference)
    for stage in STAGES:
        assert pipeline.read(pipeline.settings.dlq_topic(stage)) == [], tail(pipeline.services[stage].log_path)


def test_database_outage(
    make_pipeline: Callable[..., Pipeline], mock_llm: MockLLM, documents: list[Path], reference: Reference
) -> None:
    """FerretDB stopped mid-run: the validator retries, commits nothing it has not stored, completes later."""
    pipeline = make_pipeline(mock_llm.base_url)
    pipeline.start()
    pipeline.ingest(documents)
    devinfra.down(("ferretdb",))
    try:
        time.sleep(4)  # work already stored (if any) is committed by now
        frozen = committed_offsets(pipeline, "validator")
        time.sleep(8)
        assert committed_offsets(pipeline, "validator") == frozen, "the validator committed during the outage"
        validator = pipeline.services["validator"]
        assert validator.alive
        status = validator.health() or {}
        assert status.get("in_flight", 0) > 0, status
    finally:
        devinfra.up(("ferretdb",))
    pipeline.wait_complete(180)
    assert_same_outcome(pipeline, reference)


def committed_offsets(pipeline: Pipeline, stage: str) -> dict[Any, int]:
    import asyncio

    from aiokafka.admin import AIOKafkaAdminClient

    async def read() -> dict[Any, int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=pipeline.settings.kafka_bootstrap_servers)
        await admin.start()
        try:
            offsets = await admin.list_consumer_group_offsets(pipeline.settings.group_id(stage))  # type: ignore[arg-type]
            return {tp: meta.offset for tp, meta in offsets.items()}
        finally:
            await admin.close()

    return asyncio.run(read())


def test_broker_restart(
    make_pipeline: Callable[..., Pipeline], mock_llm: MockLLM, documents: list[Path], reference: Reference
) -> None:
    """Kafka stopped and started again mid-run: every service reconnects and the run completes."""
    pipeline = make_pipeline(mock_llm.base_url)
    pipeline.start()
    pipeline.ingest(documents[: len(documents) // 2])
    time.sleep(1.5)
    devinfra.down(("kafka",))
    time.sleep(3)
    devinfra.up(("kafka",))
    pipeline.ingest(documents[len(documents) // 2 :])
    pipeline.wait_complete(240)
    for name, service in pipeline.services.items():
        assert service.alive, f"{name} died: {tail(service.log_path)}"
    assert_same_outcome(pipeline, reference)
