"""What the `agentinstruct` commands of the distributed mode need from the services side.

Settings from the environment with one-line errors, reachability checks that name the address (never a secret),
ingest with document counts, and the figures of `agentinstruct stats`: counts from MongoDB (queries inside the
FerretDB v1 subset: `$group` with one `$sum`) and record counts and lags from Kafka offsets (no record is read
unless `scan` is asked for).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from pydantic import ValidationError
from pymongo.errors import ConnectionFailure, OperationFailure

from agentinstruct.ingest import IngestStats, Skipped, ingest
from agentinstruct.store import MongoPairStore, StoreUnavailableError
from services.common.ingest import IngestCounts, ingest_to_kafka
from services.common.settings import STAGES, ServiceSettings, StageName

HINT = "(is `agentinstruct dev up` running?)"
KAFKA_TIMEOUT_S = 10.0
REJECTION_STAGE_OF: dict[str, StageName] = {
    "transform": "transformer",
    "suggest": "suggester",
    "refine": "refiner",
    "validate": "validator",
}


class CommandError(Exception):
    """A failure the user can act on; its message is the one line the command prints."""


# -- settings and reachability ---------------------------------------------------------------------------------


def load_settings() -> ServiceSettings:
    try:
        return ServiceSettings()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]).upper() or "(settings)"
        raise CommandError(f"invalid configuration: {where}: {first['msg']}") from None


def mongo_address(uri: str) -> str:
    """The host list of a MongoDB URI, without credentials, options or database."""
    rest = uri.split("://", 1)[-1]
    rest = rest.rsplit("@", 1)[-1] if "@" in rest.split("/", 1)[0] else rest
    return re.split(r"[/?]", rest, maxsplit=1)[0] or "(no host)"


def mongo_store(settings: ServiceSettings, *, retry_deadline_s: float | None = 0.0) -> MongoPairStore:
    return MongoPairStore(
        settings.mongodb_uri.get_secret_value(),
        settings.mongodb_db,
        server_selection_timeout_ms=settings.mongodb_timeout_ms,
        retry_deadline_s=retry_deadline_s,
    )


async def check_mongo(settings: ServiceSettings) -> None:
    """Raise `CommandError` unless the database answers a ping within `MONGODB_TIMEOUT_MS`."""
    address = mongo_address(settings.mongodb_uri.get_secret_value())
    try:
        store = mongo_store(settings)
    except Exception as exc:
        raise CommandError(f"invalid MONGODB_URI for {address}: {type(exc).__name__}") from None
    try:
        await store.db.command("ping")
    except ConnectionFailure:
        raise CommandError(f"cannot reach MongoDB at {address} {HINT}") from None
    except OperationFailure as exc:
        raise CommandError(f"MongoDB at {address} refused the request: {exc.details or exc.code}") from None
    finally:
        await store.aclose()


async def check_kafka(settings: ServiceSettings, timeout_s: float = KAFKA_TIMEOUT_S) -> None:
    """Raise `CommandError` unless the broker answers within `timeout_s`."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers, request_timeout_ms=int(timeout_s * 1000)
    )
    try:
        async with asyncio.timeout(timeout_s):
            await admin.start()
    except (KafkaError, TimeoutError, OSError):
        raise CommandError(f"cannot reach Kafka at {settings.kafka_bootstrap_servers} {HINT}") from None
    finally:
        with contextlib.suppress(Exception):
            await admin.close()


# -- ingest ------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class IngestRun:
    """Counts of an ingest: documents and skipped inputs (by kind) from reading, seeds from the publisher."""

    reading: IngestStats = field(default_factory=IngestStats)
    publishing: IngestCounts = field(default_factory=IngestCounts)
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def duplicates(self) -> int:
        """Seeds that appeared more than once in this input (the same chunk in two files, say)."""
        p = self.publishing
        return max(0, p.seeds - p.published - p.already_ingested)

    def as_dict(self) -> dict[str, Any]:
        p = self.publishing
        return {
            "documents": self.reading.documents,
            "seeds": p.seeds,
            "published": p.published,
            "already_ingested": p.already_ingested,
            "duplicates_in_input": self.duplicates,
            "inputs_skipped": dict(sorted(self.reading.skipped.items())),
        }


async def run_ingest(
    paths: Sequence[str],
    settings: ServiceSettings,
    *,
    max_chars: int,
    progress: Callable[[IngestRun], None] | None = None,
) -> IngestRun:
    """Check the broker and the database, then publish every new seed of `paths` (`ingest_to_kafka`)."""
    await check_kafka(settings)
    await check_mongo(settings)
    run = IngestRun()

    def events() -> Iterator[Any]:
        for event in ingest(list(paths), max_chars=max_chars, stats=run.reading):
            if isinstance(event, Skipped):
                run.skipped.append(event)
            yield event

    def on_progress(counts: IngestCounts) -> None:
        run.publishing = counts
        if progress is not None:
            progress(run)

    try:
        run.publishing = await ingest_to_kafka(paths, settings, on_progress, max_chars=max_chars, events=events())
    except StoreUnavailableError:
        address = mongo_address(settings.mongodb_uri.get_secret_value())
        raise CommandError(f"lost MongoDB at {address} during ingest {HINT}") from None
    return run


