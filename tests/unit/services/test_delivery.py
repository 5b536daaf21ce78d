"""The delivery engine with a fake consumer and outbox: commits, back-pressure, rebalances, routing, drain."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import CommitFailedError
from aiokafka.structs import ConsumerRecord
from prometheus_client import CollectorRegistry

from agentinstruct.skills.base import StageContext
from agentinstruct.testing.fake_llm import FakeLLM
from agentinstruct_schemas import CheckResult, Lineage, Rejection, Seed, SeedSource, Transformed
from services.common.delivery import Delivery, transient_llm_reason
from services.common.metrics import ServiceMetrics
from services.common.settings import ServiceSettings
from services.common.stage import Outcome, Output, Runtime, StageSpec

TOPIC = "in"
TP0 = TopicPartition(TOPIC, 0)
TP1 = TopicPartition(TOPIC, 1)
LINEAGE = Lineage(seed_id="s", source=SeedSource(uri="u"), skill="rc", split="x")


class FakeConsumer:
    def __init__(self, assigned: set[TopicPartition]) -> None:
        self.assigned = set(assigned)
        self.paused: set[TopicPartition] = set()
        self.commits: list[dict[TopicPartition, int]] = []
        self.fail_commits: Exception | None = None

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)

    def pause(self, *partitions: TopicPartition) -> None:
        self.paused |= set(partitions)

    def resume(self, *partitions: TopicPartition) -> None:
        self.paused -= set(partitions)

    async def commit(self, offsets: dict[TopicPartition, Any]) -> None:
        if self.fail_commits is not None:
            raise self.fail_commits
        self.commits.append({tp: meta.offset for tp, meta in offsets.items()})


@dataclass
class FakeSubscriber:
    consumer: Any


@dataclass
class FakeOutbox:
    sent: list[tuple[str, Any, Any, str]] = field(default_factory=list)

    async def send(self, topic: str, message: Any, *, key: Any, headers: Any = None, kind: str = "output") -> None:
        await asyncio.sleep(0)
        self.sent.append((topic, message, key, kind))


class Gate:
    """Lets each test decide when the processing of each seed finishes (or what it returns)."""

    def __init__(self) -> None:
        self.events: dict[str, asyncio.Event] = {}
        self.outcomes: dict[str, Outcome | Exception] = {}

    def event(self, seed_id: str) -> asyncio.Event:
        return self.events.setdefault(seed_id, asyncio.Event())

    async def run(self, seed: Seed, runtime: Runtime) -> Outcome:
        await self.event(seed.id).wait()
        outcome = self.outcomes.get(seed.id, Outcome())
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def record(partition: int, offset: int, seed_id: str | None = None, value: bytes | None = None) -> ConsumerRecord:
    if value is None:
        value = Seed(id=seed_id or f"s{offset}", text="t", source=SeedSource(uri="u")).model_dump_json().encode()
    return ConsumerRecord(TOPIC, partition, offset, 0, 0, b"k", value, None, 1, len(value), [])


@pytest.fixture
def gate() -> Gate:
    return Gate()


def make(gate: Gate, **settings: Any) -> tuple[Delivery[Seed], FakeConsumer, FakeOutbox]:
    spec: StageSpec[Seed] = StageSpec(
        name="transformer",
        description="test",
        input_model=Seed,
        input_topic=lambda s: TOPIC,
        run=gate.run,
        key=lambda seed: seed.id,
    )
    config = ServiceSettings(commit_interval_ms=10_000, **settings)
    delivery = Delivery(spec, config, ServiceMetrics(CollectorRegistry(), "transformer"))
    consumer = FakeConsumer({TP0, TP1})
    delivery.attach(FakeSubscriber(consumer))
    outbox = FakeOutbox()
    runtime = Runtime(settings=config, ctx=StageContext(llm=FakeLLM()), skills=[])
    delivery.start(runtime, outbox)  # type: ignore[arg-type]
    return delivery, consumer, outbox


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_commits_the_prefix_of_finished_messages_per_partition(gate: Gate) -> None:
    delivery, consumer, _ = make(gate)
    for offset in range(3):
        await delivery.handle(record(0, offset))
    await delivery.handle(record(1, 7))
    gate.event("s1").set()
    gate.event("s2").set()
    gate.event("s7").set()
    await settle()
    assert await delivery.commit() == {TP1: 8}, "partition 0 waits for offset 0"
    gate.event("s0").set()
    await settle()
    assert await delivery.commit() == {TP0: 3}
    assert await delivery.commit() == {}
    assert consumer.commits == [{TP1: 8}, {TP0: 3}]
    await delivery.drain(0)


async def test_back_pressure_pauses_fetching_when_full_and_resumes(gate: Gate) -> None:
    delivery, consumer, _ = make(gate, max_in_flight_messages=2)
    await delivery.handle(record(0, 0))
    assert not consumer.paused
    await delivery.handle(record(0, 1))
    assert consumer.paused == {TP0, TP1}
    gate.event("s0").set()
    await settle()
    assert not consumer.paused, "one slot free again"
    gate.event("s1").set()
    await settle()
    assert delivery.in_flight == 0
    await delivery.drain(0)


async def test_revoked_partitions_commit_what_is_safe_and_forget_the_rest(gate: Gate) -> None:
    delivery, consumer, _ = make(gate)
    await delivery.handle(record(0, 0))
    await delivery.handle(record(0, 1))
    gate.event("s0").set()
    await settle()
    await delivery.on_revoked({TP0})
    assert consumer.commits == [{TP0: 1}]
    consumer.assigned = {TP1}
    delivery.on_assigned({TP1})
    gate.event("s1").set()  # finishes after the partition moved to another member
    await settle()
    assert await delivery.commit() == {}
    assert consumer.commits == [{TP0: 1}]
    await delivery.drain(0)


async def test_records_fetched_before_a_rebalance_are_dropped(gate: Gate) -> None:
    delivery, consumer, _ = make(gate)
    consumer.assigned = {TP1}
    await delivery.handle(record(0, 5))
    assert delivery.in_flight == 0
    await delivery.drain(0)


async def test_commit_failures_are_tolerated(gate: Gate) -> None:
    delivery, consumer, _ = make(gate)
    await delivery.handle(record(0, 0))
    gate.event("s0").set()
    await settle()
    consumer.fail_commits = CommitFailedError("rebalanced")
    assert await delivery.commit() == {}
    consumer.fail_commits = None
    assert await delivery.commit() == {TP0: 1}
    await delivery.drain(0)


async def test_drain_commits_finished_work_and_abandons_the_rest(gate: Gate) -> None:
    delivery, consumer, _ = make(gate)
    await delivery.handle(record(0, 0))
    await delivery.handle(record(0, 1))
    await delivery.handle(record(1, 0, "other"))
    gate.event("s0").set()
    await settle()
    await delivery.drain(0.05)
    assert consumer.commits == [{TP0: 1}]
    await delivery.handle(record(1, 1))
    assert delivery.in_flight == 0, "nothing is taken after the drain started"


def dead_letters(outbox: FakeOutbox) -> list[dict[str, Any]]:
    return [json.loads(m.model_dump_json()) for topic, m, _k, kind in outbox.sent if kind == "dead_letter"]


async def test_poison_is_dead_lettered_at_once_and_committed(gate: Gate) -> None:
    delivery, _consumer, outbox = make(gate)
    await delivery.handle(record(0, 0, value=b"{not json"))
    await settle()
    letters = dead_letters(outbox)
    assert [(d["reason"], d["stage"], d["source_topic"]) for d in letters] == [
        ("poison.not_json", "transformer", TOPIC)
    ]
    assert outbox.sent[0][0] == "agentinstruct.dlq.transformer"
    assert await delivery.commit() == {TP0: 1}
    await delivery.drain(0)


def rejection(reason: str, checks: list[CheckResult] | None = None) -> Rejection:
    return Rejection(
        id=f"r-{reason}", stage="transform", reason=reason, skill="rc", lineage=LINEAGE, checks=checks or []
    )


async def test_outcomes_are_routed(gate: Gate) -> None:
    delivery, _consumer, outbox = make(gate)
    out = Transformed(id="t1", lineage=LINEAGE, content="c")
    gate.outcomes["s0"] = Outcome(
        outputs=[Output("agentinstruct.transformed", out)],
        rejections=[rejection("llm.timeout"), rejection("agent.unusable_output")],
    )
    gate.event("s0").set()
    await delivery.handle(record(0, 0))
    await settle()
    kinds = sorted((topic, kind) for topic, _m, _k, kind in outbox.sent)
    assert kinds == [
        ("agentinstruct.dlq.transformer", "dead_letter"),
        ("agentinstruct.rejected", "rejected"),
        ("agentinstruct.transformed", "output"),
    ]
    assert all(key == "s0" for _t, _m, key, _kind in outbox.sent)
    letter = dead_letters(outbox)[0]
    assert letter["reason"] == "llm.timeout" and letter["error_kind"] == "llm_exhausted"
    assert letter["partial"]["rejection_id"] == "r-llm.timeout"
    assert letter["partial"]["published"] == ["t1"]
    assert letter["partial"]["input_id"] == "s0"
    await delivery.drain(0)


async def test_an_unexpected_stage_error_is_dead_lettered_not_lost(gate: Gate) -> None:
    delivery, _consumer, outbox = make(gate)
    gate.outcomes["s0"] = ZeroDivisionError("boom")
    gate.event("s0").set()
    await delivery.handle(record(0, 0))
    await settle()
    letter = dead_letters(outbox)[0]
    assert letter["reason"] == "internal.ZeroDivisionError" and "boom" in letter["detail"]
    assert await delivery.commit() == {TP0: 1}
    await delivery.drain(0)


def test_transient_llm_reason() -> None:
    assert transient_llm_reason(rejection("llm.rate_limit")) == "llm.rate_limit"
    assert transient_llm_reason(rejection("llm.auth")) == "llm.auth"
    assert transient_llm_reason(rejection("llm.context_length")) is None
    assert transient_llm_reason(rejection("agent.unusable_output")) is None
    judge_failed = [
        CheckResult(name="structure.ok", passed=True),
        CheckResult(name="judge", passed=False, detail="llm.server: InternalServerError (500)"),
    ]
    assert transient_llm_reason(rejection("judge", judge_failed)) == "llm.server"
    low_score = [CheckResult(name="judge", passed=False, detail="score 1 < 3.0: weak")]
    assert transient_llm_reason(rejection("judge", low_score)) is None
