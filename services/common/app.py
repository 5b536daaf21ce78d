"""The app factory every stage service uses: broker, subscriber, publishers, lifecycle, /metrics and /health.

Nothing is connected when the app is built: clients are made in `on_startup` and closed in `after_shutdown`
(after FastStream has stopped the consumer), and in-flight work is drained in `on_shutdown`.

`/metrics` serves FastStream's middleware metrics and the service's own (`metrics.py`), including the consumer
lag of the pipeline's groups (`lag.py`). `/health` is the readiness check: 200 when the replica takes messages and its
dependencies answer: the broker, and for a stage that stores results (the validator) MongoDB. The other stages
use MongoDB only for the optional LLM response cache, which degrades to no cache, so it does not gate them.
"""

import asyncio
import json
import logging
from typing import Any

from faststream import AckPolicy
from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.asgi.types import Receive, Scope, Send
from faststream.kafka import KafkaBroker, Topic
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.message import StreamMessage
from faststream.specification import AsyncAPI
from prometheus_client import CollectorRegistry, make_asgi_app

from agentinstruct.llm.base import Role
from agentinstruct.llm.openai_llm import OpenAILLM
from agentinstruct.skills import resolve_skills
from agentinstruct.skills.base import StageContext
from agentinstruct.store import MongoPairStore
from agentinstruct.tools.toolbox import Toolbox
from agentinstruct_schemas import DeadLetter, Rejection
from services.common.delivery import Delivery
from services.common.lag import LagMonitor, stage_inputs
from services.common.logs import configure_logging
from services.common.metrics import ServiceMetrics
from services.common.outbox import Outbox
from services.common.settings import ServiceSettings
from services.common.stage import M, Runtime, StageSpec
from services.common.topics import ensure_topics

log = logging.getLogger("agentinstruct.services")

VERSION = "0.1.0"
HEALTH_TIMEOUT_S = 2.0


async def raw_body(message: StreamMessage[Any]) -> bytes:
    """Decoder that hands the record value over untouched: decoding (and poison detection) is ours."""
    return message.body