# -- stats -------------------------------------------------------------------------------------------------------


def stage_inputs(settings: ServiceSettings) -> dict[StageName, str]:
    return {
        "transformer": settings.seeds_topic,
        "suggester": settings.transformed_topic,
        "refiner": settings.instructions_topic,
        "validator": settings.candidates_topic,
    }


def stage_outputs(settings: ServiceSettings) -> dict[StageName, str | None]:
    return {
        "transformer": settings.transformed_topic,
        "suggester": settings.instructions_topic,
        "refiner": settings.candidates_topic,
        "validator": None,
    }


async def mongo_stats(settings: ServiceSettings) -> dict[str, Any]:
    """Seeds, pairs by skill, stored rejections by stage and by reason (each a `$group` with one `$sum`)."""
    await check_mongo(settings)
    store = mongo_store(settings, retry_deadline_s=max(1.0, settings.mongodb_timeout_ms / 1000))
    try:
        by_skill = await store.count_by("pairs", "skill")
        rejected_by_stage = await store.count_by("rejected", "stage")
        rejected_by_reason = await store.count_by("rejected", "reason")
        seeds = await store.count("seeds")
    finally:
        await store.aclose()
    return {
        "seeds_ingested": seeds,
        "pairs": {"total": sum(by_skill.values()), "by_skill": _sorted(by_skill)},
        "rejections": {
            "total": sum(rejected_by_stage.values()),
            "by_stage": _sorted(rejected_by_stage),
            "by_reason": _sorted(rejected_by_reason),
            "source": "MongoDB `rejected` (the validator stores its rejections; the other stages publish theirs "
            "to the rejected topic only: see `--scan-topics`)",
        },
    }


def _sorted(counts: dict[str, int]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


async def _partitions(admin: AIOKafkaAdminClient, topics: Sequence[str]) -> dict[str, list[TopicPartition]]:
    """The partitions of those `topics` that exist. Only existing topics are described: a metadata request
    naming a missing topic creates it on a broker with `auto.create.topics.enable` (with the broker's default
    partition count, before the services could create it with `TOPIC_PARTITIONS`)."""
    existing = set(await admin.list_topics())
    wanted = [topic for topic in topics if topic in existing]
    if not wanted:
        return {}
    described = await admin.describe_topics(wanted)
    return {
        t["topic"]: [TopicPartition(t["topic"], p["partition"]) for p in t["partitions"]]
        for t in described
        if t.get("error_code") == 0
    }


async def _offsets(
    settings: ServiceSettings, partitions: list[TopicPartition]
) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
    if not partitions:
        return {}, {}
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_auto_commit=False,
        request_timeout_ms=int(KAFKA_TIMEOUT_S * 1000),
    )
    await consumer.start()
    await asyncio.sleep(0)
    try:
        begin = await consumer.beginning_offsets(partitions)
        end = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    return dict(begin), dict(end)


