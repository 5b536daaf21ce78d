"""Run a stage service as a process: `python -m services.<stage>`.

Starts the app's lifespan (startup hooks, broker, consumer), serves its HTTP routes (`/metrics`, `/health`,
`/docs/asyncapi`) on `HTTP_HOST:HTTP_PORT` (0 disables the server), and on SIGTERM or SIGINT shuts down
gracefully: drain, final commit, close clients. The HTTP side is a minimal ASGI bridge over aiohttp, so the
process needs no ASGI server; `faststream run <module>:create_app --factory` serves the same app with uvicorn.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import signal
from collections.abc import MutableMapping
from typing import Any

from aiohttp import web
from faststream.asgi import AsgiFastStream

from services.common.logs import configure_logging
from services.common.settings import STAGES, ServiceSettings, StageName

log = logging.getLogger("agentinstruct.services")


def _asgi_handler(app: AsgiFastStream) -> Any:
    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": "http",
            "path": request.path,
            "raw_path": request.raw_path.encode(),
            "query_string": request.query_string.encode(),
            "headers": [(k.lower().encode(), v.encode()) for k, v in request.headers.items()],
            "client": None,
            "server": None,
        }
        sent = False

        async def receive() -> MutableMapping[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.Event().wait()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        status = 500
        headers: list[tuple[str, str]] = []
        chunks: list[bytes] = []

        async def send(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers.extend((k.decode(), v.decode()) for k, v in message.get("headers", []))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await app(scope, receive, send)
        response = web.Response(status=status, body=b"".join(chunks))
        for name, value in headers:
            if name.lower() != "content-length":
                response.headers[name] = value
        return response

    return handle


async def serve(app: AsgiFastStream, settings: ServiceSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner: web.AppRunner | None = None
    if settings.http_port:
        # Bound before anything connects, so a busy port fails the start cleanly.
        http = web.Application()
        http.router.add_route("*", "/{tail:.*}", _asgi_handler(app))
        runner = web.AppRunner(http, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, settings.http_host, settings.http_port).start()
        log.info("serving /metrics and /health on %s:%d", settings.http_host, settings.http_port)
    try:
        async with app.start_lifespan_context():
            await stop.wait()
            log.info("shutting down")
    finally:
        if runner is not None:
            await runner.cleanup()


def main(module: str) -> None:
    settings = ServiceSettings()
    configure_logging(settings)
    create_app = importlib.import_module(module).create_app
    app: AsgiFastStream = create_app(settings)
    asyncio.run(serve(app, settings))


def run_stage(stage: StageName) -> None:
    """Run one stage service in this process until SIGTERM/SIGINT (for `agentinstruct serve <stage>`)."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; expected one of {', '.join(STAGES)}")
    main(f"services.{stage}.app")
