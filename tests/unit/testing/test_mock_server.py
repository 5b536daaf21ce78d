from __future__ import annotations

import asyncio
import json
import random
import re
import signal
import statistics
import sys
import time
from collections.abc import AsyncIterator
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal
from uuid import UUID

import aiohttp
import openai
import pytest
from pydantic import BaseModel, Field, ValidationError

from agentinstruct.testing.mock_server import (
    RESPONDERS,
    ChatRequest,
    MockConfig,
    MockServer,
    extract_words,
    generate_json,
    register_responder,
    sample_latency_ms,
)

PROMPT = (
    "Photosynthesis converts light energy into chemical energy stored in glucose molecules. "
    "Chlorophyll absorbs red and blue light inside the chloroplasts of green leaves."
)
PROMPT_WORDS = set(extract_words(PROMPT))
CONNECTORS = {"the", "of", "and", "to", "in", "with", "for", "on", "as", "by", "is", "that"}


class Level(StrEnum):
    EASY = "easy"
    MEDIUM = "medium"
    HARD = "hard"


class Step(BaseModel):
    index: int = Field(ge=1, le=10)
    text: str = Field(min_length=5, max_length=60)
    kind: Literal["think", "act"]


class Cat(BaseModel):
    kind: Literal["cat"]
    lives: int = Field(ge=1, le=9)


class Dog(BaseModel):
    kind: Literal["dog"]
    good: bool


class Node(BaseModel):
    name: str
    children: list[Node] = []


class Plan(BaseModel):
    title: str
    level: Level
    steps: list[Step] = Field(min_length=1, max_length=4)
    tags: set[str] = set()
    score: float = Field(gt=0, lt=1)
    note: str | None = None
    reviewer: Step | None
    zip_code: str = Field(pattern=r"^\d{5}(-\d{4})?$")
    ref: str = Field(pattern=r"^[A-Z]{2}-[0-9a-f]{4}$")
    when: datetime
    day: date
    uid: UUID
    pair: tuple[int, str]
    pet: Annotated[Cat | Dog, Field(discriminator="kind")]
    tree: Node
    counts: dict[str, int] = {}
    price: Decimal
    offset: int = Field(lt=0)
    bucket: int = Field(multiple_of=5, ge=7, le=30)


class Flat(BaseModel):
    question: str
    answer: str
    difficulty: Literal[1, 2, 3]
    confidence: float = Field(ge=0, le=1)


def schema_format(model: type[BaseModel]) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": model.__name__, "schema": model.model_json_schema()}}


def user(text: str = PROMPT) -> list[dict[str, Any]]:
    return [{"role": "system", "content": "You write JSON."}, {"role": "user", "content": text}]


def client_for(server: MockServer, **kwargs: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=server.base_url, api_key="x", max_retries=0, **kwargs)


@pytest.fixture
async def server() -> AsyncIterator[MockServer]:
    async with MockServer(MockConfig()) as srv:
        yield srv


@pytest.fixture
async def client(server: MockServer) -> AsyncIterator[openai.AsyncOpenAI]:
    async with client_for(server) as c:
        yield c


async def ask(client: openai.AsyncOpenAI, text: str = PROMPT, **kwargs: Any) -> Any:
    return await client.chat.completions.create(model="mock-model", messages=user(text), **kwargs)


# ---------------------------------------------------------------------------------------------------------------
# Schema-driven answers


def test_generator_is_valid_for_many_seeds() -> None:
    schema = Plan.model_json_schema()
    words = extract_words(PROMPT)
    for seed in range(300):
        value = generate_json(schema, random.Random(seed), words)
        Plan.model_validate_json(json.dumps(value))


