"""Decoding of input records, with a precise reason for every kind of poison, and the dead-letter payload."""

from __future__ import annotations

import base64
import json
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from agentinstruct_schemas import SCHEMA_VERSION

M = TypeVar("M", bound=BaseModel)

DLQ_PAYLOAD_LIMIT = 64 * 1024


class PoisonError(Exception):
    """The record can never be processed: it goes to the dead-letter topic at once."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def decode_input(raw: bytes | None, model: type[M], *, max_bytes: int) -> M:
    """Parse a record value into `model`, or raise `PoisonError` saying why not."""
    if raw is None or not raw:
        raise PoisonError("poison.empty", "the record has no value")
    if len(raw) > max_bytes:
        raise PoisonError("poison.oversized", f"{len(raw)} bytes, over the limit of {max_bytes}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PoisonError("poison.binary", f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if "\x00" in text:
        raise PoisonError("poison.binary", "the value contains NUL bytes")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise PoisonError("poison.not_json", f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise PoisonError("poison.wrong_schema", f"expected a JSON object, got {type(data).__name__}")
    version = data.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise PoisonError(
            "poison.unknown_schema_version", f"schema_version {version!r}; this reader knows {SCHEMA_VERSION}"
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(root)"
        raise PoisonError(
            "poison.wrong_schema",
            f"not a valid {model.__name__}: {exc.error_count()} error(s), first at {where}: {first['msg']}",
        ) from None


def dead_letter_payload(
    raw: bytes | None, limit: int = DLQ_PAYLOAD_LIMIT
) -> tuple[str, Literal["utf-8", "base64"], dict[str, Any]]:
    """(payload, encoding, notes): the input as text when it is UTF-8, else base64, cut to `limit` bytes."""
    data = raw or b""
    notes: dict[str, Any] = {"payload_bytes": len(data)}
    if len(data) > limit:
        data = data[:limit]
        notes["payload_truncated_to"] = limit
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if "payload_truncated_to" in notes and exc.start >= len(data) - 4:
            return data[: exc.start].decode("utf-8"), "utf-8", notes
        return base64.b64encode(data).decode("ascii"), "base64", notes
    if "\x00" in text:
        return base64.b64encode(data).decode("ascii"), "base64", notes
    return text, "utf-8", notes
