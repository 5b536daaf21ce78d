"""Response cache: stable content-addressed keys, memory and SQLite stores, persistence across processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from agentinstruct.llm import CachedResponse, MemoryCache, SQLiteCache, ToolCall, cache_key, digest

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Résumé: naïve café"}]
FORMAT = {"type": "json_schema", "json_schema": {"name": "A", "schema": {"type": "object"}, "strict": True}}


def key(**changes: Any) -> str:
    args: dict[str, Any] = {
        "model": "m",
        "messages": MESSAGES,
        "response_format": FORMAT,
        "temperature": 0.7,
        "max_tokens": 100,
        "seed": 1234,
        "extra_body": {"repeat_penalty": 1.3},
        "tools": None,
        "prompt": "agent@1",
    }
    args.update(changes)
    return cache_key(**args)


def test_key_is_stable_and_hex_sha256() -> None:
    first = key()
    assert first == key()
    assert len(first) == 64
    int(first, 16)


def test_key_ignores_dict_order() -> None:
    reordered = [{"content": m["content"], "role": m["role"]} for m in MESSAGES]
    assert key(messages=reordered) == key()
    assert key(extra_body={"b": 1, "a": 2}) == key(extra_body={"a": 2, "b": 1})


def test_key_accepts_a_precomputed_format_digest() -> None:
    assert key(response_format=digest(FORMAT)) == key()


@pytest.mark.parametrize(
    "change",
    [
        {"model": "other"},
        {"messages": [*MESSAGES, {"role": "user", "content": "more"}]},
        {"response_format": {"type": "json_object"}},
        {"temperature": 0.0},
        {"max_tokens": 101},
        {"seed": None},
        {"extra_body": {}},
        {"tools": [{"type": "function", "function": {"name": "f"}}]},
        {"tool_choice": "none"},
        {"prompt": "agent@2"},
    ],
)
def test_key_changes_with_every_input(change: dict[str, Any]) -> None:
    assert key(**change) != key()


def test_known_key_value() -> None:
    # pins the canonical form: changing it invalidates every stored cache, so it must be deliberate
    assert cache_key(model="m", messages=[], response_format=None, temperature=0.0, max_tokens=1, seed=None) == digest(
        {
            "v": 1,
            "model": "m",
            "messages": [],
            "response_format": None,
            "temperature": 0.0,
            "max_tokens": 1,
            "seed": None,
            "extra_body": {},
            "tools": [],
            "tool_choice": None,
            "prompt": None,
        }
    )


def answer(text: str = '{"a": 1}') -> CachedResponse:
    return CachedResponse(
        content=text,
        finish_reason="stop",
        model="m",
        prompt_tokens=11,
        completion_tokens=5,
        tool_calls=(ToolCall(id="c1", name="calc", arguments='{"x": 1}'),),
        created_at=123.0,
    )


def test_cached_response_round_trips_json() -> None:
    value = answer("naïve ✓")
    assert CachedResponse.from_json(value.to_json()) == value


async def test_memory_cache_lru() -> None:
    cache = MemoryCache(max_entries=2)
    await cache.put("a", answer("1"))
    await cache.put("b", answer("2"))
    assert await cache.get("a") is not None  # a is now the most recent
    await cache.put("c", answer("3"))
    assert await cache.get("b") is None
    assert (await cache.get("a")) == answer("1")
    assert len(cache) == 2


async def test_sqlite_cache_persists_across_instances(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "cache.sqlite"
    cache = SQLiteCache(path)
    assert await cache.get("k") is None
    await cache.put("k", answer())
    await cache.put("k", answer('{"a": 2}'))  # replaces
    await cache.aclose()
    await cache.aclose()  # idempotent

    again = SQLiteCache(path)
    assert await again.get("k") == answer('{"a": 2}')
    assert await again.count() == 1
    await again.aclose()
    with pytest.raises(RuntimeError):
        await again.get("k")


async def test_sqlite_cache_uses_wal(tmp_path: Path) -> None:
    import sqlite3

    cache = SQLiteCache(tmp_path / "c.sqlite")
    await cache.put("k", answer())
    conn = sqlite3.connect(tmp_path / "c.sqlite")
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()
    await cache.aclose()


def test_sqlite_entries_survive_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "killed.sqlite"
    script = textwrap.dedent(
        f"""
        import asyncio, os, signal, sys
        from agentinstruct.llm import CachedResponse, SQLiteCache

        async def main():
            cache = SQLiteCache({str(path)!r})
            for i in range(50):
                await cache.put(f"k{{i}}", CachedResponse(content=str(i), finish_reason="stop", model="m"))
            print("written", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)

        asyncio.run(main())
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert "written" in result.stdout

    import asyncio

    async def read() -> list[str | None]:
        cache = SQLiteCache(path)
        try:
            values = [await cache.get(f"k{i}") for i in range(50)]
            return [v.content if v else None for v in values]
        finally:
            await cache.aclose()

    assert asyncio.run(read()) == [str(i) for i in range(50)]
    assert os.path.exists(path)