def test_generator_handles_json_schema_keywords() -> None:
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": ["string", "null"], "minLength": 3, "maxLength": 4},
            "b": {"type": "array", "items": {"enum": ["x", "y"]}, "minItems": 2, "maxItems": 2},
            "c": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 0.01},
            "d": {"allOf": [{"$ref": "#/$defs/D"}]},
            "e": {"const": 42},
            "f": {"default": {"keep": True}},
            "g": {"type": "string", "pattern": "(?<!x)abc"},
            "h": {"type": "integer", "maximum": -5},
        },
        "required": ["a", "b", "c", "d", "e", "f", "g", "h"],
        "additionalProperties": False,
        "$defs": {"D": {"type": "object", "properties": {"k": {"type": "boolean"}}, "required": ["k"]}},
    }
    for seed in range(100):
        value = generate_json(schema, random.Random(seed), ["alpha", "beta"])
        assert value["a"] is None or 3 <= len(value["a"]) <= 4
        assert len(value["b"]) == 2 and set(value["b"]) <= {"x", "y"}
        assert 0 < value["c"] < 0.01
        assert isinstance(value["d"]["k"], bool)
        assert value["e"] == 42
        assert value["f"] == {"keep": True}
        assert "abc" in value["g"]
        assert value["h"] <= -5


@pytest.mark.parametrize("model", [Plan, Flat, Node])
async def test_answers_are_schema_valid(client: openai.AsyncOpenAI, model: type[BaseModel]) -> None:
    for i in range(5):
        response = await ask(client, f"{PROMPT} Variant {i}.", response_format=schema_format(model))
        choice = response.choices[0]
        assert choice.finish_reason == "stop"
        model.model_validate_json(choice.message.content)


async def test_strings_are_made_of_prompt_words(client: openai.AsyncOpenAI) -> None:
    response = await ask(client, response_format=schema_format(Flat))
    flat = Flat.model_validate_json(response.choices[0].message.content)
    for text in (flat.question, flat.answer):
        words = re.findall(r"[A-Za-z][A-Za-z'-]*", text)
        assert words
        allowed = {w.lower() for w in PROMPT_WORDS} | CONNECTORS
        assert {w.lower() for w in words} <= allowed


async def test_parse_helper_with_strict_schema(client: openai.AsyncOpenAI) -> None:
    response = await client.chat.completions.parse(model="m", messages=user(), response_format=Flat)
    assert isinstance(response.choices[0].message.parsed, Flat)


async def test_text_answer_usage_and_envelope(client: openai.AsyncOpenAI) -> None:
    response = await ask(client)
    content = response.choices[0].message.content
    assert content and not content.lstrip().startswith("{")
    assert response.model == "mock-model"
    assert response.object == "chat.completion"
    assert re.fullmatch(r"chatcmpl-[0-9a-f]+", response.id)
    assert response.created > 0
    assert response.usage is not None
    assert response.usage.prompt_tokens == 3 + len(PROMPT.split())  # "You write JSON." + the prompt
    assert response.usage.completion_tokens == len(content.split())


async def test_max_tokens_cuts_the_answer(client: openai.AsyncOpenAI) -> None:
    response = await ask(client, max_tokens=3)
    assert response.choices[0].finish_reason == "length"
    assert len(response.choices[0].message.content.split()) == 3


async def test_same_request_same_content_other_request_other_content(server: MockServer) -> None:
    fmt = schema_format(Plan)
    async with client_for(server) as client:
        first = await ask(client, response_format=fmt)
        second = await ask(client, response_format=fmt)
        other = await ask(client, PROMPT + " Also mention stomata.", response_format=fmt)
    async with MockServer(MockConfig(seed=99)) as fresh, client_for(fresh) as client:
        third = await ask(client, response_format=fmt)
    assert first.choices[0].message.content == second.choices[0].message.content
    assert first.choices[0].message.content == third.choices[0].message.content
    assert first.choices[0].message.content != other.choices[0].message.content


# ---------------------------------------------------------------------------------------------------------------
# Responders and tool calls


