"""OpenAILLM against a scripted in-memory transport: request shape, retry policy, cache, accounting, tools."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from typing import Any

import httpx2
import openai
import pytest
from pydantic import BaseModel, SecretStr

from agentinstruct.llm import (
    CachedResponse,
    ErrorKind,
    LimiterRegistry,
    LLMError,
    LLMSettings,
    MemoryCache,
    OpenAILLM,
    Role,
)
from agentinstruct_schemas import LLMCallRecord


class Verdict(BaseModel):
    score: int
    reason: str = ""


Handler = Callable[[httpx2.Request], httpx2.Response]


def completion(
    content: str | None,
    *,
    finish_reason: str = "stop",
    prompt_tokens: int = 10,
    completion_tokens: int = 5,
    tool_calls: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> httpx2.Response:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    body = {
        "id": "c",
        "object": "chat.completion",
        "created": 0,
        "model": "served-model",
        "choices": [{"index": 0, "finish_reason": finish_reason, "message": message}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens},
    }
    return httpx2.Response(200, json=body, headers=headers or {})


def error(status: int, message: str = "boom", code: str | None = None, **headers: str) -> httpx2.Response:
    body = {"error": {"message": message, "type": "x", "code": code}}
    return httpx2.Response(status, json=body, headers={k.replace("_", "-"): v for k, v in headers.items()})


class Script:
    """Answers requests in order from a list; remembers every request body and header."""

    def __init__(self, *responses: httpx2.Response | Callable[[dict[str, Any]], httpx2.Response]) -> None:
        self.responses = list(responses)
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[httpx2.Headers] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        self.bodies.append(body)
        self.headers.append(request.headers)
        if not self.responses:
            raise AssertionError("unexpected request")
        item = self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]
        return item(body) if callable(item) else item


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def make_llm(script: Script, cache: MemoryCache | None = None, **changes: Any) -> tuple[OpenAILLM, Sleeps]:
    settings = LLMSettings(
        base_url="http://mock.invalid/v1",
        api_key=SecretStr("k"),
        default_model="base-model",
        models={Role.JUDGE: "judge-model"},
        extra_body={"repeat_penalty": 1.3},
        **changes,
    )
    client = openai.AsyncOpenAI(
        base_url=settings.endpoint,
        api_key="k",
        max_retries=0,
        http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(script)),
    )
    sleeps = Sleeps()
    llm = OpenAILLM(
        settings,
        client=client,
        cache=cache,
        limiters=LimiterRegistry(),
        sleep=sleeps,
        rng=random.Random(7),
    )
    return llm, sleeps


MESSAGES = [{"role": "user", "content": "Judge this."}]


async def test_request_shape_and_result() -> None:
    script = Script(completion('{"score": 4, "reason": "ok"}', prompt_tokens=12, completion_tokens=7))
    llm, _ = make_llm(script)
    result = await llm.generate(Role.JUDGE, MESSAGES, Verdict, prompt="judge@3")
    assert result.parsed == Verdict(score=4, reason="ok")
    assert result.text == '{"score": 4, "reason": "ok"}'
    assert result.finish_reason == "stop"
    record = result.record
    assert (record.role, record.model, record.prompt) == ("judge", "judge-model", "judge@3")
    assert (record.prompt_tokens, record.completion_tokens, record.cached) == (12, 7, False)
    assert record.latency_ms > 0

    body = script.bodies[0]
    assert body["model"] == "judge-model"
    assert body["messages"] == MESSAGES
    assert body["temperature"] == 0.0
    assert body["max_tokens"] == 512
    assert body["seed"] == 1234
    assert body["repeat_penalty"] == 1.3
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["name"] == "Verdict"
    assert fmt["json_schema"]["strict"] is True
    schema = fmt["json_schema"]["schema"]
    assert schema["additionalProperties"] is False
    assert sorted(schema["required"]) == ["reason", "score"]
    assert script.headers[0]["x-agentinstruct-prompt"] == "judge@3"
    await llm.aclose()


async def test_overrides_and_non_strict_schema() -> None:
    script = Script(completion('{"score": 1}'))
    llm, _ = make_llm(script, json_schema_strict=False, seed=None)
    await llm.generate(Role.TEACHER, MESSAGES, Verdict, prompt="t@1", max_tokens=77, temperature=0.9)
    body = script.bodies[0]
    assert body["model"] == "base-model"
    assert (body["max_tokens"], body["temperature"]) == (77, 0.9)
    assert "seed" not in body
    assert body["response_format"]["json_schema"]["strict"] is False
    assert "additionalProperties" not in body["response_format"]["json_schema"]["schema"]


async def test_response_format_is_built_once_per_schema() -> None:
    script = Script(completion('{"score": 1}'))
    llm, _ = make_llm(script)
    await llm.generate(Role.JUDGE, MESSAGES, Verdict, prompt="p@1")
    await llm.generate(Role.JUDGE, [{"role": "user", "content": "again"}], Verdict, prompt="p@1")
    assert llm._response_format(Verdict) is llm._response_format(Verdict)


async def test_fenced_json_is_accepted() -> None:
    script = Script(completion('```json\n{"score": 2}\n```'))
    llm, _ = make_llm(script)
    result = await llm.generate(Role.JUDGE, MESSAGES, Verdict, prompt="p@1")
    assert result.parsed.score == 2


async def test_rate_limit_retry_honours_retry_after() -> None:
    script = Script(error(429, retry_after_ms="1500"), completion('{"score": 3}'))
    llm, sleeps = make_llm(script)
    result = await llm.generate(Role.JUDGE, MESSAGES, Verdict, prompt="p@1")
    assert result.parsed.score == 3
    assert len(sleeps.delays) == 1
    assert 1.5 <= sleeps.delays[0] <= 1.5 + llm.settings.backoff_base_s
    assert llm.snapshot().errors == {"rate_limit": 1}
    assert llm.limiter_for("judge-model").stats().rate_limited == 1


async def test_exponential_backoff_with_full_jitter() -> None:
    script = Script(error(500), error(502), error(503), completion('{"score": 3}'))
    llm, sleeps = make_llm(script, backoff_base_s=1.0, backoff_max_s=3.0)
    await llm.generate(Role.JUDGE, MESSAGES, Verdict, prompt="p@1")
    assert len(sleeps.delays) == 3
    for attempt, delay in enumerate(sleeps.delays, start=1):
        assert 0.0 <= delay <= min(3.0, 2 ** (attempt - 1))
    snapshot = llm.snapshot()
    assert (snapshot.requests, snapshot.retries) == (4, 3)


async def test_retries_run_out_with_a_classified_error() -> None:
    script = Script(error(500))
    llm, sleeps = make_llm(script, max_attempts=4)
    with pytest.raises(LLMError) as info:
        await llm.generate(Role.JUDGE, MESSAGES, Verdict, prompt="p@1")
    assert info.value.kind is ErrorKind.SERVER
    assert info.value.attempts == 4
    assert len(sleeps.delays) == 3
    assert len(script.bodies) == 4
    assert llm.snapshot().failures == {"server": 1}
    assert llm.limiter_for("judge-model").in_flight == 0


@pytest.mark.parametrize(
    ("response", "kind"),
    [
        (error(400, "unknown field"), ErrorKind.BAD_REQUEST),
        (error(400, "too long", code="context_length_exceeded"), ErrorKind.CONTEXT_LENGTH),
        (error(401, "bad key"), ErrorKind.AUTH),
        (completion("sorry", finish_reason="content_filter"), ErrorKind.CONTENT_FILTER),
    ],
)
async def test_non_retryable_errors_raise_at_once(response: httpx2.Response, kind: ErrorKind) -> None:
    script = Script(response)
    llm, sleeps = make_llm(script)
    with pytest.raises(LLMError) as info:
        await llm.generate(Role.JUDGE, MESSAGES, Verdict, prompt="p@1")
    assert info.value.kind is kind
    assert info.value.attempts == 1
    assert sleeps.delays == []
    assert len(script.bodies) == 1


async def test_truncated_and_invalid_answers_are_retried_with_another_seed() -> None:
    script = Script(
        completion('{"score": ', finish_reason="length"),
        completion("I think the score is 4"),
        completion('{"score": 4}'),
    )
    llm, _ = make_llm(script)
    result = await llm.generate(Role.JUDGE, MESSAGES, Verdict, prompt="p@1")
    assert result.parsed.score == 4
    assert [b["seed"] for b in script.bodies] == [1234, 1235, 1236]
    assert llm.snapshot().errors == {"truncated": 1, "schema_invalid": 1}
    # tokens of the failed attempts are part of the call's cost
    assert result.record.prompt_tokens == 30
    assert result.record.completion_tokens == 15


async def test_schema_invalid_keeps_the_raw_text() -> None:
    script = Script(completion('{"score": "high"}'))
    llm, _ = make_llm(script, max_attempts=2)
    with pytest.raises(LLMError) as info:
        await llm.generate(Role.JUDGE, MESSAGES, Verdict, prompt="p@1")
    assert info.value.kind is ErrorKind.SCHEMA_INVALID
    assert info.value.raw == '{"score": "high"}'
    assert info.value.attempts == 2


async def test_malformed_envelope_is_a_retryable_server_error() -> None:
    script = Script(httpx2.Response(200, content=b"<html>proxy error</html>"), completion('{"score": 1}'))
    llm, _ = make_llm(script)
    result = await llm.generate(Role.JUDGE, MESSAGES, Verdict, prompt="p@1")
    assert result.parsed.score == 1
    assert llm.snapshot().errors == {"server": 1}


async def test_cache_hit_makes_no_request_and_is_accounted() -> None:
    script = Script(completion('{"score": 5}', prompt_tokens=10, completion_tokens=5))
    cache = MemoryCache()
    llm, _ = make_llm(script, cache=cache)
    first = await llm.generate(Role.JUDGE, MESSAGES, Verdict, prompt="p@1")
    second = await llm.generate(Role.JUDGE, MESSAGES, Verdict, prompt="p@1")
    assert len(script.bodies) == 1
    assert second.parsed == first.parsed
    assert second.record.cached and not first.record.cached
    assert (second.record.prompt_tokens, second.record.completion_tokens) == (10, 5)
    snapshot = llm.snapshot()
    assert snapshot.cache_hits == 1
    assert (snapshot.usage.calls, snapshot.usage.cached_calls) == (1, 1)
    assert snapshot.usage.prompt_tokens == 10  # a hit costs nothing
    assert llm.limiter_for("judge-model").stats().admitted == 1
    # a different prompt version is a different entry
    await llm.generate(Role.JUDGE, MESSAGES, Verdict, prompt="p@2")
    assert len(script.bodies) == 2


async def test_failed_answers_are_not_cached_and_stale_entries_are_ignored() -> None:
    script = Script(completion("not json"), completion('{"score": 1}'))
    cache = MemoryCache()
    llm, _ = make_llm(script, cache=cache, max_attempts=1)
    with pytest.raises(LLMError):
        await llm.generate(Role.JUDGE, MESSAGES, Verdict, prompt="p@1")
    assert len(cache) == 0
    result = await llm.generate(Role.JUDGE, MESSAGES, Verdict, prompt="p@1")
    assert len(cache) == 1
    assert not result.record.cached
    # an entry that no longer validates (e.g. the schema changed) is ignored and replaced
    (key,) = list(cache._entries)
    await cache.put(key, CachedResponse(content="{}", finish_reason="stop", model="judge-model"))
    again = await llm.generate(Role.JUDGE, MESSAGES, Verdict, prompt="p@1")
    assert not again.record.cached
    assert len(script.bodies) == 3


async def test_accounting_cost_and_hook() -> None:
    calls: list[tuple[LLMCallRecord, ErrorKind | None]] = []
    script = Script(
        error(429, retry_after="0"),
        completion('{"score": 1}', prompt_tokens=1000, completion_tokens=500),
    )
    llm, _ = make_llm(script, cost_per_1k_tokens={"judge-model": (0.5, 2.0)})
    llm.on_call = lambda record, kind: calls.append((record, kind))
    await llm.generate(Role.JUDGE, MESSAGES, Verdict, prompt="p@1")
    assert [kind for _, kind in calls] == [ErrorKind.RATE_LIMIT, None]
    assert calls[1][0].prompt_tokens == 1000
    assert calls[1][0].latency_ms > 0
    assert not calls[1][0].cached
    snapshot = llm.snapshot()
    assert snapshot.cost_usd == pytest.approx(0.5 + 1.0)
    assert snapshot.by_model["judge-model"].calls == 1
    assert snapshot.by_model["judge-model"].prompt_tokens == 1000
    assert snapshot.by_role["judge"].completion_tokens == 500
    assert snapshot.usage.by_role == {"judge": 1500}
    assert llm.totals.total_tokens == 1500
    assert "judge-model" in snapshot.limiters


async def test_a_failing_hook_does_not_break_calls() -> None:
    script = Script(completion('{"score": 1}'))
    llm, _ = make_llm(script)

    def hook(record: LLMCallRecord, kind: ErrorKind | None) -> None:
        raise RuntimeError("metrics down")

    llm.on_call = hook
    assert (await llm.generate(Role.JUDGE, MESSAGES, Verdict, prompt="p@1")).parsed.score == 1


async def test_ratelimit_headers_feed_the_limiter() -> None:
    headers = {"x-ratelimit-limit-requests": "600", "x-ratelimit-remaining-requests": "599"}
    script = Script(completion('{"score": 1}', headers=headers))
    llm, _ = make_llm(script)
    await llm.generate(Role.JUDGE, MESSAGES, Verdict, prompt="p@1")
    assert llm.limiter_for("judge-model").stats().rpm == 600


async def test_tools_loop() -> None:
    def first(body: dict[str, Any]) -> httpx2.Response:
        assert body["tool_choice"] == "auto"
        assert body["tools"][0]["function"]["name"] == "add"
        call = {"id": "call_1", "type": "function", "function": {"name": "add", "arguments": '{"a": 2, "b": 3}'}}
        return completion(None, finish_reason="tool_calls", tool_calls=[call])

    def second(body: dict[str, Any]) -> httpx2.Response:
        assistant, tool = body["messages"][-2:]
        assert assistant["role"] == "assistant"
        assert assistant["tool_calls"][0]["id"] == "call_1"
        assert tool == {"role": "tool", "tool_call_id": "call_1", "content": "5"}
        return completion('{"score": 5, "reason": "2+3"}')

    script = Script(first, second)
    llm, _ = make_llm(script, function_calling=True)
    seen: list[tuple[str, str]] = []

    async def call_tool(name: str, arguments: str) -> str:
        seen.append((name, arguments))
        args = json.loads(arguments)
        return str(args["a"] + args["b"])

    tools = [{"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}]
    result = await llm.generate_with_tools(
        Role.TEACHER, MESSAGES, Verdict, prompt="tool@1", tools=tools, call_tool=call_tool
    )
    assert result.parsed == Verdict(score=5, reason="2+3")
    assert seen == [("add", '{"a": 2, "b": 3}')]
    assert [c.name for c in result.tool_calls] == ["add"]
    assert result.record.prompt_tokens == 20
    assert MESSAGES == [{"role": "user", "content": "Judge this."}], "the caller's list is not modified"


async def test_tools_last_round_forbids_tool_calls_and_tool_errors_are_reported() -> None:
    call = {"id": "c", "type": "function", "function": {"name": "boom", "arguments": "{}"}}

    def answer(body: dict[str, Any]) -> httpx2.Response:
        if body["tool_choice"] == "none":
            assert body["messages"][-1]["content"].startswith("error: ValueError")
            return completion('{"score": 0}')
        return completion(None, finish_reason="tool_calls", tool_calls=[call])

    script = Script(answer)
    llm, _ = make_llm(script, function_calling=True)

    async def call_tool(name: str, arguments: str) -> str:
        raise ValueError("no such tool")

    tools = [{"type": "function", "function": {"name": "boom", "parameters": {"type": "object"}}}]
    result = await llm.generate_with_tools(
        Role.TEACHER, MESSAGES, Verdict, prompt="t@1", tools=tools, call_tool=call_tool, max_tool_rounds=1
    )
    assert result.parsed.score == 0
    assert [b["tool_choice"] for b in script.bodies] == ["auto", "none"]


async def test_tools_disabled_by_settings() -> None:
    llm, _ = make_llm(Script(completion("{}")))

    async def call_tool(name: str, arguments: str) -> str:
        return ""

    with pytest.raises(LLMError) as info:
        await llm.generate_with_tools(Role.TEACHER, MESSAGES, Verdict, prompt="t@1", tools=[], call_tool=call_tool)
    assert info.value.kind is ErrorKind.BAD_REQUEST


async def test_aclose_closes_the_cache() -> None:
    closed: list[bool] = []

    class ClosingCache(MemoryCache):
        async def aclose(self) -> None:
            closed.append(True)

    llm, _ = make_llm(Script(completion("{}")), cache=ClosingCache())
    async with llm:
        pass
    assert closed == [True]


async def test_a_broken_cache_does_not_break_calls() -> None:
    class BrokenCache(MemoryCache):
        async def get(self, key: str) -> CachedResponse | None:
            raise OSError("disk gone")

        async def put(self, key: str, value: CachedResponse) -> None:
            raise OSError("disk gone")

    llm, _ = make_llm(Script(completion('{"score": 1}')), cache=BrokenCache())
    assert (await llm.generate(Role.JUDGE, MESSAGES, Verdict, prompt="p@1")).parsed.score == 1


async def test_max_completion_tokens_field() -> None:
    script = Script(completion('{"score": 1}'))
    llm, _ = make_llm(script, max_tokens_field="max_completion_tokens")
    await llm.generate(Role.JUDGE, MESSAGES, Verdict, prompt="p@1")
    assert script.bodies[0]["max_completion_tokens"] == 512
    assert "max_tokens" not in script.bodies[0]


async def test_cancellation_returns_the_slot() -> None:
    async def slow(request: httpx2.Request) -> httpx2.Response:
        await asyncio.sleep(10)
        return completion('{"score": 1}')

    settings = LLMSettings(base_url="http://mock.invalid/v1", default_model="m")
    client = openai.AsyncOpenAI(
        base_url=settings.endpoint,
        api_key="k",
        max_retries=0,
        http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(slow)),
    )
    llm = OpenAILLM(settings, client=client, limiters=LimiterRegistry())
    task = asyncio.create_task(llm.generate(Role.JUDGE, MESSAGES, Verdict, prompt="p@1"))
    await asyncio.sleep(0.05)
    assert llm.limiter_for("m").in_flight == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert llm.limiter_for("m").in_flight == 0
    assert llm.limiter_for("m").stats().cancelled == 1