def build_app(spec: StageSpec[M], settings: ServiceSettings | None = None) -> AsgiFastStream:
    settings = settings or ServiceSettings()
    registry = CollectorRegistry()
    metrics = ServiceMetrics(registry, spec.name, prices=settings.llm_prices)
    fetch_bytes = max(1_048_576, 2 * settings.max_message_bytes)
    broker = KafkaBroker(
        settings.kafka_bootstrap_servers,
        client_id=f"agentinstruct-{spec.name}",
        enable_idempotence=True,
        acks="all",
        linger_ms=settings.producer_linger_ms,
        request_timeout_ms=settings.producer_request_timeout_ms,
        max_request_size=fetch_bytes,
        middlewares=(
            KafkaPrometheusMiddleware(registry=registry, app_name=spec.name, custom_labels={"stage": spec.name}),
        ),
        log_level=logging.DEBUG,
        graceful_timeout=5.0,
    )
    delivery: Delivery[M] = Delivery(spec, settings, metrics)
    input_topic = spec.input_topic(settings)
    subscriber = broker.subscriber(
        Topic(
            input_topic,
            num_partitions=settings.topic_partitions,
            replication_factor=settings.topic_replication_factor,
        ),
        group_id=settings.group_id(spec.name),
        ack_policy=AckPolicy.MANUAL,
        auto_offset_reset="earliest",
        max_poll_interval_ms=settings.max_poll_interval_ms,
        session_timeout_ms=settings.session_timeout_ms,
        heartbeat_interval_ms=settings.heartbeat_interval_ms,
        max_partition_fetch_bytes=fetch_bytes,
        listener=delivery.listener,
        decoder=raw_body,
        title=f"{spec.name}:{input_topic}",
        description=spec.description,
    )

    async def handle(body: Any, message: KafkaMessage) -> None:
        await delivery.handle(message.raw_message)

    # The payload annotation documents the input model in AsyncAPI. `raw_body` always hands over bytes, which the
    # `bytes` branch accepts, so FastStream never rejects a record itself: a record that is not a valid input is
    # poison, and dead-lettering it is the delivery layer's job.
    handle.__annotations__ = {"body": spec.input_model | bytes, "message": KafkaMessage, "return": None}
    subscriber(handle)
    delivery.attach(subscriber)

    if spec.output_model is not None and spec.output_topic is not None:
        broker.publisher(
            spec.output_topic(settings), schema=spec.output_model, title=f"{spec.name}:outputs", description="outputs"
        )
    broker.publisher(
        settings.rejected_topic,
        schema=Rejection,
        title=f"{spec.name}:rejected",
        description="items that did not pass, with their reason",
    )
    broker.publisher(
        settings.dlq_topic(spec.name),
        schema=DeadLetter,
        title=f"{spec.name}:dead-letters",
        description="input this stage cannot process (poison, exhausted LLM retries), with the reason",
    )

    runtime_holder: dict[str, Runtime] = {}
    lag = LagMonitor(
        settings.kafka_bootstrap_servers,
        stage_inputs(settings),
        metrics,
        interval_s=settings.consumer_lag_interval_s,
    )

    async def on_startup() -> None:
        configure_logging(settings)
        log.info("%s starting with settings %s", spec.name, json.dumps(settings.masked(), default=str))
        await ensure_topics(settings)
        runtime = await build_runtime(spec, settings, metrics)
        runtime_holder["runtime"] = runtime
        delivery.start(runtime, Outbox(broker, stage=spec.name, metrics=metrics))
        lag.start()

    async def on_shutdown() -> None:
        await delivery.drain()

    async def after_shutdown() -> None:
        await lag.stop()
        runtime = runtime_holder.pop("runtime", None)
        if runtime is not None:
            await close_runtime(runtime)
        log.info("%s stopped", spec.name)

    async def database_ok() -> bool:
        runtime = runtime_holder.get("runtime")
        if runtime is None or runtime.store is None:
            return False
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT_S):
                return await runtime.store.ping()
        except TimeoutError:
            return False

    @get
    async def health(scope: Scope) -> AsgiResponse:
        status = delivery.status()
        checks = {"broker": broker.ping(timeout=HEALTH_TIMEOUT_S)}
        if spec.stores_results:
            checks["database"] = database_ok()
        results = dict(zip(checks, await asyncio.gather(*checks.values()), strict=True))
        ok = all(results.values()) and bool(status["accepting"])
        body = json.dumps({"status": "ok" if ok else "unavailable", **results, **status}).encode()
        return AsgiResponse(body, 200 if ok else 503, {"content-type": "application/json"})

    exposition = make_asgi_app(registry)

    async def serve_metrics(scope: Scope, receive: Receive, send: Send) -> None:
        metrics.refresh()
        await exposition(scope, receive, send)

    return AsgiFastStream(
        broker,
        asgi_routes=[("/metrics", serve_metrics), ("/health", health)],
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
        after_shutdown=[after_shutdown],
        specification=AsyncAPI(
            title=f"agentinstruct {spec.name}",
            version=VERSION,
            description=spec.description,
        ),
        asyncapi_path="/docs/asyncapi",
    )


async def build_runtime(spec: StageSpec[M], settings: ServiceSettings, metrics: ServiceMetrics) -> Runtime:
    store: MongoPairStore | None = None
    if spec.stores_results or settings.llm_cache:
        store = MongoPairStore(
            settings.mongodb_uri.get_secret_value(),
            settings.mongodb_db,
            server_selection_timeout_ms=settings.mongodb_timeout_ms,
        )
        if spec.stores_results:
            await store.ensure_indexes()
        metrics.watch_retries("mongodb", store)
    llm = OpenAILLM(
        settings.llm_settings(),
        cache=store.response_cache() if store is not None and settings.llm_cache else None,
        on_call=metrics.on_llm_call,
    )
    metrics.watch_llm(llm)
    unpriced = sorted({llm.model_for(role) for role in Role} - set(settings.llm_prices))
    if unpriced:
        log.info("no price in LLM_PRICES for %s: the spend on these models is not estimated", ", ".join(unpriced))
    ctx = StageContext(llm=llm, config=settings.flow_config(), tools=Toolbox(None))
    skills = resolve_skills(settings.skills)
    if spec.stores_results:
        metrics.watch_skills(skill.name for skill in skills)
    return Runtime(settings=settings, ctx=ctx, skills=skills, llm=llm, store=store)


async def close_runtime(runtime: Runtime, timeout_s: float = 10.0) -> None:
    """Close the LLM and database clients; a client that does not close in time is left to the process exit."""
    closers = {"LLM client": runtime.llm, "MongoDB client": runtime.store}
    for what, client in closers.items():
        if client is None:
            continue
        try:
            async with asyncio.timeout(timeout_s):
                await client.aclose()
        except Exception:
            log.warning("closing the %s failed", what, exc_info=True)
