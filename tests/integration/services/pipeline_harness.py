"""Runs the four stage services as OS processes against the real Kafka and FerretDB, and inspects the results.

Every test gets its own namespace: topics `<ns>.seeds`, ..., consumer groups `<ns>.<stage>` and database `<ns>`,
so tests never see each other's data. The helpers are synchronous; Kafka inspection runs its own short event
loop per call.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.admin import DeleteGroupsRequest
from pymongo import MongoClient

from agentinstruct_schemas import Seed, SeedSource, content_id
from services.common.ingest import IngestCounts, ingest_to_kafka
from services.common.settings import STAGES, ServiceSettings

REPO = Path(__file__).resolve().parents[3]
LICENSES = Path("/usr/share/common-licenses")
BOOTSTRAP = "127.0.0.1:19092"
MONGODB_URI = "mongodb://127.0.0.1:27018/"

# Small flows, so a seed costs a few dozen fast mock calls.
BASE_ENV: dict[str, str] = {
    "SKILLS": "rc,text_modification",
    "REFINE_ROUNDS": "1",
    "SUGGESTIONS_PER_ROUND": "1",
    "REFLECTION_ROUNDS": "0",
    "MAX_INSTRUCTION_TYPES": "1",
    "MAX_INSTRUCTIONS_PER_TYPE": "1",
    "TOPIC_PARTITIONS": "4",
    "SESSION_TIMEOUT_MS": "6000",
    "HEARTBEAT_INTERVAL_MS": "1000",
    "COMMIT_INTERVAL_MS": "200",
    "MAX_IN_FLIGHT_MESSAGES": "16",
    "DRAIN_TIMEOUT_S": "5",
    "MONGODB_TIMEOUT_MS": "2000",
    "LLM_TIMEOUT_S": "5",
    "LLM_BACKOFF_BASE_S": "0.05",
    "LLM_BACKOFF_MAX_S": "0.5",
    "AGENTINSTRUCT_MODEL": "mock-model",
    "OPENAI_API_KEY": "test-key",
    "LOG_LEVEL": "INFO",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_documents(directory: Path, count: int, chars: int = 2500) -> list[Path]:
    """`count` real documents: consecutive `chars`-long pieces of the system's license texts."""
    directory.mkdir(parents=True, exist_ok=True)
    texts = [
        (p.name, p.read_text(encoding="utf-8", errors="replace"))
        for p in sorted(LICENSES.iterdir())
        if p.is_file() and not p.is_symlink()
    ]
    written: list[Path] = []
    window = 0
    while len(written) < count:
        pieces = [(name, text[window * chars : (window + 1) * chars]) for name, text in texts]
        pieces = [(name, piece) for name, piece in pieces if len(piece.strip()) > chars // 2]
        if not pieces:
            raise ValueError(f"not enough text for {count} documents of {chars} characters")
        for name, piece in pieces[: count - len(written)]:
            target = directory / f"{len(written):02d}-{name}-{window}.txt"
            target.write_text(piece, encoding="utf-8")
            written.append(target)
        window += 1
    return written


def simple_seeds(paths: Sequence[Path]) -> Iterator[Seed]:
    """One seed per document (used when `agentinstruct.ingest` is not available)."""
    for path in paths:
        text = path.read_text(encoding="utf-8")
        yield Seed(id=content_id(text), text=text, source=SeedSource(uri=str(path), document_id=content_id(text)))


# -- the mock LLM server ---------------------------------------------------------------------------------------


class MockLLM:
    """The deterministic mock OpenAI server as a separate process."""

    def __init__(self, log_dir: Path, *options: str) -> None:
        self.port = free_port()
        self.log_path = log_dir / f"mock-llm-{self.port}.log"
        self.options = options
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> MockLLM:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "agentinstruct.testing.mock_server",
                "--port",
                str(self.port),
                "--responders",
                "agentinstruct.testing.responders",
                *self.options,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            cwd=REPO,
        )
        wait_until(lambda: _http_ok(f"{self.base_url}/models"), 30, "mock LLM server up")
        return self

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/mock/stats", timeout=5) as response:
            return dict(json.load(response))

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def wait_until(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.25) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for: {what}")
        time.sleep(interval)


# -- the services ------------------------------------------------------------------------------------------------


