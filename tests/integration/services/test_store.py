"""`MongoPairStore` and `MongoResponseCache` against the real FerretDB (MongoDB wire protocol)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from pipeline_harness import MONGODB_URI

from agentinstruct.llm.cache import CachedResponse
from agentinstruct.store import MongoPairStore, StoreUnavailableError
from agentinstruct_schemas import ChatMessage, CheckResult, Lineage, Pair, Rejection, SeedSource

pytestmark = pytest.mark.timeout(120)

LINEAGE = Lineage(seed_id="seed-1", source=SeedSource(uri="doc.txt"), skill="rc", split="rc_split")


def pair(pair_id: str, skill: str = "rc") -> Pair:
    return Pair(
        id=pair_id,
        messages=[
            ChatMessage(role="system", content=""),
            ChatMessage(role="user", content="question?"),
            ChatMessage(role="assistant", content="answer."),
        ],
        split="rc_split",
        skill=skill,
        subcategory="literal",
        lineage=LINEAGE,
        checks=[CheckResult(name="judge", passed=True, score=4.0)],
        judge_score=4.0,
        content_hash=f"hash-{pair_id}",
    )


@pytest.fixture
async def store(infra: None) -> AsyncIterator[MongoPairStore]:
    name = f"store{uuid.uuid4().hex[:10]}"
    store = MongoPairStore(MONGODB_URI, name)
    await store.ensure_indexes()
    yield store
    await store._client.drop_database(name)
    await store.aclose()


async def test_writes_are_idempotent_and_countable(store: MongoPairStore) -> None:
    assert await store.put_pair(pair("p1"))
    assert not await store.put_pair(pair("p1")), "a replay stores nothing"
    assert await store.put_pair(pair("p2", skill="text_modification"))
    rejection = Rejection(id="r1", stage="validate", reason="judge", skill="rc", lineage=LINEAGE)
    assert await store.put_rejection(rejection)
    assert not await store.put_rejection(rejection)
    assert await store.count("pairs") == 2
    assert await store.count_by("pairs", "skill") == {"rc": 1, "text_modification": 1}
    assert await store.count_by("pairs", "lineage.seed_id") == {"seed-1": 2}
    assert await store.count_by("rejected", "reason") == {"judge": 1}
    stored = await store.collection("pairs").find_one({"_id": "p1"})
    assert stored is not None and stored["messages"][0] == {"role": "system", "content": ""}


async def test_dedup_claims_are_atomic_per_hash(store: MongoPairStore) -> None:
    assert await store.claim("h", "p1")
    assert await store.claim("h", "p1"), "the owner replaying its claim keeps it"
    assert not await store.claim("h", "p2"), "another pair with the same content is a duplicate"


async def test_seed_registry(store: MongoPairStore) -> None:
    assert await store.register_seeds({"a": {"uri": "x"}, "b": {"uri": "y"}}) == 2
    assert await store.register_seeds({"b": {"uri": "y"}, "c": {"uri": "z"}}) == 1
    assert await store.known_seeds(["a", "c", "missing"]) == {"a", "c"}


async def test_response_cache(store: MongoPairStore) -> None:
    cache = store.response_cache()
    value = CachedResponse(content='{"x": 1}', finish_reason="stop", model="m", prompt_tokens=3)
    assert await cache.get("k") is None
    await cache.put("k", value)
    await cache.put("k", value)
    hit = await cache.get("k")
    assert hit is not None and hit.content == value.content and hit.prompt_tokens == 3


async def test_an_unreachable_database_is_retried_until_the_deadline() -> None:
    store = MongoPairStore("mongodb://127.0.0.1:1/", "nowhere", retry_deadline_s=1.0, server_selection_timeout_ms=200)
    try:
        with pytest.raises(StoreUnavailableError):
            await store.put_pair(pair("p"))
        assert store.retries >= 1
        cache = store.response_cache(timeout_s=0.5)
        assert await cache.get("k") is None, "the cache never fails a call"
        assert cache.errors == 1
    finally:
        await store.aclose()
