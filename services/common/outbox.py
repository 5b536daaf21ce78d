"""Publishing with broker acknowledgement and one retry policy for transient broker failures.

The producer is idempotent with `acks=all` (set on the broker in `app.py`); `send` returns only once the broker
has acknowledged the record. Transient failures (connection lost, timeouts, leader moves) are retried with
backoff for as long as it takes; failures that can never succeed (record too large, invalid topic, not
authorised) raise `PublishRejectedError` so the caller can dead-letter the input instead.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from typing import Any, Protocol

from aiokafka.errors import (
    InvalidTopicError,
    KafkaError,
    MessageSizeTooLargeError,
    ProducerClosed,
    RecordTooLargeError,
    TopicAuthorizationFailedError,
)
from pydantic import BaseModel

from services.common.metrics import ServiceMetrics

log = logging.getLogger(__name__)

PERMANENT_ERRORS: tuple[type[KafkaError], ...] = (
    MessageSizeTooLargeError,
    RecordTooLargeError,
    InvalidTopicError,
    TopicAuthorizationFailedError,
)


class PublishRejectedError(Exception):
    """The broker will never accept this record."""

    def __init__(self, topic: str, cause: BaseException) -> None:
        super().__init__(f"{topic}: {type(cause).__name__}: {cause}")
        self.topic = topic
        self.cause = cause


class Publisher(Protocol):
    async def publish(
        self, message: Any, /, topic: str = "", *, key: bytes | Any | None = None, headers: dict[str, str] | None = None
    ) -> Any: ...


def encode(message: BaseModel | bytes) -> bytes:
    return message if isinstance(message, bytes) else message.model_dump_json().encode("utf-8")


class Outbox:
    def __init__(
        self,
        publisher: Publisher,
        *,
        stage: str,
        metrics: ServiceMetrics | None = None,
        backoff_base_s: float = 0.2,
        backoff_max_s: float = 5.0,
    ) -> None:
        self._publisher = publisher
        self._stage = stage
        self._metrics = metrics
        self._backoff_base_s = backoff_base_s
        self._backoff_max_s = backoff_max_s
        self._rng = random.Random()

    async def send(
        self,
        topic: str,
        message: BaseModel | bytes,
        *,
        key: str | bytes | None,
        headers: Mapping[str, str] | None = None,
        kind: str = "output",
    ) -> None:
        """Publish and wait for the broker's acknowledgement, retrying transient failures."""
        payload = encode(message)
        key_bytes = key.encode("utf-8") if isinstance(key, str) else key
        all_headers = {"content-type": "application/json", "x-agentinstruct-stage": self._stage, **(headers or {})}
        attempt = 0
        while True:
            attempt += 1
            try:
                await self._publisher.publish(payload, topic, key=key_bytes, headers=all_headers)
            except PERMANENT_ERRORS as exc:
                raise PublishRejectedError(topic, exc) from exc
            except ProducerClosed:
                raise
            except KafkaError as exc:
                if self._metrics is not None:
                    self._metrics.retries.labels(self._stage, "kafka").inc()
                level = logging.WARNING if attempt in (1, 10) or attempt % 50 == 0 else logging.DEBUG
                log.log(level, "publish to %s failed (attempt %d): %r; retrying", topic, attempt, exc)
                delay = self._rng.uniform(0, min(self._backoff_max_s, self._backoff_base_s * 2 ** (attempt - 1)))
                await asyncio.sleep(max(delay, 0.05))
                continue
            if self._metrics is not None:
                self._metrics.outputs.labels(self._stage, kind).inc()
            return