@dataclass
class ServiceProcess:
    stage: str
    name: str
    env: dict[str, str]
    log_path: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        log = self.log_path.open("ab")
        log.write(f"\n===== start #{self.starts + 1} =====\n".encode())
        log.flush()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", f"services.{self.stage}"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=REPO,
        )
        self.starts += 1

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def health(self) -> dict[str, Any] | None:
        """The /health body, also when it answers 503 (not ready); None when it does not answer."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=3) as response:
                return dict(json.load(response))
        except urllib.error.HTTPError as exc:
            try:
                return dict(json.load(exc))
            except ValueError:
                return None
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def wait_healthy(self, timeout: float = 60) -> None:
        def ready() -> bool:
            if not self.alive:
                raise RuntimeError(f"{self.name} exited; log: {self.log_path}\n{tail(self.log_path)}")
            status = self.health()
            return status is not None and status.get("status") == "ok"

        wait_until(ready, timeout, f"{self.name} healthy")

    def kill(self) -> None:
        """SIGKILL: no drain, no final commit."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def terminate(self, timeout: float = 30, *, signalled: bool = False) -> int | None:
        """SIGTERM (unless already sent) and wait for the graceful shutdown; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            if not signalled:
                self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclass
class Pipeline:
    """One isolated deployment of the four services (a namespace of topics, groups and a database)."""

    log_dir: Path
    llm_base_url: str
    extra_env: Mapping[str, str] = field(default_factory=dict)
    namespace: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:10]}")
    services: dict[str, ServiceProcess] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("TOPIC_", "KAFKA_", "MONGODB_", "OPENAI_"))},
            **BASE_ENV,
            "PYTHONPATH": str(REPO),
            "KAFKA_BOOTSTRAP_SERVERS": BOOTSTRAP,
            "MONGODB_URI": MONGODB_URI,
            "MONGODB_DB": self.namespace,
            "TOPIC_NAMESPACE": self.namespace,
            "OPENAI_BASE_URL": self.llm_base_url,
            **self.extra_env,
        }
        self._env = env
        for stage in STAGES:
            self._add(stage, stage)
        self.settings = ServiceSettings(
            kafka_bootstrap_servers=BOOTSTRAP,
            topic_namespace=self.namespace,
            mongodb_db=self.namespace,
            topic_partitions=int(env["TOPIC_PARTITIONS"]),
            max_message_bytes=int(env.get("MAX_MESSAGE_BYTES", 1_048_576)),
            http_port=0,
        )

    # processes

    def _add(self, stage: str, name: str) -> ServiceProcess:
        port = free_port()
        service = ServiceProcess(
            stage, name, {**self._env, "HTTP_PORT": str(port)}, self.log_dir / f"{self.namespace}-{name}.log", port
        )
        self.services[name] = service
        return service

    def add_replica(self, stage: str) -> str:
        """One more process of `stage` in the same consumer group; returns its name."""
        count = sum(1 for service in self.services.values() if service.stage == stage)
        return self._add(stage, f"{stage}-{count + 1}").name

    def start(self, names: Sequence[str] | None = None) -> None:
        names = list(self.services) if names is None else list(names)
        for name in names:
            self.services[name].start()
        for name in names:
            self.services[name].wait_healthy()

    def stop(self) -> dict[str, int | None]:
        codes = {}
        for service in self.services.values():
            if service.proc is not None and service.proc.poll() is None:
                service.proc.terminate()
        for name, service in self.services.items():
            codes[name] = service.terminate(signalled=True)
        return codes

    # inputs

    def ingest(self, paths: Sequence[Path]) -> IngestCounts:
        try:
            import agentinstruct.ingest  # noqa: F401
        except ImportError:
            events: Any = simple_seeds(paths)
        else:
            events = None
        return asyncio.run(ingest_to_kafka([str(p) for p in paths], self.settings, events=events))

    def seed_ids(self) -> set[str]:
        return {str(doc["_id"]) for doc in self.db["seeds"].find({}, {"_id": 1})}

    # Kafka inspection

    def lags(self) -> dict[str, int]:
        return asyncio.run(group_lags(self.settings))

    def wait_complete(self, timeout: float = 180) -> dict[str, int]:
        """Until every stage group has consumed and committed everything, checked upstream first.

        A stage commits an input only after its outputs are acknowledged (and stored), so when the groups are
        read in pipeline order and all show zero lag, nothing is in flight anywhere.
        """
        last: dict[str, int] = {}

        def done() -> bool:
            nonlocal last
            for name, service in self.services.items():
                if not service.alive:
                    raise RuntimeError(f"{name} died; log: {service.log_path}\n{tail(service.log_path)}")
            last = self.lags()
            return all(lag == 0 for lag in last.values())

        try:
            wait_until(done, timeout, "all consumer groups at zero lag", interval=1.0)
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}; last lags {last}") from None
        return last

    def read(self, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
        return asyncio.run(read_topic(topic))

    def read_json(self, topic: str) -> list[dict[str, Any]]:
        return [json.loads(record.value) for record in self.read(topic)]

    def produce(self, topic: str, values: Sequence[tuple[bytes | None, bytes]]) -> None:
        asyncio.run(produce_raw(topic, values))

    # MongoDB inspection

    @property
    def db(self) -> Any:
        if not hasattr(self, "_mongo"):
            self._mongo: MongoClient[dict[str, Any]] = MongoClient(MONGODB_URI, serverSelectionTimeoutMS=10_000)
        return self._mongo[self.namespace]

    def pairs_by_seed(self) -> dict[str, set[str]]:
        grouped: dict[str, set[str]] = defaultdict(set)
        for doc in self.db["pairs"].find({}, {"_id": 1, "lineage.seed_id": 1}):
            grouped[doc["lineage"]["seed_id"]].add(str(doc["_id"]))
        return dict(grouped)

    def pair_ids(self) -> set[str]:
        return {str(doc["_id"]) for doc in self.db["pairs"].find({}, {"_id": 1})}

    # cleanup

    def cleanup(self) -> None:
        self.stop()
        groups = [self.settings.group_id(stage) for stage in STAGES]
        with contextlib.suppress(Exception):
            asyncio.run(delete_topics(self.settings.all_topics(), groups))
        try:
            self.db.client.drop_database(self.namespace)
        finally:
            self._mongo.close()


# -- Kafka helpers ---------------------------------------------------------------------------------------------


async def end_offsets(topics: Sequence[str]) -> dict[TopicPartition, int]:
    """{partition: end offset} of every partition of `topics` (missing topics are left out)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    partitions = [
        TopicPartition(topic["topic"], p["partition"])
        for topic in described
        if topic["error_code"] == 0
        for p in topic["partitions"]
    ]
    if not partitions:
        return {}
    consumer = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP, enable_auto_commit=False)
    await consumer.start()
    await asyncio.sleep(0)  # let the consumer's background task start, or stopping it raises CancelledError
    try:
        return dict(await consumer.end_offsets(partitions))
    finally:
        await consumer.stop()


