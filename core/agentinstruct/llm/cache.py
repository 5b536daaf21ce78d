"""Content-addressed LLM response cache: a replay of the same request does not pay twice.

The key is the sha256 of the canonical JSON of everything that shapes the answer and nothing that does not:
model, messages, response format (JSON schema), temperature, max_tokens, seed, extra_body, tools, tool choice
and the prompt reference (`name@version`). The endpoint URL is not part of it, so the same model served
elsewhere shares entries. Only successful, validated answers are stored.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from agentinstruct.llm.base import ToolCall

KEY_VERSION = 1

_R = TypeVar("_R")


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace, UTF-8 kept as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def digest(value: Any) -> str:
    """sha256 (hex) of the canonical JSON of `value`."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def cache_key(
    *,
    model: str,
    messages: Sequence[Mapping[str, Any]],
    response_format: Mapping[str, Any] | str | None,
    temperature: float | None,
    max_tokens: int | None,
    seed: int | None,
    extra_body: Mapping[str, Any] | None = None,
    tools: Sequence[Mapping[str, Any]] | None = None,
    tool_choice: str | None = None,
    prompt: str | None = None,
) -> str:
    """The cache key of one request. `response_format` may be given as its precomputed `digest()`."""
    fmt = response_format if isinstance(response_format, str) or response_format is None else digest(response_format)
    return digest(
        {
            "v": KEY_VERSION,
            "model": model,
            "messages": messages,
            "response_format": fmt,
            "temperature": temperature,
            "max_tokens": max_tokens,
            "seed": seed,
            "extra_body": extra_body or {},
            "tools": tools or [],
            "tool_choice": tool_choice,
            "prompt": prompt,
        }
    )


@dataclass(frozen=True, slots=True)
class CachedResponse:
    """A stored answer: the raw text, why it stopped, any tool calls, its usage and the model that gave it."""

    content: str
    finish_reason: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tool_calls: tuple[ToolCall, ...] = ()
    created_at: float = field(default_factory=time.time)

    def to_json(self) -> str:
        return json.dumps(
            {
                "content": self.content,
                "finish_reason": self.finish_reason,
                "model": self.model,
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "tool_calls": [[c.id, c.name, c.arguments] for c in self.tool_calls],
                "created_at": self.created_at,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> CachedResponse:
        data = json.loads(text)
        return cls(
            content=data["content"],
            finish_reason=data["finish_reason"],
            model=data["model"],
            prompt_tokens=int(data.get("prompt_tokens", 0)),
            completion_tokens=int(data.get("completion_tokens", 0)),
            tool_calls=tuple(ToolCall(id=i, name=n, arguments=a) for i, n, a in data.get("tool_calls", [])),
            created_at=float(data.get("created_at", 0.0)),
        )


class ResponseCache(Protocol):
    """Where answers are kept. `get` returns None on a miss; neither call may block the event loop.

    An implementation may also have `async aclose()`; `OpenAILLM.aclose()` calls it when present.
    """

    async def get(self, key: str) -> CachedResponse | None: ...

    async def put(self, key: str, value: CachedResponse) -> None: ...


class MemoryCache:
    """In-process cache, optionally bounded (least recently used entries go first)."""

    def __init__(self, max_entries: int | None = None) -> None:
        self._entries: OrderedDict[str, CachedResponse] = OrderedDict()
        self._max = max_entries

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: str) -> CachedResponse | None:
        value = self._entries.get(key)
        if value is not None and self._max is not None:
            self._entries.move_to_end(key)
        return value

    async def put(self, key: str, value: CachedResponse) -> None:
        self._entries[key] = value
        if self._max is not None:
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    async def aclose(self) -> None:
        return None


class SQLiteCache:
    """A cache file (stdlib sqlite3, WAL). Every call runs on one dedicated thread, so the loop never blocks.

    Each `put` is its own committed transaction: after it returns, the entry survives the process being
    killed. Several processes may share the file (WAL, busy timeout).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llm-cache")
        self._conn: sqlite3.Connection | None = None
        self._closed = False
        self._lock = threading.Lock()
        self._executor.submit(self._open).result()

    def _open(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30.0)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS llm_cache ("
            "key TEXT PRIMARY KEY, value TEXT NOT NULL, created_at REAL NOT NULL) WITHOUT ROWID"
        )
        self._conn = conn

    async def _run(self, fn: Callable[[], _R]) -> _R:
        if self._closed:
            raise RuntimeError("SQLiteCache is closed")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def _get(self, key: str) -> str | None:
        assert self._conn is not None
        row = self._conn.execute("SELECT value FROM llm_cache WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _put(self, key: str, text: str, created_at: float) -> None:
        assert self._conn is not None
        self._conn.execute(
            "INSERT OR REPLACE INTO llm_cache (key, value, created_at) VALUES (?, ?, ?)", (key, text, created_at)
        )

    def _count(self) -> int:
        assert self._conn is not None
        return int(self._conn.execute("SELECT count(*) FROM llm_cache").fetchone()[0])

    async def get(self, key: str) -> CachedResponse | None:
        text = await self._run(lambda: self._get(key))
        if text is None:
            return None
        try:
            return CachedResponse.from_json(text)
        except (ValueError, KeyError, TypeError):
            return None

    async def put(self, key: str, value: CachedResponse) -> None:
        text = value.to_json()
        await self._run(lambda: self._put(key, text, value.created_at))

    async def count(self) -> int:
        return await self._run(self._count)

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def aclose(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        await asyncio.get_running_loop().run_in_executor(self._executor, self._close)
        self._executor.shutdown(wait=False)
