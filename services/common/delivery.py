"""At-least-once delivery with many messages in flight per replica, never committing past an unfinished one.

How it works:

* The FastStream subscriber runs with `AckPolicy.MANUAL`, so FastStream never commits. Its handler does not
  process the message: it registers the offset with the partition's tracker (`tracker.py`), starts a processing
  task and returns at once, so the consume loop goes on fetching while earlier messages are still being worked on.
* Back-pressure: a task holds one of `MAX_IN_FLIGHT_MESSAGES` slots while it works. When that many messages are in
  flight, the handler pauses every assigned partition (no more fetches, nothing more delivered) and the last task
  to free enough slots resumes them. The consumer keeps polling while paused, so a long stall (the database
  down) never trips `max_poll_interval_ms`.
* A processing task decodes the record (poison goes to the dead-letter topic at once, with the reason), runs the
  stage, publishes every output and waits for the broker's acks, dead-letters the results whose LLM retries ran
  out, stores what the stage stores, and only then marks its offset finished.
* A committer commits, per partition, the offset just after the longest prefix of finished messages, every
  `COMMIT_INTERVAL_MS`, on partition revocation and on shutdown.
* Rebalance: on revoke, the safe offsets of the revoked partitions are committed and their trackers dropped;
  work of those partitions still in flight may finish (its outputs are idempotent) but can no longer move a
  commit. `CommitFailedError` is logged and tolerated: the new owner resumes from the last commit.
* Shutdown (SIGTERM): stop taking messages, wait up to `DRAIN_TIMEOUT_S` for in-flight work, cancel the rest,
  commit the finished prefixes. Unfinished work is redelivered to whichever member owns the partition next.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import traceback
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Generic, Protocol

from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from aiokafka.structs import OffsetAndMetadata
from pydantic import BaseModel

from agentinstruct.llm.errors import RETRYABLE, ErrorKind
from agentinstruct_schemas import DeadLetter, Rejection
from services.common.codec import PoisonError, dead_letter_payload, decode_input
from services.common.metrics import ServiceMetrics
from services.common.outbox import Outbox, PublishRejectedError
from services.common.settings import ServiceSettings
from services.common.stage import M, Outcome, Runtime, StageSpec, UnknownSkillError
from services.common.tracker import OffsetTracker, PartitionTracker

if TYPE_CHECKING:
    from aiokafka import AIOKafkaConsumer, ConsumerRecord

log = logging.getLogger(__name__)

TRANSIENT_LLM_REASONS: frozenset[str] = frozenset(f"llm.{kind.value}" for kind in RETRYABLE)
# Failures that say nothing about the item: transient errors whose retries ran out, and a refused API key (a
# deployment problem). Their items are dead-lettered with the input, for a replay, instead of being rejected.
DEAD_LETTER_LLM_REASONS: frozenset[str] = TRANSIENT_LLM_REASONS | {f"llm.{ErrorKind.AUTH.value}"}
COMMIT_TIMEOUT_S = 15.0


def transient_llm_reason(rejection: Rejection) -> str | None:
    """The `llm.<kind>` code when `rejection` is due to an LLM failure that says nothing about the item (retries
    of a transient error ran out, or the API key was refused), else None.

    Stages report such failures as the rejection's reason; the validator reports them inside the failed check
    (`judge` or `skill.error`) whose detail starts with the code.
    """
    if rejection.reason in DEAD_LETTER_LLM_REASONS:
        return rejection.reason
    for check in rejection.checks:
        if not check.passed:
            code = check.detail.split(":", 1)[0].strip()
            return code if code in DEAD_LETTER_LLM_REASONS else None
    return None


class HasConsumer(Protocol):
    consumer: AIOKafkaConsumer | None


class RebalanceListener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, delivery: Delivery[Any]) -> None:
        self._delivery = delivery

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._delivery.on_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._delivery.on_assigned(set(assigned))


class Delivery(Generic[M]):
    """The delivery engine of one stage service (one consumer, one group)."""

    def __init__(self, spec: StageSpec[M], settings: ServiceSettings, metrics: ServiceMetrics) -> None:
        self.spec = spec
        self.settings = settings
        self.metrics = metrics
        self.tracker = OffsetTracker()
        self.listener = RebalanceListener(self)
        self.max_in_flight = settings.max_in_flight_messages
        self._resume_below = max(1, self.max_in_flight - max(1, self.max_in_flight // 4))
        self._slots = asyncio.Semaphore(self.max_in_flight)
        self._tasks: set[asyncio.Task[None]] = set()
        self._active = 0
        self._paused = False
        self._accepting = False
        self._commit_lock = asyncio.Lock()
        self._committer: asyncio.Task[None] | None = None
        self._subscriber: HasConsumer | None = None
        self.runtime: Runtime | None = None
        self.outbox: Outbox | None = None
        self.dlq_topic = settings.dlq_topic(spec.name)

    # -- wiring -----------------------------------------------------------------------------------------------

    def attach(self, subscriber: HasConsumer) -> None:
        self._subscriber = subscriber

    @property
    def consumer(self) -> AIOKafkaConsumer | None:
        return None if self._subscriber is None else self._subscriber.consumer

    def start(self, runtime: Runtime, outbox: Outbox) -> None:
        self.runtime = runtime
        self.outbox = outbox
        self._accepting = True
        self._committer = asyncio.create_task(self._commit_loop(), name=f"{self.spec.name}-committer")

    @property
    def in_flight(self) -> int:
        return self._active

    def status(self) -> dict[str, Any]:
        return {
            "stage": self.spec.name,
            "accepting": self._accepting,
            "in_flight": self._active,
            "max_in_flight": self.max_in_flight,
            "paused": self._paused,
            "partitions": self.tracker.snapshot(),
        }

    # -- the handler ------------------------------------------------------------------------------------------

    async def handle(self, record: ConsumerRecord[Any, Any]) -> None:
        """Called by the FastStream subscriber for every record: register, start processing, return."""
        if not self._accepting:
            return  # draining: neither registered nor committed, so it is redelivered later
        tp = TopicPartition(record.topic, record.partition)
        if not self._is_current(tp, record.offset):
            log.info("dropping %s[%d]@%d fetched before a rebalance", record.topic, record.partition, record.offset)
            return  # the partition was reassigned since the fetch: it is delivered again from the commit
        tracker = self.tracker.register(tp, record.offset)
        self._active += 1
        self.metrics.in_flight.labels(self.spec.name).set(self._active)
        task = asyncio.create_task(self._run(record, tracker))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if self._active >= self.max_in_flight:
            self._pause()

    def _is_current(self, tp: TopicPartition, offset: int) -> bool:
        """Whether a record still belongs to the current assignment of its partition.

        The consume loop is sequential, so for a record fetched under the current assignment the partition's
        position is just past it. A rebalance between the fetch and this handler resets the position to the
        committed offset (or leaves it unknown); such a record is dropped, since registering it in the new
        tracker could let a commit skip the records before it.
        """
        consumer = self.consumer
        if consumer is None or tp not in consumer.assignment():
            return False
        try:
            state = consumer._subscription.subscription.assignment.state_value(tp)
            return bool(state.has_valid_position and state.position > offset)
        except (AttributeError, TypeError):
            return True

    def _pause(self) -> None:
        consumer = self.consumer
        if consumer is None:
            return
        consumer.pause(*consumer.assignment())
        if not self._paused:
            self._paused = True
            self.metrics.paused.labels(self.spec.name).set(1)

    def _maybe_resume(self) -> None:
        if not self._paused or not self._accepting or self._active > self._resume_below:
            return
        consumer = self.consumer
        if consumer is not None:
            consumer.resume(*consumer.assignment())
        self._paused = False
        self.metrics.paused.labels(self.spec.name).set(0)

    async def _run(self, record: ConsumerRecord[Any, Any], tracker: PartitionTracker) -> None:
        started = time.monotonic()
        try:
            async with self._slots:
                await self._process(record)
        except asyncio.CancelledError:
            log.info("cancelled %s[%d]@%d; it will be redelivered", record.topic, record.partition, record.offset)
            raise
        except Exception:
            self.metrics.messages.labels(self.spec.name, "failed").inc()
            log.exception(
                "message %s[%d]@%d could not be finished; its offset stays uncommitted and it will be redelivered",
                record.topic,
                record.partition,
                record.offset,
            )
        else:
            tracker.finish(record.offset)
            self.metrics.duration.labels(self.spec.name).observe(time.monotonic() - started)
        finally:
            self._active -= 1
            self.metrics.in_flight.labels(self.spec.name).set(self._active)
            self._maybe_resume()

    # -- processing one record -------------------------------------------------------------------------------

    async def _process(self, record: ConsumerRecord[Any, Any]) -> None:
        runtime, outbox = self.runtime, self.outbox
        assert runtime is not None and outbox is not None, "Delivery.start() was not called"
        try:
            item = decode_input(record.value, self.spec.input_model, max_bytes=self.settings.max_message_bytes)
        except PoisonError as poison:
            await self._dead_letter(record, reason=poison.reason, error_kind="poison", detail=poison.detail)
            self.metrics.messages.labels(self.spec.name, "poison").inc()
            return
        key = self.spec.key(item)
        item_id = str(getattr(item, "id", ""))
        try:
            outcome = await self.spec.run(item, runtime)
        except asyncio.CancelledError:
            raise
        except UnknownSkillError as exc:
            await self._dead_letter(
                record, reason="unknown_skill", error_kind="config", detail=str(exc), key=key, item_id=item_id
            )
            self.metrics.messages.labels(self.spec.name, "dead_lettered").inc()
            return
        except Exception as exc:
            detail = "".join(traceback.format_exception(exc, limit=8))[-4000:]
            await self._dead_letter(
                record,
                reason=f"internal.{type(exc).__name__}",
                error_kind="internal",
                detail=detail,
                key=key,
                item_id=item_id,
            )
            self.metrics.messages.labels(self.spec.name, "dead_lettered").inc()
            return
        try:
            await self._deliver(record, outcome, key=key, item_id=item_id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # Transient broker and database failures are retried inside; what comes out can never succeed.
            reason = "output.rejected_by_broker" if isinstance(exc, PublishRejectedError) else "store.failed"
            await self._dead_letter(
                record,
                reason=reason,
                error_kind="output",
                detail=f"{type(exc).__name__}: {exc}",
                key=key,
                item_id=item_id,
            )
            self.metrics.messages.labels(self.spec.name, "dead_lettered").inc()
            return
        self.metrics.messages.labels(self.spec.name, "processed").inc()

    async def _deliver(self, record: ConsumerRecord[Any, Any], outcome: Outcome, *, key: str, item_id: str) -> None:
        """Publish outputs and rejections, dead-letter exhausted LLM failures, store pairs; all acknowledged."""
        runtime, outbox = self.runtime, self.outbox
        assert runtime is not None and outbox is not None
        settings = self.settings
        exhausted: list[tuple[Rejection, str]] = []
        rejected: list[Rejection] = []
        for rejection in outcome.rejections:
            code = transient_llm_reason(rejection)
            if code is None:
                rejected.append(rejection)
            else:
                exhausted.append((rejection, code))
        published = [str(getattr(o.message, "id", "")) for o in outcome.outputs]
        sends = [
            outbox.send(o.topic, o.message, key=key, headers={"x-agentinstruct-id": published[i]})
            for i, o in enumerate(outcome.outputs)
        ]
        sends += [
            outbox.send(settings.rejected_topic, r, key=key, headers={"x-agentinstruct-id": r.id}, kind="rejected")
            for r in rejected
        ]
        sends += [
            self._dead_letter(
                record,
                reason=code,
                error_kind="llm_exhausted",
                detail=r.detail,
                key=key,
                item_id=item_id,
                attempts=int(r.item.get("attempts", 1)) if isinstance(r.item.get("attempts"), int) else 1,
                partial={"rejection": r.model_dump(mode="json"), "rejection_id": r.id, "published": published},
            )
            for r, code in exhausted
        ]
        # Every send finishes (acknowledged, or refused for good) before the first refusal is raised.
        for result in await asyncio.gather(*sends, return_exceptions=True):
            if isinstance(result, BaseException):
                raise result
        for rejection in rejected:
            self.metrics.on_rejected(rejection)
        if self.spec.stores_results:
            store = runtime.require_store()
            for pair in outcome.pairs:
                if await store.put_pair(pair):
                    self.metrics.on_pair_stored(pair)
            for rejection in rejected:
                await store.put_rejection(rejection)

    async def _dead_letter(
        self,
        record: ConsumerRecord[Any, Any],
        *,
        reason: str,
        error_kind: str,
        detail: str = "",
        key: str | bytes | None = None,
        item_id: str = "",
        attempts: int = 1,
        partial: Mapping[str, Any] | None = None,
    ) -> None:
        assert self.outbox is not None
        payload, encoding, notes = dead_letter_payload(record.value)
        extra: dict[str, Any] = {
            **notes,
            "source": {"topic": record.topic, "partition": record.partition, "offset": record.offset},
        }
        if item_id:
            extra["input_id"] = item_id
        letter = DeadLetter(
            stage=self.spec.name,
            source_topic=record.topic,
            reason=reason,
            error_kind=error_kind,
            detail=detail[:8000],
            payload=payload,
            payload_encoding=encoding,
            attempts=attempts,
            partial={**extra, **(partial or {})},
        )
        body: BaseModel | bytes = letter
        if len(letter.model_dump_json()) > self.settings.max_message_bytes:
            trimmed = letter.model_copy(update={"partial": {**extra, "partial_dropped": "too large"}})
            body = trimmed
        dlq_key = key if key is not None else record.key
        log.warning(
            "dead-lettering %s[%d]@%d: %s (%s)", record.topic, record.partition, record.offset, reason, detail[:200]
        )
        self.metrics.on_dead_letter(reason)
        await self.outbox.send(
            self.dlq_topic, body, key=dlq_key, headers={"x-agentinstruct-reason": reason}, kind="dead_letter"
        )

    # -- commits -------------------------------------------------------------------------------------------------

    async def _commit_loop(self) -> None:
        interval = self.settings.commit_interval_ms / 1000.0
        while True:
            await asyncio.sleep(interval)
            try:
                await self.commit()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("periodic commit failed")

    async def commit(self, partitions: set[TopicPartition] | None = None) -> dict[TopicPartition, int]:
        """Commit the safe offset of every (chosen) partition that moved; returns what was committed."""
        consumer = self.consumer
        if consumer is None:
            return {}
        async with self._commit_lock:
            offsets = self.tracker.to_commit(partitions)
            assigned = consumer.assignment()
            offsets = {tp: offset for tp, offset in offsets.items() if tp in assigned}
            if not offsets:
                return {}
            try:
                async with asyncio.timeout(COMMIT_TIMEOUT_S):
                    await consumer.commit({tp: OffsetAndMetadata(offset, "") for tp, offset in offsets.items()})
            except (CommitFailedError, IllegalStateError) as exc:
                self.metrics.commits.labels(self.spec.name, "rejected").inc()
                log.warning("commit of %s refused (%s); the group has moved on", _fmt(offsets), exc)
                return {}
            except (KafkaError, TimeoutError) as exc:
                self.metrics.commits.labels(self.spec.name, "error").inc()
                log.warning("commit of %s failed (%r); will retry", _fmt(offsets), exc)
                return {}
            self.tracker.committed(offsets)
            self.metrics.commits.labels(self.spec.name, "ok").inc()
            log.debug("committed %s", _fmt(offsets))
            return offsets

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        try:
            await self.commit(revoked)
        finally:
            self.tracker.forget(revoked)
        if revoked:
            log.info("partitions revoked: %s", ", ".join(sorted(f"{tp.topic}[{tp.partition}]" for tp in revoked)))

    def on_assigned(self, assigned: set[TopicPartition]) -> None:
        self.tracker.forget(self.tracker.partitions - assigned)
        consumer = self.consumer
        if consumer is not None and assigned and (self._paused or not self._accepting):
            consumer.pause(*assigned)

    # -- shutdown ----------------------------------------------------------------------------------------------

    async def drain(self, timeout_s: float | None = None) -> None:
        """Stop taking messages, let in-flight work finish (up to the timeout), commit what finished."""
        timeout_s = self.settings.drain_timeout_s if timeout_s is None else timeout_s
        self._accepting = False
        consumer = self.consumer
        if consumer is not None:
            with contextlib.suppress(Exception):
                consumer.pause(*consumer.assignment())
        pending = set(self._tasks)
        if pending:
            log.info("draining %d in-flight message(s) for up to %.0f s", len(pending), timeout_s)
            _done, pending = await asyncio.wait(pending, timeout=timeout_s)
        for task in pending:
            task.cancel()
        if pending:
            log.warning("%d message(s) unfinished at shutdown; they will be redelivered", len(pending))
            await asyncio.gather(*pending, return_exceptions=True)
        if self._committer is not None:
            self._committer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._committer
            self._committer = None
        committed = await self.commit()
        if committed:
            log.info("final commit: %s", _fmt(committed))


def _fmt(offsets: Mapping[TopicPartition, int]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]={offset}" for tp, offset in sorted(offsets.items()))
