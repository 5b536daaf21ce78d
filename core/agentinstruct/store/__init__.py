"""Storage: ports for pairs, rejections, dedup and the seed registry, and their MongoDB implementation."""

from agentinstruct.store.base import PairStore, SeedRegistry, StoreUnavailableError
from agentinstruct.store.mongo import MongoPairStore, MongoResponseCache, is_transient

__all__ = [
    "MongoPairStore",
    "MongoResponseCache",
    "PairStore",
    "SeedRegistry",
    "StoreUnavailableError",
    "is_transient",
]