async def test_responder_by_prompt_header_and_by_schema_name(client: openai.AsyncOpenAI) -> None:
    seen: list[ChatRequest] = []

    @register_responder("demo/agent")
    def demo(request: ChatRequest, rng: random.Random) -> dict[str, Any]:
        seen.append(request)
        return {"question": "Q?", "answer": request.words[0], "difficulty": 2, "confidence": 0.5}

    @register_responder("Flat")
    def by_schema(request: ChatRequest, rng: random.Random) -> str:
        return '{"question": "by name", "answer": "a", "difficulty": 1, "confidence": 1}'

    try:
        response = await ask(
            client,
            response_format=schema_format(Flat),
            extra_headers={"x-agentinstruct-prompt": "demo/agent@1"},
        )
        flat = Flat.model_validate_json(response.choices[0].message.content)
        assert flat.answer == "Photosynthesis"
        assert seen[0].prompt_ref == "demo/agent@1"
        assert seen[0].prompt_name == "demo/agent"
        assert seen[0].schema_name == "Flat"
        assert seen[0].schema == Flat.model_json_schema()

        response = await ask(client, response_format=schema_format(Flat))
        assert Flat.model_validate_json(response.choices[0].message.content).question == "by name"
    finally:
        RESPONDERS.pop("demo/agent", None)
        RESPONDERS.pop("Flat", None)


async def test_tool_calls_when_enabled(server: MockServer, client: openai.AsyncOpenAI) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "search",
                "parameters": {
                    "type": "object",
                    "properties": {"query": {"type": "string"}, "limit": {"type": "integer", "minimum": 1}},
                    "required": ["query", "limit"],
                },
            },
        }
    ]
    response = await ask(client, tools=tools)
    assert response.choices[0].message.tool_calls is None

    server.configure(MockConfig(tool_calls=True))
    response = await ask(client, tools=tools)
    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.function.name == "search"
    arguments = json.loads(call.function.arguments)
    assert isinstance(arguments["query"], str) and arguments["limit"] >= 1

    messages = [
        *user(),
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "3 results"},
    ]
    final = await client.chat.completions.create(model="m", messages=messages, tools=tools)
    assert final.choices[0].finish_reason == "stop"
    assert final.choices[0].message.content


# ---------------------------------------------------------------------------------------------------------------
# Faults


async def test_injected_429_with_retry_after(server: MockServer, client: openai.AsyncOpenAI) -> None:
    server.configure(MockConfig(rate_429=1.0, retry_after_s=1.5))
    with pytest.raises(openai.RateLimitError) as info:
        await ask(client)
    assert info.value.response.headers["retry-after"] == "2"
    assert info.value.response.headers["retry-after-ms"] == "1500"
    assert info.value.code == "rate_limit_exceeded"


async def test_injected_500(server: MockServer, client: openai.AsyncOpenAI) -> None:
    server.configure(MockConfig(rate_500=1.0))
    with pytest.raises(openai.InternalServerError) as info:
        await ask(client)
    assert info.value.status_code == 500


async def test_timeout_holds_until_the_client_gives_up(server: MockServer) -> None:
    server.configure(MockConfig(rate_timeout=1.0, timeout_hold_s=30))
    started = time.perf_counter()
    async with client_for(server, timeout=0.3) as client:
        with pytest.raises(openai.APITimeoutError):
            await ask(client)
    assert time.perf_counter() - started < 5
    for _ in range(50):
        if server.stats()["inflight"] == 0:
            break
        await asyncio.sleep(0.02)
    stats = server.stats()
    assert stats["inflight"] == 0
    assert stats["outcomes"]["timeout"] == 1


async def test_timeout_hold_then_504(server: MockServer, client: openai.AsyncOpenAI) -> None:
    server.configure(MockConfig(rate_timeout=1.0, timeout_hold_s=0.05))
    with pytest.raises(openai.InternalServerError) as info:
        await ask(client)
    assert info.value.status_code == 504


async def test_malformed_content_is_not_json(server: MockServer, client: openai.AsyncOpenAI) -> None:
    server.configure(MockConfig(rate_malformed=1.0))
    response = await ask(client, response_format=schema_format(Flat))
    assert response.choices[0].finish_reason == "stop"
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.choices[0].message.content)


async def test_truncated_content(server: MockServer, client: openai.AsyncOpenAI) -> None:
    server.configure(MockConfig(rate_truncated=1.0))
    response = await ask(client, response_format=schema_format(Flat))
    assert response.choices[0].finish_reason == "length"
    with pytest.raises(ValidationError):
        Flat.model_validate_json(response.choices[0].message.content)
    with pytest.raises(openai.LengthFinishReasonError):
        await client.chat.completions.parse(model="m", messages=user(), response_format=Flat)