async def kafka_stats(settings: ServiceSettings) -> dict[str, Any]:
    """Records per topic (end minus beginning offsets), per-stage lag of its group, dead letters per stage."""
    await check_kafka(settings)
    topics = settings.all_topics()
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers, request_timeout_ms=int(KAFKA_TIMEOUT_S * 1000)
    )
    await admin.start()
    try:
        partitions = await _partitions(admin, topics)
        begin, end = await _offsets(settings, [tp for tps in partitions.values() for tp in tps])
        committed: dict[StageName, dict[TopicPartition, int]] = {}
        for stage in STAGES:
            offsets = await admin.list_consumer_group_offsets(settings.group_id(stage))
            committed[stage] = {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
    finally:
        await admin.close()

    def records(topic: str | None) -> int | None:
        if topic is None or topic not in partitions:
            return None
        return sum(end[tp] - begin[tp] for tp in partitions[topic])

    stages: dict[str, Any] = {}
    outputs = stage_outputs(settings)
    for stage, topic in stage_inputs(settings).items():
        lag = None
        if topic in partitions:
            lag = sum(max(0, end[tp] - max(committed[stage].get(tp, begin[tp]), begin[tp])) for tp in partitions[topic])
        stages[stage] = {
            "input_topic": topic,
            "input_records": records(topic),
            "lag": lag,
            "output_records": records(outputs[stage]),
            "dead_letters": records(settings.dlq_topic(stage)) or 0,
        }
    dead = {stage: stages[stage]["dead_letters"] for stage in STAGES}
    return {
        "stages": stages,
        "dead_letters": {
            "total": sum(dead.values()),
            "by_stage": dead,
            "source": "records on the dead-letter topics (Kafka offsets)",
        },
        "rejected_topic_records": records(settings.rejected_topic) or 0,
        "topics": {topic: records(topic) for topic in topics},
    }


async def _read_all(settings: ServiceSettings, topic: str, on_value: Callable[[bytes, int, int], None]) -> bool:
    """Every record of `topic` now on the broker; returns False when reading stalled before the end."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        partitions = (await _partitions(admin, [topic])).get(topic, [])
    finally:
        await admin.close()
    begin, end = await _offsets(settings, partitions)
    wanted = {tp: end[tp] for tp in partitions if end[tp] > begin[tp]}
    if not wanted:
        return True
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_auto_commit=False,
        max_partition_fetch_bytes=max(1_048_576, 2 * settings.max_message_bytes),
    )
    await consumer.start()
    try:
        consumer.assign(list(wanted))
        await consumer.seek_to_beginning(*wanted)
        loop = asyncio.get_running_loop()
        last_progress = loop.time()
        while wanted:
            batch = await consumer.getmany(timeout_ms=1000)
            for items in batch.values():
                for record in items:
                    if record.value is not None:
                        on_value(record.value, record.partition, record.offset)
                if items:
                    last_progress = loop.time()
            for tp in list(wanted):
                if await consumer.position(tp) >= wanted[tp]:
                    del wanted[tp]
            if loop.time() - last_progress > 30:
                return False
    finally:
        await consumer.stop()
    return True


async def scan_topics(settings: ServiceSettings) -> dict[str, Any]:
    """Rejections of every stage (rejected topic, deduplicated by id) and dead letters by stage and reason.

    Reads the whole topics: the cost grows with their size, so it is asked for explicitly (`--scan-topics`).
    """
    seen: set[str] = set()
    by_stage: Counter[str] = Counter()
    by_reason: Counter[str] = Counter()
    undecodable = 0

    def on_rejection(value: bytes, _partition: int, _offset: int) -> None:
        nonlocal undecodable
        try:
            data = json.loads(value)
            rid, stage, reason = str(data["id"]), str(data["stage"]), str(data["reason"])
        except (ValueError, KeyError, TypeError):
            undecodable += 1
            return
        if rid in seen:
            return
        seen.add(rid)
        by_stage[REJECTION_STAGE_OF.get(stage, stage)] += 1
        by_reason[reason] += 1

    complete = await _read_all(settings, settings.rejected_topic, on_rejection)
    letters: dict[str, Any] = {}
    for stage in STAGES:
        sources: set[tuple[str, int, int, str]] = set()
        reasons: Counter[str] = Counter()

        def on_letter(
            value: bytes, partition: int, offset: int, sources: Any = sources, reasons: Any = reasons
        ) -> None:
            try:
                data = json.loads(value)
                source = data.get("partial", {}).get("source", {})
                key = (str(source.get("topic")), int(source.get("partition", -1)), int(source.get("offset", -1)))
                reason = str(data["reason"])
            except (ValueError, KeyError, TypeError, AttributeError):
                key, reason = ("?", partition, offset), "undecodable"
            if (*key, reason) in sources:
                return
            sources.add((*key, reason))
            reasons[reason] += 1

        complete = await _read_all(settings, settings.dlq_topic(stage), on_letter) and complete
        letters[stage] = {"total": sum(reasons.values()), "by_reason": _sorted(dict(reasons))}
    return {
        "complete": complete,
        "rejections": {
            "total": len(seen),
            "by_stage": {stage: by_stage.get(stage, 0) for stage in STAGES},
            "by_reason": _sorted(dict(by_reason)),
            "undecodable_records": undecodable,
            "source": "the rejected topic, deduplicated by rejection id",
        },
        "dead_letters": {
            "by_stage": letters,
            "source": "the dead-letter topics, deduplicated by source record and reason",
        },
    }


async def collect_stats(settings: ServiceSettings, *, kafka: bool = True, scan: bool = False) -> dict[str, Any]:
    """The document `agentinstruct stats --json` prints."""
    stats: dict[str, Any] = {
        "database": settings.mongodb_db,
        "mongodb": mongo_address(settings.mongodb_uri.get_secret_value()),
        "kafka": settings.kafka_bootstrap_servers if kafka else None,
        "topic_namespace": settings.topic_namespace,
    }
    stats.update(await mongo_stats(settings))
    if kafka:
        stats.update(await kafka_stats(settings))
        stats["stages"]["validator"]["pairs_stored"] = stats["pairs"]["total"]
        stats["stages"]["validator"]["rejections_stored"] = stats["rejections"]["total"]
        if scan:
            stats["scan"] = await scan_topics(settings)
    return stats
