"""OpenAILLM over real HTTP (loopback) against the fault-injecting mock OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field, SecretStr

from agentinstruct.llm import (
    RETRYABLE,
    ErrorKind,
    LimitConfig,
    LimiterRegistry,
    LLMError,
    LLMSettings,
    MemoryCache,
    OpenAILLM,
    Role,
    SQLiteCache,
)
from agentinstruct.testing.mock_server import MockConfig, MockServer
from agentinstruct_schemas import LLMCallRecord

pytestmark = pytest.mark.timeout(120)


class Summary(BaseModel):
    title: str
    points: list[str] = Field(min_length=1, max_length=5)
    score: int = Field(ge=1, le=10)


@pytest.fixture
async def server() -> AsyncIterator[MockServer]:
    async with MockServer(MockConfig()) as mock:
        yield mock


def settings_for(server: MockServer, **changes: Any) -> LLMSettings:
    base: dict[str, Any] = {
        "base_url": server.base_url,
        "api_key": SecretStr("test-key"),
        "default_model": "mock-model",
        "timeout_s": 5.0,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.2,
    }
    base.update(changes)
    return LLMSettings(**base)


def messages(i: int) -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": "You summarise documents."},
        {"role": "user", "content": f"Summarise document number {i} about rivers, bridges and tides."},
    ]


async def test_faulty_server_loses_no_call(server: MockServer) -> None:
    server.configure(MockConfig(seed=3, fault_rate=0.3, latency_median_ms=5, retry_after_s=0.05, timeout_hold_s=3.0))
    kinds: Counter[ErrorKind | None] = Counter()
    llm = OpenAILLM(
        settings_for(server, timeout_s=0.5, concurrency=32, max_attempts=6),
        limiters=LimiterRegistry(),
        on_call=lambda record, kind: kinds.update([kind]),
    )
    async with llm:

        async def one(i: int) -> Summary | LLMError:
            try:
                return (await llm.generate(Role.TRANSFORM, messages(i), Summary, prompt="sum@1")).parsed
            except LLMError as exc:
                return exc

        results = await asyncio.gather(*(one(i) for i in range(200)))
        snapshot = llm.snapshot()
    assert len(results) == 200
    failures = [r for r in results if isinstance(r, LLMError)]
    successes = [r for r in results if isinstance(r, Summary)]
    assert len(successes) + len(failures) == 200
    for failure in failures:
        assert failure.kind in RETRYABLE
        assert failure.attempts == 6
    assert len(successes) >= 190
    # every fault kind was seen and retried
    for kind in (ErrorKind.RATE_LIMIT, ErrorKind.SERVER, ErrorKind.TIMEOUT, ErrorKind.SCHEMA_INVALID):
        assert kinds[kind] > 0, kinds
    assert kinds[ErrorKind.TRUNCATED] > 0, kinds
    assert kinds[None] == len(successes)
    assert snapshot.usage.calls == len(successes)
    assert snapshot.failed_calls == len(failures)
    stats = server.stats()
    assert stats["requests_total"] == snapshot.requests
    assert stats["outcomes"]["ok"] == len(successes)


async def test_retry_after_is_honoured(server: MockServer) -> None:
    server.configure(MockConfig(rate_429=1.0, retry_after_s=0.4))
    seen: list[tuple[float, ErrorKind | None]] = []

    def hook(record: LLMCallRecord, kind: ErrorKind | None) -> None:
        seen.append((time.monotonic(), kind))
        if kind is ErrorKind.RATE_LIMIT:
            server.configure(MockConfig())

    async with OpenAILLM(settings_for(server), limiters=LimiterRegistry(), on_call=hook) as llm:
        result = await llm.generate(Role.JUDGE, messages(1), Summary, prompt="sum@1")
        limiter = llm.limiter_for("mock-model")
        assert limiter.stats().rate_limited == 1
    assert result.parsed.points
    assert [kind for _, kind in seen] == [ErrorKind.RATE_LIMIT, None]
    assert seen[1][0] - seen[0][0] >= 0.4


async def test_truncated_and_malformed_answers_are_retried(server: MockServer) -> None:
    server.configure(MockConfig(rate_truncated=1.0))
    kinds: list[ErrorKind | None] = []

    def hook(record: LLMCallRecord, kind: ErrorKind | None) -> None:
        kinds.append(kind)
        if kind is ErrorKind.TRUNCATED:
            server.configure(MockConfig(rate_malformed=1.0))
        elif kind is ErrorKind.SCHEMA_INVALID:
            server.configure(MockConfig())

    async with OpenAILLM(settings_for(server), limiters=LimiterRegistry(), on_call=hook) as llm:
        result = await llm.generate(Role.TEACHER, messages(2), Summary, prompt="sum@1")
    assert kinds == [ErrorKind.TRUNCATED, ErrorKind.SCHEMA_INVALID, None]
    assert 1 <= result.parsed.score <= 10


async def test_schema_invalid_after_all_attempts_keeps_raw(server: MockServer) -> None:
    server.configure(MockConfig(rate_malformed=1.0))
    async with OpenAILLM(settings_for(server, max_attempts=3), limiters=LimiterRegistry()) as llm:
        with pytest.raises(LLMError) as info:
            await llm.generate(Role.TEACHER, messages(2), Summary, prompt="sum@1")
    assert info.value.kind is ErrorKind.SCHEMA_INVALID
    assert info.value.attempts == 3
    assert info.value.raw and "I hope this helps" in info.value.raw


async def test_cache_hit_makes_no_request(server: MockServer, tmp_path: Path) -> None:
    async with OpenAILLM(settings_for(server), cache=MemoryCache(), limiters=LimiterRegistry()) as llm:
        first = await llm.generate(Role.SUGGEST, messages(3), Summary, prompt="sum@1")
        second = await llm.generate(Role.SUGGEST, messages(3), Summary, prompt="sum@1")
    assert server.stats()["requests_total"] == 1
    assert second.record.cached and second.parsed == first.parsed

    # a SQLite cache answers a later process (here: a new client and cache instance) too
    path = tmp_path / "llm-cache.sqlite"
    async with OpenAILLM(settings_for(server), cache=SQLiteCache(path), limiters=LimiterRegistry()) as llm:
        await llm.generate(Role.SUGGEST, messages(4), Summary, prompt="sum@1")
    assert server.stats()["requests_total"] == 2
    async with OpenAILLM(settings_for(server), cache=SQLiteCache(path), limiters=LimiterRegistry()) as llm:
        replay = await llm.generate(Role.SUGGEST, messages(4), Summary, prompt="sum@1")
    assert replay.record.cached
    assert server.stats()["requests_total"] == 2


async def test_concurrency_never_exceeds_the_budget(server: MockServer) -> None:
    server.configure(MockConfig(latency_median_ms=20, latency_dist="uniform"))
    async with OpenAILLM(settings_for(server, concurrency=8), limiters=LimiterRegistry()) as llm:
        await asyncio.gather(*(llm.generate(Role.JUDGE, messages(i), Summary, prompt="sum@1") for i in range(150)))
        stats = llm.limiter_for("mock-model").stats()
    assert server.stats()["peak_inflight"] <= 8
    assert stats.peak_in_flight <= 8
    assert stats.completed == 150


async def test_shared_limiter_caps_two_clients_together(server: MockServer) -> None:
    server.configure(MockConfig(latency_median_ms=20))
    registry = LimiterRegistry()
    a = OpenAILLM(settings_for(server, concurrency=6, adaptive=False), limiters=registry)
    b = OpenAILLM(settings_for(server, concurrency=6, adaptive=False), limiters=registry)
    try:
        calls = [x.generate(Role.JUDGE, messages(i), Summary, prompt="sum@1") for i in range(40) for x in (a, b)]
        await asyncio.gather(*calls)
    finally:
        await a.aclose()
        await b.aclose()
    assert a.limiter_for("mock-model") is b.limiter_for("mock-model")
    assert server.stats()["peak_inflight"] <= 6


async def test_capacity_limited_server_adapts_with_few_429s(server: MockServer) -> None:
    server.configure(MockConfig(capacity=4, latency_median_ms=30, retry_after_s=0.2))
    async with OpenAILLM(settings_for(server, concurrency=32), limiters=LimiterRegistry()) as llm:
        await asyncio.gather(*(llm.generate(Role.JUDGE, messages(i), Summary, prompt="sum@1") for i in range(200)))
        stats = llm.limiter_for("mock-model").stats()
    mock = server.stats()
    assert mock["outcomes"]["ok"] == 200
    assert mock["rejected"]["capacity"] < 60, mock
    assert stats.limit <= 6
    assert stats.decreases_rate_limit >= 1


async def test_queueing_server_gets_fewer_calls_in_flight(server: MockServer) -> None:
    server.configure(MockConfig(queueing=True, queue_knee=8, latency_median_ms=40))
    registry = LimiterRegistry()
    settings = settings_for(server, concurrency=64)
    registry.get(settings.endpoint, "mock-model", LimitConfig(concurrency=64, min_window_s=0.1))
    async with OpenAILLM(settings, limiters=registry) as llm:
        await asyncio.gather(*(llm.generate(Role.JUDGE, messages(i), Summary, prompt="sum@1") for i in range(1000)))
        stats = llm.limiter_for("mock-model").stats()
    assert stats.decreases_latency >= 1
    assert stats.limit < 40
    assert server.stats()["mean_inflight"] < 40


async def test_ratelimit_headers_are_learned(server: MockServer) -> None:
    server.configure(MockConfig(rpm_limit=6000, ratelimit_headers=True))
    async with OpenAILLM(settings_for(server), limiters=LimiterRegistry()) as llm:
        await llm.generate(Role.JUDGE, messages(1), Summary, prompt="sum@1")
        assert llm.limiter_for("mock-model").stats().rpm == 6000


async def test_rpm_limit_is_respected_without_429s(server: MockServer) -> None:
    server.configure(MockConfig(rpm_limit=30, ratelimit_headers=True))
    settings = settings_for(server, rpm=30, concurrency=16)
    registry = LimiterRegistry()
    registry.get(settings.endpoint, "mock-model", LimitConfig(concurrency=16, rpm=30, burst_s=2.0))
    async with OpenAILLM(settings, limiters=registry) as llm:
        started = time.monotonic()
        await asyncio.gather(*(llm.generate(Role.JUDGE, messages(i), Summary, prompt="sum@1") for i in range(2)))
        elapsed = time.monotonic() - started
    assert server.stats()["outcomes"]["429"] == 0
    assert elapsed >= 1.5  # one call admitted at once, the next 2 s later at 30/min


async def test_auth_and_context_errors_are_not_retried(server: MockServer) -> None:
    server.configure(MockConfig(api_key="another-key"))
    async with OpenAILLM(settings_for(server), limiters=LimiterRegistry()) as llm:
        with pytest.raises(LLMError) as info:
            await llm.generate(Role.JUDGE, messages(1), Summary, prompt="sum@1")
        assert (info.value.kind, info.value.attempts) == (ErrorKind.AUTH, 1)
        server.configure(MockConfig(context_limit_tokens=3))
        with pytest.raises(LLMError) as info:
            await llm.generate(Role.JUDGE, messages(1), Summary, prompt="sum@1")
        assert (info.value.kind, info.value.attempts) == (ErrorKind.CONTEXT_LENGTH, 1)
    assert server.stats()["requests_total"] == 2


async def test_connection_refused_is_a_connection_error() -> None:
    async with MockServer() as mock:
        url = mock.base_url
    settings = LLMSettings(base_url=url, default_model="m", max_attempts=2, backoff_base_s=0.01)
    async with OpenAILLM(settings, limiters=LimiterRegistry()) as llm:
        with pytest.raises(LLMError) as info:
            await llm.generate(Role.JUDGE, messages(1), Summary, prompt="sum@1")
    assert info.value.kind is ErrorKind.CONNECTION
    assert info.value.attempts == 2


async def test_tool_calls_round_trip(server: MockServer) -> None:
    server.configure(MockConfig(tool_calls=True))
    calls: list[tuple[str, str]] = []

    async def call_tool(name: str, arguments: str) -> str:
        calls.append((name, arguments))
        return "42"

    tools = [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
            },
        }
    ]
    settings = settings_for(server, function_calling=True)
    async with OpenAILLM(settings, limiters=LimiterRegistry()) as llm:
        result = await llm.generate_with_tools(
            Role.TEACHER, messages(5), Summary, prompt="tool@1", tools=tools, call_tool=call_tool
        )
    assert [name for name, _ in calls] == ["lookup"]
    assert [c.name for c in result.tool_calls] == ["lookup"]
    assert result.parsed.points
    assert server.stats()["requests_total"] == 2


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
async def test_both_transports(server: MockServer, transport: str) -> None:
    async with OpenAILLM(settings_for(server, http_transport=transport), limiters=LimiterRegistry()) as llm:
        results = await asyncio.gather(
            *(llm.generate(Role.EDIT, messages(i), Summary, prompt="sum@1") for i in range(20))
        )
    assert len(results) == 20
