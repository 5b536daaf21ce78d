"""Poison input and LLM faults against the four services running as separate processes.

Poison goes to the stage's dead-letter topic at once, with its reason, and never blocks the partition. LLM
items whose retries run out are dead-lettered with the reason and their partial results: nothing is lost.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pipeline_harness import MockLLM, Pipeline, write_documents

from agentinstruct_schemas import DeadLetter, derive_id
from services.common.delivery import DEAD_LETTER_LLM_REASONS, TRANSIENT_LLM_REASONS
from services.common.settings import STAGES

pytestmark = pytest.mark.timeout(400)

MAX_MESSAGE_BYTES = 65_536

POISON: dict[str, tuple[bytes | None, bytes]] = {
    "poison.not_json": (b"k1", b"this is not json {"),
    "poison.wrong_schema": (b"k2", json.dumps({"hello": "world"}).encode()),
    "poison.unknown_schema_version": (b"k3", json.dumps({"schema_version": 99, "id": "x"}).encode()),
    "poison.oversized": (b"k4", b'{"pad": "' + b"x" * (MAX_MESSAGE_BYTES + 10_000) + b'"}'),
    "poison.binary": (b"k5", bytes(range(256)) * 8),
    "poison.empty": (b"k6", b""),
}


def input_topics(pipeline: Pipeline) -> dict[str, str]:
    settings = pipeline.settings
    return {
        "transformer": settings.seeds_topic,
        "suggester": settings.transformed_topic,
        "refiner": settings.instructions_topic,
        "validator": settings.candidates_topic,
    }


def dead_letters(pipeline: Pipeline, stage: str) -> list[DeadLetter]:
    return [DeadLetter.model_validate_json(r.value) for r in pipeline.read(pipeline.settings.dlq_topic(stage))]


def test_poison_goes_to_dead_letters_and_good_messages_still_flow(
    make_pipeline: Callable[..., Pipeline], mock_llm: MockLLM, tmp_path: Path
) -> None:
    pipeline = make_pipeline(mock_llm.base_url, MAX_MESSAGE_BYTES=str(MAX_MESSAGE_BYTES))
    pipeline.start()
    for topic in input_topics(pipeline).values():
        pipeline.produce(topic, list(POISON.values()))
    counts = pipeline.ingest(write_documents(tmp_path / "docs", 3))
    assert counts.published == counts.seeds > 0
    pipeline.wait_complete(120)
    for name, service in pipeline.services.items():
        assert service.alive, f"{name} died"
    assert pipeline.pair_ids(), "good messages after the poison were not processed"
    for stage, topic in input_topics(pipeline).items():
        letters = dead_letters(pipeline, stage)
        by_reason = {letter.reason: letter for letter in letters}
        assert sorted(by_reason) == sorted(POISON), (stage, [(x.reason, x.detail) for x in letters])
        assert len(letters) == len(POISON)
        for reason, letter in by_reason.items():
            assert letter.stage == stage and letter.source_topic == topic and letter.error_kind == "poison"
            assert letter.detail, reason
            assert letter.partial["source"]["topic"] == topic
        assert by_reason["poison.binary"].payload_encoding == "base64"
        assert base64.b64decode(by_reason["poison.binary"].payload) == POISON["poison.binary"][1]
        assert by_reason["poison.not_json"].payload == POISON["poison.not_json"][1].decode()
        oversized = by_reason["poison.oversized"]
        assert oversized.partial["payload_bytes"] == len(POISON["poison.oversized"][1])
        assert len(oversized.payload) < len(POISON["poison.oversized"][1])


@pytest.fixture
def faulty_llm(logs_dir: Path) -> Iterator[MockLLM]:
    """30% of requests fail: 429, 500, timeouts (held 3 s), malformed JSON and truncated answers."""
    server = MockLLM(
        logs_dir,
        "--fault-rate",
        "0.3",
        "--latency-median-ms",
        "10",
        "--latency-dist",
        "uniform",
        "--timeout-hold-s",
        "3",
        "--retry-after-s",
        "0.1",
        "--seed",
        "11",
    ).start()
    yield server
    server.stop()


def test_llm_faults_every_item_accounted_for(
    make_pipeline: Callable[..., Pipeline], faulty_llm: MockLLM, tmp_path: Path
) -> None:
    # Two attempts per call, so that some calls do run out of retries.
    pipeline = make_pipeline(faulty_llm.base_url, LLM_MAX_ATTEMPTS="2", LLM_TIMEOUT_S="1", LLM_CACHE="false")
    pipeline.start()
    counts = pipeline.ingest(write_documents(tmp_path / "docs", 10))
    pipeline.wait_complete(240)
    stats = faulty_llm.stats()
    settings = pipeline.settings

    letters = {stage: dead_letters(pipeline, stage) for stage in STAGES}
    exhausted = [letter for stage_letters in letters.values() for letter in stage_letters]
    assert exhausted, f"no dead letters although the mock injected faults: {stats}"
    for letter in exhausted:
        assert letter.error_kind == "llm_exhausted", letter
        assert letter.reason in TRANSIENT_LLM_REASONS
        assert letter.partial["rejection"]["reason"] and letter.partial["input_id"]
        assert letter.payload  # the input, so it can be replayed
    dlq_rejections = {letter.partial["rejection_id"] for letter in exhausted}
    rejected_topic = {r["id"]: r for r in pipeline.read_json(settings.rejected_topic)}
    assert not any(r["reason"] in DEAD_LETTER_LLM_REASONS for r in rejected_topic.values())

    # Every seed produced transformed content, or a rejection or dead letter carrying its id.
    transformed = {t["id"]: t for t in pipeline.read_json(settings.transformed_topic)}
    seeds_seen = {t["lineage"]["seed_id"] for t in transformed.values()}
    seeds_seen |= {r["lineage"]["seed_id"] for r in rejected_topic.values() if r["stage"] == "transform"}
    seeds_seen |= {x.partial["input_id"] for x in letters["transformer"]}
    assert pipeline.seed_ids() <= seeds_seen
    assert len(pipeline.seed_ids()) == counts.seeds

    # Every instruction was answered by the teacher, rejected, or dead-lettered.
    candidates = {c["id"]: c for c in pipeline.read_json(settings.candidates_topic)}
    answered = {c["instruction"]["id"] for c in candidates.values()}
    instructions = {i["id"] for i in pipeline.read_json(settings.instructions_topic)}
    assert instructions, "no instruction made it through"
    unaccounted = []
    for instruction_id in instructions:
        teacher_rejection = derive_id(instruction_id, "reject:refine:teacher", "1", 0)
        if instruction_id in answered or teacher_rejection in rejected_topic or teacher_rejection in dlq_rejections:
            continue
        unaccounted.append(instruction_id)
    assert not unaccounted, f"{len(unaccounted)} instruction(s) lost: {unaccounted[:5]}"

    # Every candidate is a stored pair, a stored rejection, or a validator dead letter.
    pairs = pipeline.pair_ids()
    stored_rejections = {str(d["_id"]) for d in pipeline.db["rejected"].find({}, {"_id": 1})}
    validator_letters = {x.partial["input_id"] for x in letters["validator"]}
    lost = [
        c
        for c in candidates
        if derive_id(c, "pair", "1", 0) not in pairs
        and derive_id(c, "reject:validate", "1", 0) not in stored_rejections
        and c not in validator_letters
    ]
    assert not lost, f"{len(lost)} candidate(s) lost: {lost[:5]}"
    assert pairs, "no pair survived the faults"
    summary: dict[str, Any] = {
        "seeds": counts.seeds,
        "instructions": len(instructions),
        "candidates": len(candidates),
        "pairs": len(pairs),
        "dead_letters": {stage: len(x) for stage, x in letters.items()},
        "mock": {k: v for k, v in stats.items() if k in ("requests", "outcomes")},
    }
    print(json.dumps(summary))