def test_fault_rate_splits_evenly_and_rates_are_checked() -> None:
    assert MockConfig(fault_rate=0.5).effective_rates() == pytest.approx((0.1,) * 5)
    with pytest.raises(ValidationError):
        MockConfig(fault_rate=0.5, rate_500=0.7)


async def test_fault_mix_is_counted_and_reproducible(server: MockServer, client: openai.AsyncOpenAI) -> None:
    async def run() -> list[str]:
        kinds = []
        for i in range(60):
            try:
                response = await ask(client, f"{PROMPT} {i}", response_format=schema_format(Flat))
            except openai.RateLimitError:
                kinds.append("429")
            except openai.InternalServerError as exc:
                kinds.append("timeout" if exc.status_code == 504 else "500")
            else:
                choice = response.choices[0]
                if choice.finish_reason == "length":
                    kinds.append("truncated")
                else:
                    try:
                        Flat.model_validate_json(choice.message.content)
                        kinds.append("ok")
                    except ValidationError:
                        kinds.append("malformed")
        return kinds

    server.configure(MockConfig(fault_rate=0.8, timeout_hold_s=0.0, seed=7))
    kinds = await run()
    stats = server.stats()
    assert stats["requests_total"] == 60
    for kind in ("ok", "429", "500", "timeout", "malformed", "truncated"):
        assert stats["outcomes"][kind] == kinds.count(kind) > 0
    server.reset_stats()
    assert await run() == kinds


async def test_capacity_refuses_beyond_the_limit(server: MockServer, client: openai.AsyncOpenAI) -> None:
    server.configure(MockConfig(capacity=2, latency_median_ms=300))
    results = await asyncio.gather(*(ask(client, f"{PROMPT} {i}") for i in range(6)), return_exceptions=True)
    refused = [r for r in results if isinstance(r, openai.RateLimitError)]
    assert len(refused) == 4
    assert refused[0].response.headers["retry-after"] == "1"
    stats = server.stats()
    assert stats["rejected"]["capacity"] == 4
    assert stats["peak_inflight"] == 2
    assert stats["outcomes"]["ok"] == 2


async def test_queueing_slows_down_instead_of_refusing(server: MockServer, client: openai.AsyncOpenAI) -> None:
    server.configure(MockConfig(capacity=1, queueing=True, queue_knee=2, latency_median_ms=100))
    await ask(client)
    alone = server.stats()["latency_ms"]["max"]
    server.reset_stats()
    results = await asyncio.gather(*(ask(client, f"{PROMPT} {i}") for i in range(12)))
    assert len(results) == 12
    stats = server.stats()
    assert stats["outcomes"]["ok"] == 12
    assert stats["peak_inflight"] >= 10
    assert stats["latency_ms"]["max"] > 2.5 * alone
    assert 1 < stats["mean_inflight"] <= 12


async def test_rate_limit_headers_and_rpm(server: MockServer, client: openai.AsyncOpenAI) -> None:
    server.configure(MockConfig(ratelimit_headers=True, rpm_limit=3, tpm_limit=100_000))
    remaining = []
    for _ in range(3):
        raw = await client.chat.completions.with_raw_response.create(model="m", messages=user())
        remaining.append(raw.headers["x-ratelimit-remaining-requests"])
        assert raw.headers["x-ratelimit-limit-tokens"] == "100000"
        assert int(raw.headers["x-ratelimit-remaining-tokens"]) < 100_000
        assert raw.headers["x-ratelimit-reset-requests"].endswith("s")
    assert remaining == ["2", "1", "0"]
    with pytest.raises(openai.RateLimitError) as info:
        await ask(client)
    headers = info.value.response.headers
    assert 59 <= int(headers["retry-after"]) <= 60
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert server.stats()["rejected"]["rate_limit"] == 1


