"""/health follows the dependencies: the validator becomes unready while MongoDB is unreachable and ready again
when it is back; a stage that uses MongoDB only for its response cache stays ready.

The services reach FerretDB through a TCP proxy that the test can cut (close every connection and refuse new
ones) and open again, so the shared database keeps running for everyone else.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.services.pipeline_harness import MONGODB_URI, Pipeline, free_port, wait_until

pytestmark = pytest.mark.timeout(240)


class CuttableProxy:
    """Forwards 127.0.0.1:`port` to `target`; `cut()` drops every connection and stops listening."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listening = threading.Event()
        self._thread: threading.Thread | None = None

    def open(self) -> None:
        server = socket.create_server(("127.0.0.1", self.port))
        server.settimeout(0.1)
        self._listening.set()
        self._thread = threading.Thread(target=self._accept, args=(server,), daemon=True)
        self._thread.start()

    def cut(self) -> None:
        self._listening.clear()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        with self._lock:
            doomed, self._sockets = self._sockets, set()
        for sock in doomed:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, server: socket.socket) -> None:
        with server:
            while self._listening.is_set():
                try:
                    client, _ = server.accept()
                except TimeoutError:
                    continue
                try:
                    upstream = socket.create_connection(self.target, timeout=5)
                except OSError:
                    client.close()
                    continue
                upstream.settimeout(None)
                client.settimeout(None)
                with self._lock:
                    self._sockets |= {client, upstream}
                for source, sink in ((client, upstream), (upstream, client)):
                    threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def proxy() -> Iterator[CuttableProxy]:
    host, port = MONGODB_URI.removeprefix("mongodb://").rstrip("/").split(":")
    proxy = CuttableProxy((host, int(port)))
    proxy.open()
    yield proxy
    proxy.cut()


def test_readiness_follows_the_database(infra: None, logs_dir: Path, proxy: CuttableProxy) -> None:
    # No input is ingested, so no LLM call is made: the endpoint only has to be a valid URL.
    pipeline = Pipeline(
        logs_dir,
        "http://127.0.0.1:9/v1",
        {"MONGODB_URI": f"mongodb://127.0.0.1:{proxy.port}/", "MONGODB_TIMEOUT_MS": "1000"},
    )
    validator, transformer = pipeline.services["validator"], pipeline.services["transformer"]
    try:
        pipeline.start(["validator", "transformer"])
        ready = validator.health() or {}
        assert ready["status"] == "ok" and ready["broker"] is True and ready["database"] is True, ready

        proxy.cut()
        seen: dict[str, Any] = {}

        def unready() -> bool:
            seen.update(validator.health() or {})
            return seen.get("status") == "unavailable"

        wait_until(unready, 30, "the validator unready without its database")
        assert seen["database"] is False and seen["broker"] is True, seen
        still = transformer.health() or {}
        assert still["status"] == "ok" and "database" not in still, still

        proxy.open()
        wait_until(lambda: (validator.health() or {}).get("status") == "ok", 60, "the validator ready again")
    finally:
        pipeline.cleanup()
