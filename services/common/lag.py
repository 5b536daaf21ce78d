"""The consumer lag of the pipeline's groups, measured by the services themselves and exported as
`agentinstruct_consumer_lag{stage, topic}`, so that dashboards and alerts need no Kafka exporter.

Every `CONSUMER_LAG_INTERVAL_S` the monitor reads the end offset of every partition of each stage's input topic
and the stage group's committed offsets, and exports per stage the sum of `end - committed` (`end - log start`
for a partition the group never committed). This is the number KEDA scales on: records waiting plus records in
flight.

Every replica of every stage measures all four groups, and `stage` is the label of the stage measured, not of
the replica reporting: replicas report the same numbers, so aggregate with `max by (stage, topic)`, never `sum`.
A stage whose replicas are all down is still measured by the others, which is what lets "backlog but no
progress" alert. A failed measurement keeps the last values and is retried at the next tick.

It uses its own admin client and a group-less consumer, never a group's consumer, so it cannot disturb fetching,
commits or rebalances.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.common.metrics import ServiceMetrics
from services.common.settings import ServiceSettings, StageName

log = logging.getLogger(__name__)

MEASURE_TIMEOUT_S = 15.0


def stage_inputs(settings: ServiceSettings) -> dict[str, tuple[str, str]]:
    """stage -> (its consumer group, its input topic)."""
    topics: dict[StageName, str] = {
        "transformer": settings.seeds_topic,
        "suggester": settings.transformed_topic,
        "refiner": settings.instructions_topic,
        "validator": settings.candidates_topic,
    }
    return {stage: (settings.group_id(stage), topic) for stage, topic in topics.items()}


class LagMonitor:
    def __init__(
        self,
        bootstrap_servers: str,
        groups: Mapping[str, tuple[str, str]],
        metrics: ServiceMetrics,
        *,
        interval_s: float,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.groups = dict(groups)
        self.metrics = metrics
        self.interval_s = interval_s
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._failures = 0

    def start(self) -> None:
        if self.interval_s > 0 and self._task is None:
            self._task = asyncio.create_task(self._loop(), name="consumer-lag")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._close()

    async def _loop(self) -> None:
        while True:
            try:
                async with asyncio.timeout(MEASURE_TIMEOUT_S):
                    lags = await self.measure()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._failures += 1
                level = logging.WARNING if self._failures in (1, 10) or self._failures % 100 == 0 else logging.DEBUG
                log.log(level, "measuring the consumer lag failed: %r", exc)
                await self._close()
            else:
                self._failures = 0
                for stage, lag in lags.items():
                    _group, topic = self.groups[stage]
                    self.metrics.consumer_lag.labels(stage, topic).set(lag)
            await asyncio.sleep(self.interval_s)

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._admin is None:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap_servers, request_timeout_ms=10_000)
            await admin.start()
            self._admin = admin
        if self._consumer is None:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap_servers,
                enable_auto_commit=False,
                request_timeout_ms=10_000,
                client_id=f"agentinstruct-{self.metrics.stage}-lag",
            )
            await consumer.start()
            self._consumer = consumer
        return self._admin, self._consumer

    async def _close(self) -> None:
        admin, consumer = self._admin, self._consumer
        self._admin = self._consumer = None
        try:
            if consumer is not None:
                await consumer.stop()
            if admin is not None:
                await admin.close()
        except Exception:
            log.debug("closing the lag clients failed", exc_info=True)

    async def measure(self) -> dict[str, int]:
        """stage -> its group's lag now, for the stages whose input topic exists."""
        admin, consumer = await self._clients()
        topics = sorted({topic for _group, topic in self.groups.values()})
        partitions: dict[str, list[TopicPartition]] = {}
        for described in await admin.describe_topics(topics):
            if described.get("error_code") == 0 and described.get("partitions"):
                name = described["topic"]
                partitions[name] = [TopicPartition(name, p["partition"]) for p in described["partitions"]]
        everything = [tp for tps in partitions.values() for tp in tps]
        if not everything:
            return {}
        ends = await consumer.end_offsets(everything)
        starts: dict[TopicPartition, int] | None = None
        lags: dict[str, int] = {}
        for stage, (group, topic) in self.groups.items():
            if topic not in partitions:
                continue
            committed = await admin.list_consumer_group_offsets(group, partitions=partitions[topic])
            positions = {tp: meta.offset for tp, meta in committed.items() if meta.offset >= 0}
            if len(positions) < len(partitions[topic]):
                if starts is None:
                    starts = await consumer.beginning_offsets(everything)
                for tp in partitions[topic]:
                    positions.setdefault(tp, starts[tp])
            lags[stage] = int(sum(max(0, ends[tp] - positions[tp]) for tp in partitions[topic]))
        return lags