async def test_tpm_limit(server: MockServer, client: openai.AsyncOpenAI) -> None:
    server.configure(MockConfig(tpm_limit=40))
    await ask(client)
    with pytest.raises(openai.RateLimitError):
        await ask(client)


async def test_api_key_is_required_when_configured(server: MockServer) -> None:
    server.configure(MockConfig(api_key="secret"))
    async with client_for(server) as wrong:
        with pytest.raises(openai.AuthenticationError) as info:
            await ask(wrong)
        assert info.value.code == "invalid_api_key"
        with pytest.raises(openai.AuthenticationError):
            await wrong.models.list()
    async with openai.AsyncOpenAI(base_url=server.base_url, api_key="secret", max_retries=0) as right:
        assert (await ask(right)).choices[0].message.content
        models = await right.models.list()
        assert [m.id for m in models.data] == ["mock-model"]


async def test_context_limit_and_stream_are_bad_requests(server: MockServer, client: openai.AsyncOpenAI) -> None:
    server.configure(MockConfig(context_limit_tokens=10))
    with pytest.raises(openai.BadRequestError) as info:
        await ask(client)
    assert info.value.code == "context_length_exceeded"
    with pytest.raises(openai.BadRequestError):
        await client.chat.completions.create(model="m", messages=user("short"), stream=True)


# ---------------------------------------------------------------------------------------------------------------
# Control endpoints, latency model, command line


async def test_control_endpoints(server: MockServer, client: openai.AsyncOpenAI) -> None:
    root = server.base_url.removesuffix("/v1")
    await ask(client)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{root}/mock/stats") as resp:
            stats = await resp.json()
        assert stats["requests_total"] == 1
        assert stats["outcomes"]["ok"] == 1
        assert stats["latency_ms"]["count"] == 1
        assert {"inflight", "peak_inflight", "mean_inflight"} <= stats.keys()

        async with http.post(f"{root}/mock/reset") as resp:
            assert resp.status == 200
        async with http.get(f"{root}/mock/stats") as resp:
            assert (await resp.json())["requests_total"] == 0

        async with http.post(f"{root}/mock/config", json={"rate_500": 1.0, "latency_median_ms": 1}) as resp:
            assert resp.status == 200
        with pytest.raises(openai.InternalServerError):
            await ask(client)
        async with http.post(f"{root}/mock/config?merge=1", json={"rate_500": 0.0}) as resp:
            assert (await resp.json())["latency_median_ms"] == 1
        assert (await ask(client)).choices[0].message.content
        async with http.post(f"{root}/mock/config", json={"rate_500": 2}) as resp:
            assert resp.status == 400
            assert "error" in await resp.json()
        async with http.post(f"{root}/v1/chat/completions", data=b"{not json") as resp:
            assert resp.status == 400


@pytest.mark.parametrize("dist", ["fixed", "lognormal", "pareto", "uniform"])
def test_latency_distributions(dist: Literal["fixed", "lognormal", "pareto", "uniform"]) -> None:
    config = MockConfig(latency_dist=dist, latency_median_ms=100, seed=3)
    rng_a, rng_b = random.Random(config.seed), random.Random(config.seed)
    samples = [sample_latency_ms(config, rng_a) for _ in range(4000)]
    assert samples == [sample_latency_ms(config, rng_b) for _ in range(4000)]
    assert statistics.median(samples) == pytest.approx(100, rel=0.1)
    if dist in ("lognormal", "pareto"):
        assert max(samples) > 500
    capped = MockConfig(latency_dist=dist, latency_median_ms=100, latency_max_ms=150)
    assert max(sample_latency_ms(capped, rng_a) for _ in range(1000)) <= 150


async def test_runs_as_a_process() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "agentinstruct.testing.mock_server",
        "--port",
        "0",
        "--latency-median-ms",
        "1",
        "--latency-dist",
        "lognormal",
        "--fault-rate",
        "0",
        "--no-queueing",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 20)
        base_url = line.decode().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", base_url)
        async with openai.AsyncOpenAI(base_url=base_url, api_key="x", max_retries=0) as client:
            assert (await ask(client)).choices[0].message.content
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 10) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
