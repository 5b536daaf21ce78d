"""MongoDB storage over PyMongo's `AsyncMongoClient`, kept inside the subset FerretDB v1 supports.

Collections (all keyed by a deterministic `_id`, so every write is idempotent):

* `pairs`     accepted pairs, as output rows (`agentinstruct.output.pair_to_row`) with `_id` = pair id
* `rejected`  rejections with their reasons, `_id` = rejection id
* `dedup`     content hash -> the pair id that owns it (exact-duplicate removal across replicas)
* `seeds`     the ingest registry, `_id` = seed id
* `llm_cache` LLM responses by cache key (`MongoResponseCache`), shared by every replica

No transactions, `$lookup` or `$facet`; aggregations use `$group` with a single `$sum`. Operations that fail
because the database is unreachable are retried with backoff until `retry_deadline_s` (None: forever), so a
caller never mistakes an outage for an answer.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

import pymongo
from pymongo import ASCENDING, AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, ConnectionFailure, DuplicateKeyError, OperationFailure

from agentinstruct.llm.cache import CachedResponse
from agentinstruct.output import pair_to_row, rejection_to_row
from agentinstruct.store.base import StoreUnavailableError
from agentinstruct_schemas import Pair, Rejection

log = logging.getLogger(__name__)

R = TypeVar("R")
Document = dict[str, Any]

DUPLICATE_KEY = 11000
COLLECTIONS = ("pairs", "rejected", "dedup", "seeds", "llm_cache")
_INDEXES: dict[str, tuple[str, ...]] = {
    "pairs": ("lineage.seed_id", "skill"),
    "rejected": ("lineage.seed_id", "reason"),
}
# Errors that mean "the database is not reachable right now" (ServerSelectionTimeoutError, NetworkTimeout and
# NotPrimaryError are AutoReconnect, itself a ConnectionFailure).
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (ConnectionFailure,)


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, TRANSIENT_ERRORS):
        return True
    return isinstance(exc, OperationFailure) and exc.has_error_label("RetryableWriteError")


class MongoPairStore:
    """`PairStore`, `DedupPort` and `SeedRegistry` over one database."""

    def __init__(
        self,
        uri: str,
        db: str,
        *,
        retry_deadline_s: float | None = None,
        backoff_base_s: float = 0.2,
        backoff_max_s: float = 5.0,
        server_selection_timeout_ms: int = 5000,
        client: AsyncMongoClient[Document] | None = None,
    ) -> None:
        self._client: AsyncMongoClient[Document] = client or AsyncMongoClient(
            uri,
            serverSelectionTimeoutMS=server_selection_timeout_ms,
            connectTimeoutMS=server_selection_timeout_ms,
            socketTimeoutMS=60_000,
        )
        self._owns_client = client is None
        self.db: AsyncDatabase[Document] = self._client[db]
        self.retry_deadline_s = retry_deadline_s
        self._backoff_base_s = backoff_base_s
        self._backoff_max_s = backoff_max_s
        self._indexes_ready = False
        self._rng = random.Random()
        self.retries = 0

    def collection(self, name: str) -> AsyncCollection[Document]:
        return self.db[name]

    def __repr__(self) -> str:
        return f"MongoPairStore(db={self.db.name!r})"

    # -- retries ------------------------------------------------------------------------------------------------

    async def retry(self, what: str, op: Callable[[], Awaitable[R]]) -> R:
        """Run `op`, retrying while the database is unreachable (full-jitter backoff) until the deadline."""
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                return await op()
            except Exception as exc:
                if not is_transient(exc):
                    raise
                elapsed = time.monotonic() - started
                if self.retry_deadline_s is not None and elapsed >= self.retry_deadline_s:
                    raise StoreUnavailableError(f"{what}: database unavailable for {elapsed:.0f} s: {exc}") from exc
                self.retries += 1
                delay = self._rng.uniform(0, min(self._backoff_max_s, self._backoff_base_s * 2 ** (attempt - 1)))
                level = logging.WARNING if attempt in (1, 10) or attempt % 50 == 0 else logging.DEBUG
                log.log(level, "%s: database unavailable (attempt %d, %s); retrying", what, attempt, type(exc).__name__)
                await asyncio.sleep(max(delay, 0.05))

    async def ensure_indexes(self) -> None:
        """Secondary indexes for lineage and stats queries; idempotent."""
        if self._indexes_ready:
            return
        for name, fields in _INDEXES.items():
            for field in fields:
                await self.retry(
                    f"create index {name}.{field}",
                    lambda c=self.db[name], f=field: c.create_index([(f, ASCENDING)]),  # type: ignore[misc]
                )
        self._indexes_ready = True

    async def ping(self) -> bool:
        try:
            await self.db.command("ping")
        except Exception:
            return False
        return True

    # -- idempotent inserts -------------------------------------------------------------------------------------

    async def insert_once(self, collection: str, document: Document) -> bool:
        """Insert `document` (which has an `_id`); False if a document with that `_id` exists."""
        coll = self.db[collection]

        async def insert() -> bool:
            try:
                await coll.insert_one(dict(document))
            except DuplicateKeyError:
                return False
            return True

        return await self.retry(f"insert into {collection}", insert)

    async def insert_many_once(self, collection: str, documents: list[Document]) -> int:
        """Insert every document whose `_id` is absent; returns how many were new."""
        if not documents:
            return 0
        coll = self.db[collection]

        async def insert() -> int:
            try:
                result = await coll.insert_many([dict(d) for d in documents], ordered=False)
            except BulkWriteError as exc:
                errors = exc.details.get("writeErrors", [])
                if any(e.get("code") != DUPLICATE_KEY for e in errors):
                    raise
                return int(exc.details.get("nInserted", len(documents) - len(errors)))
            return len(result.inserted_ids)

        return await self.retry(f"insert into {collection}", insert)

    # -- PairStore ------------------------------------------------------------------------------------------

    async def put_pair(self, pair: Pair) -> bool:
        document = {"_id": pair.id, **pair_to_row(pair), "stored_at": time.time()}
        return await self.insert_once("pairs", document)

    async def put_rejection(self, rejection: Rejection) -> bool:
        document = {"_id": rejection.id, **rejection_to_row(rejection), "stored_at": time.time()}
        return await self.insert_once("rejected", document)

    async def claim(self, content_hash: str, pair_id: str) -> bool:
        if await self.insert_once("dedup", {"_id": content_hash, "pair_id": pair_id}):
            return True
        owner = await self.retry("read dedup owner", lambda: self.db["dedup"].find_one({"_id": content_hash}))
        return owner is None or owner.get("pair_id") == pair_id

    async def count_by(self, collection: str, field: str) -> dict[str, int]:
        pipeline: list[Document] = [{"$group": {"_id": f"${field}", "n": {"$sum": 1}}}]

        async def run() -> dict[str, int]:
            cursor = await self.db[collection].aggregate(pipeline)
            return {str(row["_id"]): int(row["n"]) async for row in cursor}

        return await self.retry(f"count {collection} by {field}", run)

    async def count(self, collection: str, query: Mapping[str, Any] | None = None) -> int:
        return await self.retry(f"count {collection}", lambda: self.db[collection].count_documents(dict(query or {})))

    # -- SeedRegistry -----------------------------------------------------------------------------------------

    async def known_seeds(self, seed_ids: Iterable[str]) -> set[str]:
        ids = list(dict.fromkeys(seed_ids))
        if not ids:
            return set()

        async def find() -> set[str]:
            cursor = self.db["seeds"].find({"_id": {"$in": ids}}, {"_id": 1})
            return {str(doc["_id"]) async for doc in cursor}

        return await self.retry("read seed registry", find)

    async def register_seeds(self, seeds: Mapping[str, Mapping[str, Any]]) -> int:
        now = time.time()
        documents = [{"_id": seed_id, **dict(meta), "ingested_at": now} for seed_id, meta in seeds.items()]
        return await self.insert_many_once("seeds", documents)

    # -- lifecycle --------------------------------------------------------------------------------------------

    def response_cache(self, *, timeout_s: float = 2.0, open_for_s: float = 10.0) -> MongoResponseCache:
        return MongoResponseCache(self.db["llm_cache"], timeout_s=timeout_s, open_for_s=open_for_s)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.close()


class MongoResponseCache:
    """`ResponseCache` over the `llm_cache` collection: replays on any replica do not pay twice.

    The cache is an optimisation, so it never fails a call: errors and slow answers count as misses (and lost
    puts), and after a failure the database is left alone for `open_for_s` seconds.
    """

    def __init__(self, collection: AsyncCollection[Document], *, timeout_s: float = 2.0, open_for_s: float = 10.0):
        self._coll = collection
        self._timeout_s = timeout_s
        self._open_for_s = open_for_s
        self._skip_until = 0.0
        self.hits = 0
        self.misses = 0
        self.errors = 0

    async def _guarded(self, what: str, op: Callable[[], Awaitable[R]]) -> R | None:
        if time.monotonic() < self._skip_until:
            return None
        try:
            # The driver's own operation timeout: cancelling a driver call from outside can leave its
            # connection pool in a bad state.
            with pymongo.timeout(self._timeout_s):
                return await op()
        except DuplicateKeyError:
            return None
        except Exception as exc:
            self.errors += 1
            self._skip_until = time.monotonic() + self._open_for_s
            log.warning("LLM cache %s failed (%r); bypassing the cache for %.0f s", what, exc, self._open_for_s)
            return None

    async def get(self, key: str) -> CachedResponse | None:
        document = await self._guarded("read", lambda: self._coll.find_one({"_id": key}))
        if document is None:
            self.misses += 1
            return None
        try:
            value = CachedResponse.from_json(str(document["value"]))
        except (ValueError, KeyError, TypeError):
            self.misses += 1
            return None
        self.hits += 1
        return value

    async def put(self, key: str, value: CachedResponse) -> None:
        document = {"_id": key, "value": value.to_json(), "created_at": value.created_at}
        await self._guarded("write", lambda: self._coll.insert_one(document))
