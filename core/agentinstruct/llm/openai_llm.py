"""The one module that makes LLM calls: `OpenAILLM` against any OpenAI-compatible endpoint.

One `openai.AsyncOpenAI` client with the SDK's own retries off; this module owns the retry policy. Each call:
cache lookup (a hit costs no slot) -> admission by the shared `Limiter` of its (endpoint, model) -> one HTTP
request -> classification of any failure -> validation of the answer against the pydantic schema -> cache put.
Retryable failures (429, 5xx, timeouts, connection errors, truncated or schema-invalid answers) are retried
up to `max_attempts` with exponential backoff and full jitter, honouring Retry-After; the others raise at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import time
import urllib.parse
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
import httpx2
import openai
from openai.lib._pydantic import to_strict_json_schema
from pydantic import BaseModel, Field, ValidationError

from agentinstruct.llm.base import LLMResult, Role, ToolCall
from agentinstruct.llm.cache import CachedResponse, ResponseCache, cache_key, digest
from agentinstruct.llm.errors import ErrorKind, LLMError
from agentinstruct.llm.limits import SHARED_LIMITERS, LimitConfig, Limiter, LimiterRegistry, Outcome, parse_retry_after
from agentinstruct.llm.settings import LLMSettings
from agentinstruct_schemas import LLMCallRecord, Usage

log = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)

CallHook = Callable[[LLMCallRecord, ErrorKind | None], None]
"""Observer of every HTTP attempt and cache hit: the record (tokens and HTTP latency of that attempt; `cached`
for a hit) and the error kind if the attempt failed (None for the attempt that produced the answer)."""

ToolRunner = Callable[[str, str], Awaitable[str]]
"""Runs a tool: (name, JSON arguments) -> result text."""

_FENCE_RE = re.compile(r"^\s*```[A-Za-z0-9_-]*[ \t]*\r?\n?(.*?)\r?\n?[ \t]*```\s*$", re.DOTALL)
_NAME_RE = re.compile(r"[^A-Za-z0-9_-]")
_CONTEXT_MARKERS = (
    "context_length_exceeded",
    "maximum context length",
    "context length",
    "context window",
    "exceed_context_size",
    "exceeds the available context size",
    "context size",
    "too many tokens",
    "prompt is too long",
)
_MAX_MESSAGE = 500
_MAX_RETRY_AFTER_S = 300.0
_CONNECTION_FAILURES = (
    aiohttp.ClientConnectorError,
    aiohttp.ServerDisconnectedError,
    ConnectionError,
    httpx2.ConnectError,
)


# -- error classification -------------------------------------------------------------------------------


def classify(exc: BaseException) -> LLMError:
    """Map any exception raised by a call to one `LLMError` kind (retry policy and metrics speak only these)."""
    if isinstance(exc, LLMError):
        return exc
    if isinstance(exc, openai.APITimeoutError):
        kind = ErrorKind.CONNECTION if _caused_by_connection_failure(exc) else ErrorKind.TIMEOUT
        return LLMError(kind, _describe(exc))
    if isinstance(exc, openai.APIConnectionError):
        kind = ErrorKind.TIMEOUT if _caused_by_timeout(exc) else ErrorKind.CONNECTION
        return LLMError(kind, _describe(exc))
    if isinstance(exc, openai.APIStatusError):
        return _classify_status(exc)
    if isinstance(exc, openai.LengthFinishReasonError):
        return LLMError(ErrorKind.TRUNCATED, "answer truncated at max_tokens", raw=_completion_text(exc.completion))
    if isinstance(exc, openai.ContentFilterFinishReasonError):
        return LLMError(ErrorKind.CONTENT_FILTER, "answer stopped by the content filter")
    if isinstance(exc, openai.APIResponseValidationError):
        return LLMError(ErrorKind.SERVER, _describe(exc))
    if isinstance(exc, ValidationError | json.JSONDecodeError):
        return LLMError(ErrorKind.SCHEMA_INVALID, _describe(exc))
    if isinstance(exc, httpx2.TimeoutException | TimeoutError):
        return LLMError(ErrorKind.TIMEOUT, _describe(exc))
    if isinstance(exc, httpx2.TransportError | aiohttp.ClientError | OSError):
        return LLMError(ErrorKind.CONNECTION, _describe(exc))
    return LLMError(ErrorKind.BAD_REQUEST, _describe(exc))


def _classify_status(exc: openai.APIStatusError) -> LLMError:
    status = exc.status_code
    headers = exc.response.headers if exc.response is not None else None
    retry_after = parse_retry_after(headers)
    message = _describe(exc)
    text = _error_text(exc)
    if status == 429:
        if "insufficient_quota" in text:
            return LLMError(ErrorKind.AUTH, message)
        return LLMError(ErrorKind.RATE_LIMIT, message, retry_after=retry_after)
    if status >= 500:
        return LLMError(ErrorKind.SERVER, message, retry_after=retry_after)
    if status in (401, 403):
        return LLMError(ErrorKind.AUTH, message)
    if status == 408:
        return LLMError(ErrorKind.TIMEOUT, message, retry_after=retry_after)
    if status == 409:
        return LLMError(ErrorKind.SERVER, message, retry_after=retry_after)
    if status == 413 or any(marker in text for marker in _CONTEXT_MARKERS):
        return LLMError(ErrorKind.CONTEXT_LENGTH, message)
    if "content_filter" in text or "content filter" in text or "content_policy" in text:
        return LLMError(ErrorKind.CONTENT_FILTER, message)
    return LLMError(ErrorKind.BAD_REQUEST, message)


# Admission order when calls wait: the later a role's step in the flow, the sooner it goes, so that work already
# under way finishes first.
_ROLE_PRIORITY = {Role.TRANSFORM: 0, Role.SUGGEST: 1, Role.EDIT: 2, Role.TEACHER: 3, Role.JUDGE: 4}

_RATE_MARKERS = ("per min", "per-min", "per_min", "rpm", "tpm", "requests per", "tokens per", "rate limit", "quota")


def is_rate_refusal(exc: BaseException) -> bool:
    """Whether a 429 refuses by request or token rate (every caller must wait out its Retry-After) rather than
    for concurrency (the server is full right now; the calls already in flight are fine): the provider's
    `x-ratelimit-remaining-*` at 0, or an error text that names a rate or quota."""
    if not isinstance(exc, openai.APIStatusError) or exc.status_code != 429:
        return False
    headers = exc.response.headers if exc.response is not None else {}
    for name in ("x-ratelimit-remaining-requests", "x-ratelimit-remaining-tokens"):
        value = headers.get(name)
        if value is not None and value.strip() in ("0", "0.0"):
            return True
    text = _error_text(exc)
    return any(marker in text for marker in _RATE_MARKERS)


def _error_text(exc: openai.APIStatusError) -> str:
    parts = [exc.message or "", str(exc.code or "")]
    body = exc.body
    if isinstance(body, dict):
        parts.append(json.dumps(body, default=str))
    elif body is not None:
        parts.append(str(body))
    return " ".join(parts).lower()


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    status = getattr(exc, "status_code", None)
    prefix = f"{type(exc).__name__}" + (f" ({status})" if status is not None else "")
    message = f"{prefix}: {text}"
    return message if len(message) <= _MAX_MESSAGE else message[: _MAX_MESSAGE - 3] + "..."


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _caused_by_connection_failure(exc: BaseException) -> bool:
    for cause in _chain(exc)[1:]:
        if isinstance(cause, aiohttp.ServerTimeoutError | aiohttp.SocketTimeoutError | TimeoutError):
            return False
        if isinstance(cause, _CONNECTION_FAILURES):
            return True
    return False


def _caused_by_timeout(exc: BaseException) -> bool:
    return any(isinstance(c, httpx2.TimeoutException | TimeoutError) for c in _chain(exc)[1:])


def _completion_text(completion: Any) -> str | None:
    try:
        content = completion.choices[0].message.content
    except (AttributeError, IndexError, TypeError):
        return None
    return content if isinstance(content, str) else None


# -- answers ----------------------------------------------------------------------------------------------


def strip_fence(text: str) -> str:
    """The JSON inside a ```json ... ``` fence, or the text unchanged."""
    if "```" not in text:
        return text
    match = _FENCE_RE.match(text)
    return match.group(1) if match else text


@dataclass(slots=True)
class _Answer:
    content: str
    finish_reason: str
    tool_calls: tuple[ToolCall, ...]
    model: str
    prompt_tokens: int
    completion_tokens: int
    cached: bool = False


def _parse_envelope(response: httpx2.Response, model: str, estimated_prompt_tokens: int) -> _Answer:
    raw = response.content
    try:
        data = json.loads(raw)
        choice = data["choices"][0]
        message = choice["message"] or {}
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        text = raw.decode("utf-8", "replace")
        raise LLMError(ErrorKind.SERVER, f"malformed response body: {exc}", raw=text[:10_000]) from None
    content = message.get("content")
    if not isinstance(content, str):
        content = "" if content is None else json.dumps(content)
    finish_reason = str(choice.get("finish_reason") or "stop")
    if message.get("refusal"):
        finish_reason = "content_filter"
        content = content or str(message["refusal"])
    calls: tuple[ToolCall, ...] = ()
    raw_calls = message.get("tool_calls")
    if raw_calls:
        try:
            calls = tuple(
                ToolCall(
                    id=str(c.get("id") or f"call_{i}"),
                    name=c["function"]["name"],
                    arguments=c["function"].get("arguments") or "{}",
                )
                for i, c in enumerate(raw_calls)
            )
        except (KeyError, TypeError, AttributeError):
            raise LLMError(ErrorKind.SCHEMA_INVALID, "malformed tool_calls", raw=json.dumps(raw_calls)) from None
    usage = data.get("usage") or {}
    prompt_tokens = usage.get("prompt_tokens")
    completion_tokens = usage.get("completion_tokens")
    return _Answer(
        content=content,
        finish_reason=finish_reason,
        tool_calls=calls,
        model=model,
        prompt_tokens=int(prompt_tokens) if prompt_tokens is not None else estimated_prompt_tokens,
        completion_tokens=int(completion_tokens) if completion_tokens is not None else len(content) // 4 + 1,
    )


def _check_finish(answer: _Answer) -> None:
    if answer.finish_reason == "length":
        raise LLMError(ErrorKind.TRUNCATED, "answer truncated at max_tokens", raw=answer.content)
    if answer.finish_reason == "content_filter":
        raise LLMError(ErrorKind.CONTENT_FILTER, "answer stopped by the content filter", raw=answer.content)


def _validate(schema: type[T], answer: _Answer) -> T:
    _check_finish(answer)
    if answer.tool_calls:
        raise LLMError(ErrorKind.SCHEMA_INVALID, "tool calls where an answer was expected", raw=answer.content)
    try:
        return schema.model_validate_json(strip_fence(answer.content))
    except ValidationError as exc:
        message = f"answer does not match {schema.__name__}: {exc.error_count()} error(s): {exc.errors()[0]['msg']}"
        raise LLMError(ErrorKind.SCHEMA_INVALID, message, raw=answer.content) from None


def _validate_tool_args(answer: _Answer) -> None:
    for call in answer.tool_calls:
        try:
            json.loads(call.arguments or "{}")
        except ValueError:
            raise LLMError(
                ErrorKind.SCHEMA_INVALID, f"tool {call.name}: arguments are not JSON", raw=call.arguments
            ) from None


def _estimate_prompt_tokens(messages: Sequence[Mapping[str, Any]]) -> int:
    chars = 0
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            chars += len(content)
        elif content:
            chars += len(str(content))
    return chars // 4 + 4 * len(messages)


# -- accounting -------------------------------------------------------------------------------------------


class TokenCount(BaseModel):
    calls: int = 0
    cached_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


class LLMSnapshot(BaseModel):
    """Accounting of one `OpenAILLM` so far, for the CLI summary and tests.

    `usage` counts returned answers (`calls` from the network, `cached_calls` from the cache) and every token
    consumed, including by attempts that were retried and calls that failed in the end.
    """

    usage: Usage
    requests: int = Field(description="HTTP attempts")
    retries: int
    failed_calls: int
    cache_hits: int
    cost_usd: float
    errors: dict[str, int] = Field(description="failed attempts by error kind")
    failures: dict[str, int] = Field(description="calls that raised, by error kind")
    by_model: dict[str, TokenCount]
    by_role: dict[str, TokenCount]
    limiters: dict[str, dict[str, Any]]


@dataclass(slots=True)
class _CallState:
    attempts: int = 0
    content_failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    last_raw: str | None = None
    last_latency_s: float = 0.0


# -- the client --------------------------------------------------------------------------------------------


class OpenAILLM:
    """The `LLM` port over an OpenAI-compatible chat completions endpoint.

    `cache`: answers are looked up before admission and stored after validation. `limiters`: where the
    shared per-(endpoint, model) limiters live (default: the process-wide `SHARED_LIMITERS`; the first
    creator's settings configure a limiter). `on_call(record, error_kind)`: called for every HTTP attempt
    (with the kind when it failed) and every cache hit. `client`, `sleep` and `rng` are for tests.
    """

    def __init__(
        self,
        settings: LLMSettings,
        *,
        cache: ResponseCache | None = None,
        limiters: LimiterRegistry | None = None,
        on_call: CallHook | None = None,
        client: openai.AsyncOpenAI | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.cache = cache
        self.on_call = on_call
        self._limiters = SHARED_LIMITERS if limiters is None else limiters
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._client = client or self._make_client(settings)
        self._owns_client = client is None
        self._limit_config = LimitConfig(
            concurrency=settings.concurrency,
            rpm=settings.rpm,
            tpm=settings.tpm,
            adaptive=settings.adaptive,
            latency_backpressure=settings.latency_backpressure,
        )
        self._formats: dict[type[BaseModel], tuple[dict[str, Any], str]] = {}
        self._limiter_by_model: dict[str, Limiter] = {}
        # accounting
        self.totals = Usage()
        self.by_model: dict[str, TokenCount] = {}
        self.by_role: dict[str, TokenCount] = {}
        self.errors: Counter[ErrorKind] = Counter()
        self.failures: Counter[ErrorKind] = Counter()
        self.requests = 0
        self.retries = 0
        self.cache_hits = 0
        self.cost_usd = 0.0

    @staticmethod
    def _make_client(settings: LLMSettings) -> openai.AsyncOpenAI:
        limits = httpx2.Limits(
            max_connections=max(1000, 4 * settings.concurrency),
            max_keepalive_connections=max(100, 2 * settings.concurrency),
        )
        timeout = httpx2.Timeout(settings.timeout_s, connect=min(settings.timeout_s, 10.0))
        http_client: httpx2.AsyncClient
        if settings.http_transport == "aiohttp":
            http_client = openai.DefaultAioHttpClient(limits=limits, timeout=timeout)
        else:
            http_client = openai.DefaultAsyncHttpxClient(limits=limits, timeout=timeout)
        api_key = settings.api_key.get_secret_value() if settings.api_key is not None else "no-key"
        return openai.AsyncOpenAI(
            base_url=settings.endpoint,
            api_key=api_key,
            max_retries=0,
            timeout=timeout,
            http_client=http_client,
        )

    def __repr__(self) -> str:
        return f"OpenAILLM(endpoint={self.settings.endpoint!r}, default_model={self.settings.default_model!r})"

    # -- LLM protocol -------------------------------------------------------------------------------------

    def model_for(self, role: Role) -> str:
        return self.settings.model_for(role)

    def limiter_for(self, model: str) -> Limiter:
        limiter = self._limiter_by_model.get(model)
        if limiter is None:
            limiter = self._limiters.get(self.settings.endpoint, model, self._limit_config)
            self._limiter_by_model[model] = limiter
        return limiter

    async def generate(
        self,
        role: Role,
        messages: list[dict[str, Any]],
        schema: type[T],
        *,
        prompt: str,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> LLMResult[T]:
        """One structured answer: `schema` parsed from the model's reply, or `LLMError` once retries run out."""
        started = time.perf_counter()

        def validate(answer: _Answer) -> T:
            return _validate(schema, answer)

        answer, parsed, state = await self._call(
            role,
            messages,
            schema,
            prompt=prompt,
            max_tokens=max_tokens,
            temperature=temperature,
            validate=validate,
        )
        assert parsed is not None
        return LLMResult(
            parsed=parsed,
            text=answer.content,
            record=self._final_record(role, answer, prompt, state, started),
            finish_reason=answer.finish_reason,
        )

    async def generate_with_tools(
        self,
        role: Role,
        messages: list[dict[str, Any]],
        schema: type[T],
        *,
        prompt: str,
        tools: list[dict[str, Any]],
        call_tool: ToolRunner,
        max_tool_rounds: int = 4,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> LLMResult[T]:
        """Let the model call `tools` (run by `call_tool`) for up to `max_tool_rounds` rounds, then answer.

        Requires `settings.function_calling`. The final round forbids tool calls (`tool_choice="none"`). The
        result's `tool_calls` lists every call made; its record sums the tokens of all rounds.
        """
        if not self.settings.function_calling:
            raise LLMError(ErrorKind.BAD_REQUEST, "function calling is disabled (settings.function_calling)")
        started = time.perf_counter()
        conversation = list(messages)
        made: list[ToolCall] = []
        total = _CallState()

        def validate(answer: _Answer) -> T | None:
            if answer.tool_calls:
                _check_finish(answer)
                _validate_tool_args(answer)
                return None
            return _validate(schema, answer)

        for round_index in range(max_tool_rounds + 1):
            last = round_index == max_tool_rounds
            answer, parsed, state = await self._call(
                role,
                conversation,
                schema,
                prompt=prompt,
                max_tokens=max_tokens,
                temperature=temperature,
                validate=validate if not last else (lambda a: _validate(schema, a)),
                tools=tools,
                tool_choice="none" if last else "auto",
            )
            total.attempts += state.attempts
            total.prompt_tokens += state.prompt_tokens
            total.completion_tokens += state.completion_tokens
            if parsed is not None:
                return LLMResult(
                    parsed=parsed,
                    text=answer.content,
                    record=self._final_record(role, answer, prompt, total, started),
                    finish_reason=answer.finish_reason,
                    tool_calls=made,
                )
            conversation.append(
                {
                    "role": "assistant",
                    "content": answer.content or None,
                    "tool_calls": [
                        {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                        for c in answer.tool_calls
                    ],
                }
            )
            for tool_call in answer.tool_calls:
                made.append(tool_call)
                try:
                    output = await call_tool(tool_call.name, tool_call.arguments)
                except Exception as exc:
                    output = f"error: {type(exc).__name__}: {exc}"
                conversation.append({"role": "tool", "tool_call_id": tool_call.id, "content": output})
        raise AssertionError("unreachable: the last round requires an answer")

    # -- the call loop --------------------------------------------------------------------------------------

    def _response_format(self, schema: type[BaseModel]) -> tuple[dict[str, Any], str]:
        cached = self._formats.get(schema)
        if cached is None:
            strict = self.settings.json_schema_strict
            json_schema = to_strict_json_schema(schema) if strict else schema.model_json_schema()
            fmt: dict[str, Any] = {
                "type": "json_schema",
                "json_schema": {
                    "name": _NAME_RE.sub("_", schema.__name__)[:64] or "answer",
                    "schema": json_schema,
                    "strict": strict,
                },
            }
            cached = (fmt, digest(fmt))
            self._formats[schema] = cached
        return cached

    async def _call(
        self,
        role: Role,
        messages: list[dict[str, Any]],
        schema: type[BaseModel],
        *,
        prompt: str,
        max_tokens: int | None,
        temperature: float | None,
        validate: Callable[[_Answer], T | None],
        tools: list[dict[str, Any]] | None = None,
        tool_choice: str | None = None,
    ) -> tuple[_Answer, T | None, _CallState]:
        settings = self.settings
        model = settings.model_for(role)
        max_tokens = settings.max_tokens_for(role) if max_tokens is None else max_tokens
        temperature = settings.temperature_for(role) if temperature is None else temperature
        response_format, format_digest = self._response_format(schema)
        state = _CallState()

        key: str | None = None
        if self.cache is not None:
            key = cache_key(
                model=model,
                messages=messages,
                response_format=format_digest,
                temperature=temperature,
                max_tokens=max_tokens,
                seed=settings.seed,
                extra_body=settings.extra_body,
                tools=tools,
                tool_choice=tool_choice,
                prompt=prompt,
            )
            try:
                hit = await self.cache.get(key)
            except Exception:
                log.warning("response cache lookup failed; calling the model", exc_info=True)
                hit = None
            if hit is not None:
                answer = _Answer(
                    content=hit.content,
                    finish_reason=hit.finish_reason,
                    tool_calls=hit.tool_calls,
                    model=hit.model,
                    prompt_tokens=hit.prompt_tokens,
                    completion_tokens=hit.completion_tokens,
                    cached=True,
                )
                try:
                    parsed = validate(answer)
                except LLMError:
                    log.debug("cached answer no longer validates; calling the model")
                else:
                    state.prompt_tokens = answer.prompt_tokens
                    state.completion_tokens = answer.completion_tokens
                    self._account_cached(role, answer, prompt)
                    return answer, parsed, state

        body: dict[str, Any] = {
            "model": model,
            "messages": messages,
            "response_format": response_format,
            "temperature": temperature,
            settings.max_tokens_field: max_tokens,
        }
        if tools:
            body["tools"] = tools
            body["tool_choice"] = tool_choice or "auto"
        if settings.extra_body:
            body.update(settings.extra_body)
        estimated_prompt = _estimate_prompt_tokens(messages)
        limiter = self.limiter_for(model)
        headers = {"x-agentinstruct-prompt": _header_value(prompt)}

        while True:
            state.attempts += 1
            if settings.seed is not None:
                body["seed"] = settings.seed + state.content_failures
            used = (0, 0)
            try:
                answer = await self._attempt(
                    limiter, body, headers, model, estimated_prompt, max_tokens, state, _ROLE_PRIORITY.get(role, 0)
                )
                used = (answer.prompt_tokens, answer.completion_tokens)
                state.prompt_tokens += answer.prompt_tokens
                state.completion_tokens += answer.completion_tokens
                self._account_tokens(role, model, answer.prompt_tokens, answer.completion_tokens)
                parsed = validate(answer)
            except LLMError as error:
                if error.raw is not None:
                    state.last_raw = error.raw
                if error.kind in (ErrorKind.TRUNCATED, ErrorKind.SCHEMA_INVALID):
                    state.content_failures += 1
                self.errors[error.kind] += 1
                self._notify(role, model, prompt, used, state.last_latency_s, error.kind)
                if not error.retryable or state.attempts >= settings.max_attempts:
                    error.attempts = state.attempts
                    if error.raw is None:
                        error.raw = state.last_raw
                    self.failures[error.kind] += 1
                    raise
                self.retries += 1
                await self._sleep(self._backoff(state.attempts, error))
                continue
            self._account_answer(role, answer)
            self._notify(role, model, prompt, used, state.last_latency_s, None)
            if key is not None and self.cache is not None:
                entry = CachedResponse(
                    content=answer.content,
                    finish_reason=answer.finish_reason,
                    model=answer.model,
                    prompt_tokens=answer.prompt_tokens,
                    completion_tokens=answer.completion_tokens,
                    tool_calls=answer.tool_calls,
                )
                try:
                    await self.cache.put(key, entry)
                except Exception:
                    log.warning("response cache store failed; the answer is returned uncached", exc_info=True)
            return answer, parsed, state

    async def _attempt(
        self,
        limiter: Limiter,
        body: dict[str, Any],
        headers: dict[str, str],
        model: str,
        estimated_prompt: int,
        max_tokens: int,
        state: _CallState,
        priority: int = 0,
    ) -> _Answer:
        """One admitted HTTP request; its latency goes to `state.last_latency_s`."""
        permit = await limiter.acquire(estimated_prompt + max_tokens, priority)
        self.requests += 1
        start = time.perf_counter()
        state.last_latency_s = 0.0
        try:
            response = await self._client.post(
                "/chat/completions", cast_to=httpx2.Response, body=body, options={"headers": headers}
            )
        except asyncio.CancelledError:
            limiter.release(permit, Outcome.CANCELLED)
            raise
        except Exception as exc:
            state.last_latency_s = time.perf_counter() - start
            error = classify(exc)
            if error.kind is ErrorKind.RATE_LIMIT:
                limiter.release(
                    permit, Outcome.RATE_LIMITED, retry_after_s=error.retry_after, pause_all=is_rate_refusal(exc)
                )
                if isinstance(exc, openai.APIStatusError) and exc.response is not None:
                    limiter.update_from_headers(exc.response.headers)
            else:
                limiter.release(permit, Outcome.FAILURE)
            raise error from exc
        except BaseException:
            limiter.release(permit, Outcome.FAILURE)
            raise
        latency = state.last_latency_s = time.perf_counter() - start
        try:
            answer = _parse_envelope(response, model, estimated_prompt)
        except LLMError:
            limiter.release(permit, Outcome.SUCCESS, latency_s=latency)
            raise
        limiter.release(
            permit, Outcome.SUCCESS, latency_s=latency, tokens_used=answer.prompt_tokens + answer.completion_tokens
        )
        limiter.update_from_headers(response.headers)
        return answer

    def _backoff(self, attempt: int, error: LLMError) -> float:
        """Full jitter: uniform(0, min(max, base * 2**(attempt-1))); at least Retry-After when the server sent one."""
        settings = self.settings
        ceiling = min(settings.backoff_max_s, settings.backoff_base_s * (2 ** (attempt - 1)))
        delay = self._rng.uniform(0.0, ceiling)
        if error.retry_after is not None:
            wait = min(error.retry_after, _MAX_RETRY_AFTER_S)
            delay = max(delay, wait + self._rng.uniform(0.0, settings.backoff_base_s))
        return delay

    # -- accounting ------------------------------------------------------------------------------------------

    def _account_tokens(self, role: Role, model: str, prompt_tokens: int, completion_tokens: int) -> None:
        totals = self.totals
        totals.prompt_tokens += prompt_tokens
        totals.completion_tokens += completion_tokens
        totals.by_role[role.value] = totals.by_role.get(role.value, 0) + prompt_tokens + completion_tokens
        cost = 0.0
        price = self.settings.cost_per_1k_tokens.get(model)
        if price is not None:
            cost = (prompt_tokens * price[0] + completion_tokens * price[1]) / 1000.0
            self.cost_usd += cost
        for table, name in ((self.by_model, model), (self.by_role, role.value)):
            count = table.get(name)
            if count is None:
                count = table[name] = TokenCount()
            count.prompt_tokens += prompt_tokens
            count.completion_tokens += completion_tokens
            count.cost_usd += cost

    def _account_answer(self, role: Role, answer: _Answer) -> None:
        """Count a returned answer (its tokens were counted per attempt)."""
        self.totals.calls += 1
        for table, name in ((self.by_model, answer.model), (self.by_role, role.value)):
            count = table.get(name)
            if count is None:
                count = table[name] = TokenCount()
            count.calls += 1

    def _account_cached(self, role: Role, answer: _Answer, prompt: str) -> None:
        self.cache_hits += 1
        self.totals.cached_calls += 1
        for table, name in ((self.by_model, answer.model), (self.by_role, role.value)):
            count = table.get(name)
            if count is None:
                count = table[name] = TokenCount()
            count.cached_calls += 1
        if self.on_call is not None:
            record = LLMCallRecord(
                role=role.value,
                model=answer.model,
                prompt=prompt,
                prompt_tokens=answer.prompt_tokens,
                completion_tokens=answer.completion_tokens,
                cached=True,
            )
            self._safe_hook(record, None)

    def _notify(
        self, role: Role, model: str, prompt: str, tokens: tuple[int, int], latency_s: float, kind: ErrorKind | None
    ) -> None:
        if self.on_call is None:
            return
        record = LLMCallRecord(
            role=role.value,
            model=model,
            prompt=prompt,
            prompt_tokens=tokens[0],
            completion_tokens=tokens[1],
            latency_ms=latency_s * 1000.0,
        )
        self._safe_hook(record, kind)

    def _safe_hook(self, record: LLMCallRecord, kind: ErrorKind | None) -> None:
        assert self.on_call is not None
        try:
            self.on_call(record, kind)
        except Exception:
            log.warning("on_call hook failed", exc_info=True)

    def _final_record(
        self, role: Role, answer: _Answer, prompt: str, state: _CallState, started: float
    ) -> LLMCallRecord:
        return LLMCallRecord(
            role=role.value,
            model=answer.model,
            prompt=prompt,
            prompt_tokens=state.prompt_tokens,
            completion_tokens=state.completion_tokens,
            cached=answer.cached,
            latency_ms=(time.perf_counter() - started) * 1000.0,
        )

    def snapshot(self) -> LLMSnapshot:
        """Totals so far: usage, requests, retries, errors and failures by kind, cache hits, cost, limiter stats."""
        limiters: dict[str, dict[str, Any]] = {}
        for model, limiter in self._limiter_by_model.items():
            stats = limiter.stats()
            limiters[model] = {name: getattr(stats, name) for name in stats.__dataclass_fields__}
        return LLMSnapshot(
            usage=self.totals.model_copy(deep=True),
            requests=self.requests,
            retries=self.retries,
            failed_calls=sum(self.failures.values()),
            cache_hits=self.cache_hits,
            cost_usd=self.cost_usd,
            errors={kind.value: n for kind, n in self.errors.items()},
            failures={kind.value: n for kind, n in self.failures.items()},
            by_model={k: v.model_copy() for k, v in self.by_model.items()},
            by_role={k: v.model_copy() for k, v in self.by_role.items()},
            limiters=limiters,
        )

    async def aclose(self) -> None:
        """Close the HTTP client (if this instance made it) and the cache (if it has `aclose`)."""
        if self._owns_client:
            await self._client.close()
        closer = getattr(self.cache, "aclose", None)
        if closer is not None:
            await closer()

    async def __aenter__(self) -> OpenAILLM:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _header_value(prompt: str) -> str:
    return prompt if prompt.isascii() and prompt.isprintable() else urllib.parse.quote(prompt, safe="@/:._-")
