"""Streaming documents into the `seeds` topic: files, folders, JSONL or stdin -> seeds, each published once.

The seed registry in MongoDB makes re-ingesting a no-op: seeds already registered are skipped. A seed is
registered only after the broker has acknowledged it, so a crash in between publishes it again on the next run
(harmless: every stage is idempotent) and never loses it.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer

from agentinstruct.store import MongoPairStore, SeedRegistry
from agentinstruct_schemas import Seed
from services.common.outbox import Outbox
from services.common.settings import ServiceSettings
from services.common.topics import ensure_topics

BATCH_SIZE = 200


@dataclass(slots=True)
class IngestCounts:
    seeds: int = 0
    published: int = 0
    already_ingested: int = 0
    inputs_skipped: Counter[str] = field(default_factory=Counter)

    @property
    def skipped(self) -> int:
        return sum(self.inputs_skipped.values())


class _ProducerPublisher:
    """The `Publisher` shape over a plain aiokafka producer (ingest runs outside any FastStream app)."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer

    async def publish(
        self, message: Any, /, topic: str = "", *, key: bytes | Any | None = None, headers: dict[str, str] | None = None
    ) -> Any:
        encoded = [(name, value.encode()) for name, value in (headers or {}).items()]
        return await self._producer.send_and_wait(topic, message, key=key, headers=encoded)


def _take(iterator: Iterator[Any], n: int) -> list[Any]:
    batch = []
    for event in iterator:
        batch.append(event)
        if len(batch) >= n:
            break
    return batch


async def ingest_to_kafka(
    paths: Sequence[str],
    settings: ServiceSettings,
    progress: Callable[[IngestCounts], None] | None = None,
    *,
    max_chars: int = 6000,
    registry: SeedRegistry | None = None,
    events: Iterable[Any] | None = None,
) -> IngestCounts:
    """Publish every new seed of `paths` to the seeds topic (key = seed id); returns the counts.

    `events` replaces reading `paths` (anything yielding `Seed`s and skipped-input records with a `reason`).
    """
    if events is None:
        from agentinstruct.ingest import ingest

        events = ingest(list(paths), max_chars=max_chars)
    counts = IngestCounts()
    await ensure_topics(settings, [settings.seeds_topic])
    own_store: MongoPairStore | None = None
    if registry is None:
        own_store = MongoPairStore(
            settings.mongodb_uri.get_secret_value(),
            settings.mongodb_db,
            server_selection_timeout_ms=settings.mongodb_timeout_ms,
            retry_deadline_s=300.0,
        )
        registry = own_store
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id="agentinstruct-ingest",
        enable_idempotence=True,
        acks="all",
        linger_ms=settings.producer_linger_ms,
        request_timeout_ms=settings.producer_request_timeout_ms,
        max_request_size=max(1_048_576, 2 * settings.max_message_bytes),
    )
    await producer.start()
    outbox = Outbox(_ProducerPublisher(producer), stage="ingest")
    try:
        iterator = iter(events)
        while True:
            batch = await asyncio.to_thread(_take, iterator, BATCH_SIZE)
            if not batch:
                break
            seeds: dict[str, Seed] = {}
            for event in batch:
                if isinstance(event, Seed):
                    counts.seeds += 1
                    seeds.setdefault(event.id, event)
                else:
                    counts.inputs_skipped[str(getattr(event, "reason", "skipped")).split(" (")[0]] += 1
            await _publish_new(seeds, settings, registry, outbox, counts)
            if progress is not None:
                progress(counts)
    finally:
        await producer.stop()
        if own_store is not None:
            await own_store.aclose()
    return counts


async def _publish_new(
    seeds: dict[str, Seed], settings: ServiceSettings, registry: SeedRegistry, outbox: Outbox, counts: IngestCounts
) -> None:
    if not seeds:
        return
    known = await registry.known_seeds(seeds)
    new = [seed for seed_id, seed in seeds.items() if seed_id not in known]
    counts.already_ingested += len(seeds) - len(new)
    await asyncio.gather(
        *(outbox.send(settings.seeds_topic, seed, key=seed.id, headers={"x-agentinstruct-id": seed.id}) for seed in new)
    )
    await registry.register_seeds(
        {
            seed.id: {
                "uri": seed.source.uri,
                "chunk_index": seed.source.chunk_index,
                "chunk_count": seed.source.chunk_count,
                "document_id": seed.source.document_id,
            }
            for seed in new
        }
    )
    counts.published += len(new)
