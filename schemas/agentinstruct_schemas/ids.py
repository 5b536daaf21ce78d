"""Deterministic identifiers: a replay after a crash maps every item to the same id."""

from __future__ import annotations

import hashlib
import unicodedata

_ID_BYTES = 12


def _digest(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8"))
        h.update(b"\x1f")
    return h.hexdigest()[: _ID_BYTES * 2]


def normalize_text(text: str) -> str:
    """Normalize text for content hashing: NFC, unified newlines, trimmed lines and ends."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    return "\n".join(line.rstrip() for line in text.strip().split("\n"))


def content_id(text: str, *, namespace: str = "seed") -> str:
    """Id of a piece of content: a hash of its normalized text."""
    return _digest(namespace, normalize_text(text))


def derive_id(parent_id: str, agent: str, prompt_version: str, index: int) -> str:
    """Id of an item produced by `agent` (at `prompt_version`) from `parent_id`, as its `index`-th output."""
    return _digest(parent_id, agent, prompt_version, str(index))