async def group_lags(settings: ServiceSettings) -> dict[str, int]:
    """Per stage: messages of its input topic not yet committed by its group, read upstream first."""
    inputs = {
        "transformer": settings.seeds_topic,
        "suggester": settings.transformed_topic,
        "refiner": settings.instructions_topic,
        "validator": settings.candidates_topic,
    }
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        lags: dict[str, int] = {}
        for stage, topic in inputs.items():
            committed = await admin.list_consumer_group_offsets(settings.group_id(stage))  # type: ignore[arg-type]
            ends = await end_offsets([topic])
            lag = 0
            for tp, end in ends.items():
                meta = committed.get(tp)
                position = meta.offset if meta is not None and meta.offset >= 0 else 0
                lag += max(0, end - position)
            lags[stage] = lag
        return lags
    finally:
        await admin.close()


async def read_topic(topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    ends = await end_offsets([topic])
    ends = {tp: end for tp, end in ends.items() if end > 0}
    if not ends:
        return []
    consumer = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP, enable_auto_commit=False)
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        consumer.assign(list(ends))
        await consumer.seek_to_beginning(*ends)
        remaining = set(ends)
        deadline = time.monotonic() + 60
        while remaining and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=1000)
            for tp, items in batch.items():
                records.extend(items)
                if items and items[-1].offset + 1 >= ends[tp]:
                    remaining.discard(tp)
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
    return records


async def produce_raw(topic: str, values: Sequence[tuple[bytes | None, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all", max_request_size=4_000_000)
    await producer.start()
    try:
        for key, value in values:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def delete_topics(topics: Sequence[str], groups: Sequence[str] = ()) -> None:
    """Delete the topics and consumer groups of a test, so a long-lived dev broker does not fill up."""
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        doomed = [t for t in topics if t in existing]
        if doomed:
            await admin.delete_topics(doomed)
        known = {group for group, _kind in await admin.list_consumer_groups()}
        for group in groups:
            if group in known:  # the admin client has no public call for this (KIP-229 DeleteGroups)
                node = await admin.find_coordinator(group)
                await admin._send_request_to_node(node, DeleteGroupsRequest([group]))
    finally:
        await admin.close()
