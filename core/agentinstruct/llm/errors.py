"""Classified LLM errors: one vocabulary for every failure, so there is one retry policy."""

from __future__ import annotations

from enum import StrEnum


class ErrorKind(StrEnum):
    RATE_LIMIT = "rate_limit"
    SERVER = "server"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    AUTH = "auth"
    BAD_REQUEST = "bad_request"
    CONTEXT_LENGTH = "context_length"
    TRUNCATED = "truncated"
    SCHEMA_INVALID = "schema_invalid"
    CONTENT_FILTER = "content_filter"


RETRYABLE: frozenset[ErrorKind] = frozenset(
    {
        ErrorKind.RATE_LIMIT,
        ErrorKind.SERVER,
        ErrorKind.TIMEOUT,
        ErrorKind.CONNECTION,
        ErrorKind.TRUNCATED,
        ErrorKind.SCHEMA_INVALID,
    }
)


class LLMError(Exception):
    """A failed LLM call. `raw` keeps whatever text the model returned, so nothing is lost."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        raw: str | None = None,
        retry_after: float | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(f"{kind.value}: {message}")
        self.kind = kind
        self.message = message
        self.raw = raw
        self.retry_after = retry_after
        self.attempts = attempts

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE
