"""Creation of the pipeline's topics with the configured partition count (idempotent)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code

from services.common.settings import ServiceSettings

log = logging.getLogger(__name__)


async def ensure_topics(
    settings: ServiceSettings, names: Iterable[str] | None = None, *, deadline_s: float = 120.0
) -> list[str]:
    """Create the topics that do not exist yet (all of the pipeline's by default); returns those created.

    Existing topics are left as they are. The broker may still be starting: connection failures are retried
    until `deadline_s`.
    """
    wanted = list(dict.fromkeys(names if names is not None else settings.all_topics()))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + deadline_s
    delay = 0.5
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers, request_timeout_ms=15_000)
        try:
            await admin.start()
            try:
                return await _create_missing(admin, wanted, settings)
            finally:
                await admin.close()
        except KafkaError as exc:
            if loop.time() >= deadline:
                raise
            log.warning("creating topics failed (%r); retrying in %.1f s", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def _create_missing(admin: AIOKafkaAdminClient, wanted: list[str], settings: ServiceSettings) -> list[str]:
    existing = set(await admin.list_topics())
    missing = [name for name in wanted if name not in existing]
    present = [name for name in wanted if name in existing]
    if present:
        for topic in await admin.describe_topics(present):
            count = len(topic.get("partitions", ()))
            if topic.get("error_code") == 0 and count < settings.topic_partitions:
                log.warning(
                    "topic %s has %d partition(s), fewer than TOPIC_PARTITIONS=%d: at most %d replicas of a "
                    "stage reading it can share the work",
                    topic["topic"],
                    count,
                    settings.topic_partitions,
                    count,
                )
    if not missing:
        return []
    response = await admin.create_topics(
        [
            NewTopic(
                name,
                num_partitions=settings.topic_partitions,
                replication_factor=settings.topic_replication_factor,
            )
            for name in missing
        ]
    )
    created: list[str] = []
    for topic, code, *rest in response.topic_errors:
        if code == 0:
            created.append(topic)
            continue
        error = for_code(code)
        if error is TopicAlreadyExistsError:
            continue
        message = rest[0] if rest else ""
        raise error(f"cannot create topic {topic}: {message}")
    if created:
        log.info("created topics %s with %d partition(s)", ", ".join(created), settings.topic_partitions)
    return created
