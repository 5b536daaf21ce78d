"""Storage ports: where accepted pairs, rejections, the dedup index and the seed registry live.

Every write is idempotent (keyed by the item's deterministic id), so a replay after a crash stores nothing twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from agentinstruct_schemas import Pair, Rejection


class StoreUnavailableError(RuntimeError):
    """The database did not answer within the retry deadline."""


class PairStore(Protocol):
    """Accepted pairs and rejections, plus the exact-duplicate index (`DedupPort.claim`)."""

    async def put_pair(self, pair: Pair) -> bool:
        """Store `pair`; True if it was new, False if it was already there (a replay)."""
        ...

    async def put_rejection(self, rejection: Rejection) -> bool:
        """Store `rejection`; True if it was new."""
        ...

    async def claim(self, content_hash: str, pair_id: str) -> bool:
        """True if `content_hash` is new or already held by `pair_id` (a replay); False for a duplicate."""
        ...

    async def count_by(self, collection: str, field: str) -> dict[str, int]:
        """Documents of `collection` counted by the value of `field` (dotted paths allowed)."""
        ...


class SeedRegistry(Protocol):
    """Seeds already ingested, so that ingesting the same document again is a no-op."""

    async def known_seeds(self, seed_ids: Iterable[str]) -> set[str]:
        """The subset of `seed_ids` already registered."""
        ...

    async def register_seeds(self, seeds: Mapping[str, Mapping[str, Any]]) -> int:
        """Register seed id -> metadata (insert if absent); returns how many were new."""
        ...
