"""Error classification: every failure maps to one ErrorKind; Retry-After is read from the response."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import openai
import pytest
from pydantic import BaseModel

from agentinstruct.llm import ErrorKind, LLMError, classify
from agentinstruct.llm.openai_llm import is_rate_refusal

REQUEST = httpx2.Request("POST", "http://127.0.0.1:1/v1/chat/completions")


def _response(
    status: int, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> httpx2.Response:
    return httpx2.Response(
        status,
        headers=headers or {},
        content=json.dumps(body or {}).encode(),
        request=REQUEST,
    )


def _status_error(
    cls: type[openai.APIStatusError],
    status: int,
    *,
    message: str = "boom",
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> openai.APIStatusError:
    body: dict[str, Any] = {"message": message, "type": "error", "code": code}
    return cls(message, response=_response(status, {"error": body}, headers), body=body)


def test_rate_limit_reads_retry_after_ms_first() -> None:
    exc = _status_error(openai.RateLimitError, 429, headers={"retry-after-ms": "1500", "retry-after": "9"})
    error = classify(exc)
    assert error.kind is ErrorKind.RATE_LIMIT
    assert error.retry_after == pytest.approx(1.5)
    assert error.retryable


def test_rate_limit_reads_retry_after_seconds() -> None:
    error = classify(_status_error(openai.RateLimitError, 429, headers={"Retry-After": "3"}))
    assert error.kind is ErrorKind.RATE_LIMIT
    assert error.retry_after == pytest.approx(3.0)


def test_rate_limit_without_header_has_no_retry_after() -> None:
    error = classify(_status_error(openai.RateLimitError, 429))
    assert error.retry_after is None


@pytest.mark.parametrize(
    ("message", "code", "headers", "rate"),
    [
        ("Rate limit reached for gpt-4o on requests per min (RPM): Limit 3, Used 3.", "rate_limit_exceeded", {}, True),
        ("Number of request tokens has exceeded your per-minute rate limit", None, {}, True),
        ("Too many requests", None, {"x-ratelimit-remaining-requests": "0"}, True),
        ("Too many requests", None, {"x-ratelimit-remaining-tokens": "0"}, True),
        ("The server is at capacity; please retry later.", "rate_limit_exceeded", {}, False),
        ("Too many concurrent requests", None, {"x-ratelimit-remaining-requests": "12"}, False),
        ("", None, {}, False),
    ],
)
def test_a_429_by_rate_is_told_from_one_for_concurrency(
    message: str, code: str | None, headers: dict[str, str], rate: bool
) -> None:
    exc = _status_error(openai.RateLimitError, 429, message=message, code=code, headers=headers)
    assert is_rate_refusal(exc) is rate
    assert classify(exc).kind is ErrorKind.RATE_LIMIT


def test_only_a_429_is_a_rate_refusal() -> None:
    assert not is_rate_refusal(_status_error(openai.InternalServerError, 500, message="rate limit"))
    assert not is_rate_refusal(ValueError("per minute"))


def test_insufficient_quota_is_not_retried() -> None:
    error = classify(_status_error(openai.RateLimitError, 429, code="insufficient_quota"))
    assert error.kind is ErrorKind.AUTH
    assert not error.retryable


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors(status: int) -> None:
    error = classify(_status_error(openai.InternalServerError, status, headers={"retry-after": "2"}))
    assert error.kind is ErrorKind.SERVER
    assert error.retryable
    assert error.retry_after == pytest.approx(2.0)


def test_generic_5xx_status_error() -> None:
    assert classify(_status_error(openai.APIStatusError, 507)).kind is ErrorKind.SERVER


def test_timeout() -> None:
    error = classify(openai.APITimeoutError(request=REQUEST))
    assert error.kind is ErrorKind.TIMEOUT
    assert error.retryable


def test_connection_error() -> None:
    error = classify(openai.APIConnectionError(request=REQUEST))
    assert error.kind is ErrorKind.CONNECTION
    assert error.retryable


def test_timeout_caused_by_refused_connection_is_a_connection_error() -> None:
    exc = openai.APITimeoutError(request=REQUEST)
    exc.__cause__ = ConnectionRefusedError("refused")
    assert classify(exc).kind is ErrorKind.CONNECTION


@pytest.mark.parametrize(
    ("cls", "status"),
    [(openai.AuthenticationError, 401), (openai.PermissionDeniedError, 403)],
)
def test_auth(cls: type[openai.APIStatusError], status: int) -> None:
    error = classify(_status_error(cls, status))
    assert error.kind is ErrorKind.AUTH
    assert not error.retryable


def test_context_length_by_code() -> None:
    exc = _status_error(openai.BadRequestError, 400, message="too long", code="context_length_exceeded")
    error = classify(exc)
    assert error.kind is ErrorKind.CONTEXT_LENGTH
    assert not error.retryable


def test_context_length_by_message() -> None:
    message = "This model's maximum context length is 8192 tokens. However, you requested 9000 tokens."
    assert classify(_status_error(openai.BadRequestError, 400, message=message)).kind is ErrorKind.CONTEXT_LENGTH


def test_llama_cpp_context_size_message() -> None:
    message = "the request exceeds the available context size, try increasing it"
    assert classify(_status_error(openai.BadRequestError, 400, message=message)).kind is ErrorKind.CONTEXT_LENGTH


@pytest.mark.parametrize(
    ("cls", "status"),
    [(openai.BadRequestError, 400), (openai.NotFoundError, 404), (openai.UnprocessableEntityError, 422)],
)
def test_other_4xx_are_bad_requests(cls: type[openai.APIStatusError], status: int) -> None:
    error = classify(_status_error(cls, status, message="unknown parameter"))
    assert error.kind is ErrorKind.BAD_REQUEST
    assert not error.retryable


def test_content_filter_status() -> None:
    exc = _status_error(openai.BadRequestError, 400, message="filtered", code="content_filter")
    assert classify(exc).kind is ErrorKind.CONTENT_FILTER


def test_finish_reason_errors() -> None:
    completion = openai.types.chat.ChatCompletion.model_validate(
        {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": "m",
            "choices": [{"index": 0, "finish_reason": "length", "message": {"role": "assistant", "content": '{"a": '}}],
        }
    )
    truncated = classify(openai.LengthFinishReasonError(completion=completion))
    assert truncated.kind is ErrorKind.TRUNCATED
    assert truncated.raw == '{"a": '
    assert truncated.retryable
    assert classify(openai.ContentFilterFinishReasonError()).kind is ErrorKind.CONTENT_FILTER


def test_schema_validation_error_keeps_kind() -> None:
    class Model(BaseModel):
        a: int

    with pytest.raises(Exception) as info:
        Model.model_validate_json('{"a": "x"}')
    assert classify(info.value).kind is ErrorKind.SCHEMA_INVALID


def test_transport_errors() -> None:
    assert classify(httpx2.ReadTimeout("slow")).kind is ErrorKind.TIMEOUT
    assert classify(httpx2.ConnectError("refused")).kind is ErrorKind.CONNECTION
    assert classify(TimeoutError()).kind is ErrorKind.TIMEOUT


def test_llm_error_passes_through() -> None:
    original = LLMError(ErrorKind.SCHEMA_INVALID, "bad", raw="{")
    assert classify(original) is original


def test_unknown_exception_is_not_retried() -> None:
    error = classify(RuntimeError("bug"))
    assert error.kind is ErrorKind.BAD_REQUEST
    assert not error.retryable
