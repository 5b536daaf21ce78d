"""Benchmark: the four stage services end to end through Kafka and MongoDB, against the mock LLM server.

Each scenario starts the four services as `agentinstruct serve <stage>` processes (one mock server process per
stage, so each stage's LLM traffic is also measured on the server side), ingests every seed at once and runs
until every consumer group has committed everything. Scenarios: the mock at 0 ms (the services' own overhead)
and at heavy-tailed latency (lognormal, median 500 ms, sigma 1.0, capped at 10 s).

Figures:

* end-to-end pairs per minute: over the whole run (first seed ingested to last pair stored) and in the steady
  state (between 10 % and 90 % of the pairs);
* per stage, the mean of in-flight LLM calls as a fraction of the budget (`LLM_CONCURRENCY`):
  - "busy": the services expose the in-flight gauge `agentinstruct_llm_in_flight_calls` (and
    `agentinstruct_stage_in_flight_messages`), not a time-weighted mean, so both are sampled every 100 ms from
    `/metrics` and averaged over the samples in which the stage had work waiting (its message slots at least
    75 % full: the consumer pauses fetching at the cap, so below it the input ran dry). Target >= 0.9;
  - "active": the time-weighted mean over the stage's active period (first to last message in flight), from the
    services' own latency histogram (sum of call durations / period: Little's law) and, as a cross-check, from
    the mock server's own time-weighted in-flight figure;
  The adaptive admission limit (`agentinstruct_llm_concurrency_limit`) starts low and grows to the budget; the
  table shows its mean while busy, how long each stage took to reach the budget ("ramp s", from its first
  message) and the busy fraction after that;
* peak RSS per service (`VmHWM` of `/proc/<pid>/status`; target <= 250 MB) and CPU seconds per service.

Run: `uv run python bench/services.py [--seeds N] [--budget 128] [--max-in-flight-messages 256]`. It starts
the local Kafka and FerretDB (`agentinstruct dev up`) if they are not running. The machine's load average is
printed with the tables: on a shared machine the figures move with it.

`run_deployment` (one deployment, one ingest, torn down with its topics, consumer groups and database) is also
used by the `pipeline` scenario (`bench/pipeline.py`), which imports this file under another name.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# This file's name would shadow the `services` package: the bench folder moves to the end of the path (a stable
# sort keeps the order of the others), where `_common` is still found.
sys.path.sort(key=lambda entry: os.path.abspath(entry or os.curdir) == os.path.dirname(os.path.abspath(__file__)))

from _common import REPO, mock_call, mock_server, print_table, write_documents
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.admin import DeleteGroupsRequest
from prometheus_client.parser import text_string_to_metric_families
from pymongo import MongoClient

from agentinstruct import devinfra
from services.common.cli_support import collect_stats
from services.common.ingest import ingest_to_kafka
from services.common.settings import STAGES, ServiceSettings

LOGNORMAL = ("--latency-dist", "lognormal", "--latency-median-ms", "500", "--latency-sigma", "1.0")
SCENARIOS: dict[str, tuple[str, ...]] = {
    "0 ms": ("--latency-median-ms", "0"),
    "lognormal p50 500 ms": (*LOGNORMAL, "--latency-max-ms", "10000"),
}
FAST_INTERVAL_S = 0.1
SLOW_INTERVAL_S = 1.0
BUSY_SLOTS = 0.75


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli() -> list[str]:
    script = Path(sys.executable).with_name("agentinstruct")
    return [str(script)] if script.exists() else [sys.executable, "-m", "agentinstruct.cli"]


def proc_status(pid: int) -> dict[str, str]:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    return {key: value.strip() for key, _, value in (line.partition(":") for line in lines)}


def peak_rss_mb(pid: int) -> float | None:
    value = proc_status(pid).get("VmHWM")
    return int(value.split()[0]) / 1024 if value else None


def cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


# -- metrics ----------------------------------------------------------------------------------------------------


@dataclass
class Scrape:
    """The figures of one `/metrics` scrape of one service."""

    t: float
    llm_in_flight: float | None = None
    llm_budget: float | None = None
    llm_limit: float | None = None
    llm_waiting: float | None = None
    messages_in_flight: float = 0.0
    latency_sum: float = 0.0
    calls_ok: float = 0.0
    pairs_stored: float = 0.0


def parse_metrics(text: str, t: float) -> Scrape:
    scrape = Scrape(t)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name, value = sample.name, sample.value
            if name == "agentinstruct_llm_in_flight_calls":
                scrape.llm_in_flight = (scrape.llm_in_flight or 0.0) + value
            elif name == "agentinstruct_llm_concurrency_budget":
                scrape.llm_budget = max(scrape.llm_budget or 0.0, value)
            elif name == "agentinstruct_llm_concurrency_limit":
                scrape.llm_limit = max(scrape.llm_limit or 0.0, value)
            elif name == "agentinstruct_llm_waiting_calls":
                scrape.llm_waiting = (scrape.llm_waiting or 0.0) + value
            elif name == "agentinstruct_stage_in_flight_messages":
                scrape.messages_in_flight += value
            elif name == "agentinstruct_llm_latency_seconds_sum":
                scrape.latency_sum += value
            elif name == "agentinstruct_llm_calls_total" and sample.labels.get("outcome") == "ok":
                scrape.calls_ok += value
            elif name == "agentinstruct_pairs_stored_total":
                scrape.pairs_stored += value
    return scrape


def fetch(url: str, timeout: float = 2.0) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return str(response.read().decode())
    except (urllib.error.URLError, OSError):
        return None


# -- one deployment ----------------------------------------------------------------------------------------------


@dataclass
class Service:
    stage: str
    port: int
    log: Path
    proc: subprocess.Popen[bytes]
    scrapes: list[Scrape] = field(default_factory=list)
    rss_mb: float | None = None
    cpu_s: float | None = None
    exit_code: int | None = None


@dataclass(frozen=True)
class Options:
    """How every service of a deployment is configured, beyond the connection settings."""

    skills: str = "rc,text_modification"
    budget: int = 128
    max_in_flight_messages: int = 256
    partitions: int = 8
    llm_cache: bool = True
    env: Mapping[str, str] = field(default_factory=dict)
    """Further settings (`REFINE_ROUNDS`, ...), applied last."""


@dataclass
class Deployment:
    namespace: str
    settings: ServiceSettings
    services: dict[str, Service]
    mocks: dict[str, str]
    lags: list[tuple[float, dict[str, int]]] = field(default_factory=list)


def service_env(namespace: str, mock_url: str, port: int, options: Options) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TOPIC_", "KAFKA_", "MONGODB_", "OPENAI_"))}
    return {
        **base,
        "PYTHONPATH": str(REPO),
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:19092",
        "MONGODB_URI": "mongodb://127.0.0.1:27018/",
        "MONGODB_DB": namespace,
        "TOPIC_NAMESPACE": namespace,
        "TOPIC_PARTITIONS": str(options.partitions),
        "OPENAI_BASE_URL": mock_url,
        "OPENAI_API_KEY": "bench-key",
        "AGENTINSTRUCT_MODEL": "mock-model",
        "SKILLS": options.skills,
        "LLM_CONCURRENCY": str(options.budget),
        "MAX_IN_FLIGHT_MESSAGES": str(options.max_in_flight_messages),
        "LLM_CACHE": "true" if options.llm_cache else "false",
        "LLM_TIMEOUT_S": "60",
        "HTTP_PORT": str(port),
        "LOG_LEVEL": "WARNING",
        **options.env,
    }


@contextlib.contextmanager
def deployment(options: Options, mock_flags: tuple[str, ...], logs: Path) -> Iterator[Deployment]:
    namespace = f"bench{uuid.uuid4().hex[:10]}"
    settings = ServiceSettings(
        topic_namespace=namespace, mongodb_db=namespace, topic_partitions=options.partitions, http_port=0
    )
    with ExitStack() as stack:
        mocks = {stage: stack.enter_context(mock_server(*mock_flags)) for stage in STAGES}
        services: dict[str, Service] = {}
        try:
            for stage in STAGES:
                port = free_port()
                log = logs / f"{namespace}-{stage}.log"
                with log.open("ab") as fh:
                    proc = subprocess.Popen(
                        [*cli(), "serve", stage],
                        stdout=fh,
                        stderr=subprocess.STDOUT,
                        env=service_env(namespace, mocks[stage], port, options),
                        cwd=REPO,
                    )
                services[stage] = Service(stage, port, log, proc)
            for service in services.values():
                wait_healthy(service)
            yield Deployment(namespace, settings, services, mocks)
        finally:
            for service in services.values():
                if service.proc.poll() is None:
                    service.proc.send_signal(signal.SIGTERM)
            for service in services.values():
                try:
                    service.exit_code = service.proc.wait(60)
                except subprocess.TimeoutExpired:
                    service.proc.kill()
                    service.exit_code = service.proc.wait()
            with contextlib.suppress(Exception):
                asyncio.run(cleanup(settings))


def wait_healthy(service: Service, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.proc.poll() is not None:
            raise RuntimeError(f"{service.stage} exited with {service.proc.returncode}; log {service.log}")
        body = fetch(f"http://127.0.0.1:{service.port}/health")
        if body is not None and json.loads(body).get("status") == "ok":
            return
        time.sleep(0.25)
    raise TimeoutError(f"{service.stage} not healthy after {timeout:.0f} s; log {service.log}")


async def cleanup(settings: ServiceSettings) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        doomed = [t for t in settings.all_topics() if t in existing]
        if doomed:
            await admin.delete_topics(doomed)
        known = {group for group, _kind in await admin.list_consumer_groups()}
        for stage in STAGES:
            group = settings.group_id(stage)
            if group in known:
                node = await admin.find_coordinator(group)
                await admin._send_request_to_node(node, DeleteGroupsRequest([group]))
    finally:
        await admin.close()
    with MongoClient(settings.mongodb_uri.get_secret_value(), serverSelectionTimeoutMS=5000) as client:
        client.drop_database(settings.mongodb_db)


def pair_times(settings: ServiceSettings) -> list[float]:
    """When each stored pair was stored (its `stored_at`, wall clock), in order."""
    with MongoClient(settings.mongodb_uri.get_secret_value(), serverSelectionTimeoutMS=5000) as client:
        found = client[settings.mongodb_db]["pairs"].find({}, {"stored_at": 1})
        return sorted(float(doc["stored_at"]) for doc in found if "stored_at" in doc)


# -- sampling ----------------------------------------------------------------------------------------------------


async def scrape_loop(dep: Deployment, stop: asyncio.Event) -> None:
    """Every 100 ms: `/metrics` of every service (in threads, so a slow answer does not delay the others)."""

    def one(service: Service) -> None:
        t = time.monotonic()
        text = fetch(f"http://127.0.0.1:{service.port}/metrics", timeout=1.0)
        if text is not None:
            service.scrapes.append(parse_metrics(text, t))

    while not stop.is_set():
        started = time.monotonic()
        await asyncio.gather(*(asyncio.to_thread(one, s) for s in dep.services.values()))
        await asyncio.sleep(max(0.0, FAST_INTERVAL_S - (time.monotonic() - started)))


async def group_lags(
    settings: ServiceSettings, admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer
) -> dict[str, int]:
    inputs = {
        "transformer": settings.seeds_topic,
        "suggester": settings.transformed_topic,
        "refiner": settings.instructions_topic,
        "validator": settings.candidates_topic,
    }
    existing = set(await admin.list_topics())
    described = await admin.describe_topics([t for t in inputs.values() if t in existing])
    partitions = {
        d["topic"]: [TopicPartition(d["topic"], p["partition"]) for p in d["partitions"]]
        for d in described
        if d["error_code"] == 0
    }
    every = [tp for tps in partitions.values() for tp in tps]
    ends = await consumer.end_offsets(every) if every else {}
    lags: dict[str, int] = {}
    for stage, topic in inputs.items():
        committed = await admin.list_consumer_group_offsets(settings.group_id(stage))  # type: ignore[arg-type]
        lag = 0
        for tp in partitions.get(topic, []):
            meta = committed.get(tp)
            lag += max(0, ends[tp] - (meta.offset if meta is not None and meta.offset >= 0 else 0))
        lags[stage] = lag
    return lags


async def lag_loop(dep: Deployment, stop: asyncio.Event) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=dep.settings.kafka_bootstrap_servers)
    consumer = AIOKafkaConsumer(bootstrap_servers=dep.settings.kafka_bootstrap_servers, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        while not stop.is_set():
            with contextlib.suppress(Exception):
                dep.lags.append((time.monotonic(), await group_lags(dep.settings, admin, consumer)))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), SLOW_INTERVAL_S)
    finally:
        await consumer.stop()
        await admin.close()


async def run_scenario(dep: Deployment, docs: Path, timeout_s: float) -> dict[str, Any]:
    for url in dep.mocks.values():
        mock_call(url, "/mock/reset", {})
    stop = asyncio.Event()
    samplers = [asyncio.create_task(scrape_loop(dep, stop)), asyncio.create_task(lag_loop(dep, stop))]
    t0 = time.monotonic()
    t0_wall = time.time()
    counts = await ingest_to_kafka([str(docs)], dep.settings)
    ingest_s = time.monotonic() - t0
    idle_since: float | None = None
    deadline = t0 + timeout_s
    finished = False
    while time.monotonic() < deadline:
        await asyncio.sleep(1.0)
        for service in dep.services.values():
            if service.proc.poll() is not None:
                raise RuntimeError(f"{service.stage} died; log {service.log}")
        last_lags = dep.lags[-1][1] if dep.lags else None
        in_flight = sum(s.scrapes[-1].messages_in_flight for s in dep.services.values() if s.scrapes)
        if last_lags is not None and dep.lags[-1][0] > t0 + 2 and not any(last_lags.values()) and not in_flight:
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since >= 3:
                finished = True
                break
        else:
            idle_since = None
    for service in dep.services.values():
        service.rss_mb = peak_rss_mb(service.proc.pid)
        service.cpu_s = cpu_seconds(service.proc.pid)
    mock_stats = {stage: mock_call(url, "/mock/stats") for stage, url in dep.mocks.items()}
    stop.set()
    await asyncio.gather(*samplers)
    figures = await collect_stats(dep.settings, scan=True)
    stored_at = await asyncio.to_thread(pair_times, dep.settings)
    return {
        "t0": t0,
        "t0_wall": t0_wall,
        "stored_at": stored_at,
        "ingest_s": ingest_s,
        "seeds": counts.published,
        "pairs": figures["pairs"]["total"],
        "rejections": figures["scan"]["rejections"]["total"],
        "dead_letters": figures["dead_letters"]["total"],
        "finished": finished,
        "mock_stats": mock_stats,
        "load": os.getloadavg(),
    }


def run_deployment(
    options: Options, mock_flags: tuple[str, ...], docs: Path, logs: Path, timeout_s: float
) -> tuple[Deployment, dict[str, Any]]:
    """Start the mocks and the four services, ingest every document of `docs` at once, run until every consumer
    group has committed everything (or `timeout_s`), stop the services and delete the run's topics, consumer
    groups and database. Returns the deployment (with its samples and the services' exit codes) and
    `run_scenario`'s figures (`t0_wall` the wall clock at the start of ingest, `stored_at` each pair's)."""
    with deployment(options, mock_flags, logs) as dep:
        result = asyncio.run(run_scenario(dep, docs, timeout_s))
    return dep, result


# -- figures -----------------------------------------------------------------------------------------------------


def throughput(validator: Service, t0: float, pairs: int) -> tuple[float, float, float]:
    """(run pairs/min, steady pairs/min, seconds to the last pair) from the validator's stored-pairs counter."""
    scrapes = [s for s in validator.scrapes if s.t >= t0]
    final = max((s.pairs_stored for s in scrapes), default=0.0) or float(pairs)
    if not scrapes or final <= 0:
        return 0.0, 0.0, 0.0

    def reached(fraction: float) -> float:
        return next(s.t for s in scrapes if s.pairs_stored >= fraction * final)

    last = reached(1.0) - t0
    t10, t90 = reached(0.1), reached(0.9)
    steady = 0.8 * final / (t90 - t10) * 60 if t90 > t10 else 0.0
    return final / last * 60 if last > 0 else 0.0, steady, last


def stage_figures(service: Service, budget: int, max_messages: int, mock: dict[str, Any]) -> dict[str, Any]:
    scrapes = service.scrapes
    active = [s for s in scrapes if s.messages_in_flight > 0]
    figures: dict[str, Any] = {"calls": 0.0, "busy_share": None, "busy": None, "little": None, "mock": None}
    if not active:
        return figures
    start, end = active[0].t, active[-1].t
    period = max(end - start, 1e-9)
    window = [s for s in scrapes if start <= s.t <= end]
    figures["calls"] = scrapes[-1].calls_ok
    figures["messages"] = sum(s.messages_in_flight for s in window) / len(window) / max_messages
    busy = [s for s in window if s.messages_in_flight >= BUSY_SLOTS * max_messages]
    figures["busy_share"] = len(busy) / len(window)
    gauge = [s.llm_in_flight for s in busy if s.llm_in_flight is not None]
    if gauge:
        figures["busy"] = sum(gauge) / len(gauge) / budget
    ramped_at = next((s.t for s in window if s.llm_limit is not None and s.llm_limit >= budget), None)
    if ramped_at is not None:
        ramped = [s.llm_in_flight for s in busy if s.t >= ramped_at and s.llm_in_flight is not None]
        figures["ramped"] = sum(ramped) / len(ramped) / budget if ramped else None
        figures["ramp_s"] = ramped_at - start
    limits = [s.llm_limit for s in busy if s.llm_limit is not None]
    if limits:
        figures["limit"] = sum(limits) / len(limits) / budget
    waiting = [s.llm_waiting for s in busy if s.llm_waiting is not None]
    if waiting:
        figures["waiting"] = sum(waiting) / len(waiting)
    before = max((s for s in scrapes if s.t <= start), key=lambda s: s.t, default=scrapes[0])
    after = min((s for s in scrapes if s.t >= end), key=lambda s: s.t, default=scrapes[-1])
    figures["little"] = (after.latency_sum - before.latency_sum) / period / budget
    area = float(mock["mean_inflight"]) * float(mock["elapsed_s"])
    figures["mock"] = area / period / budget
    return figures


def fmt(value: float | None, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=600, help="documents to ingest (one seed each)")
    parser.add_argument("--budget", type=int, default=128, help="LLM_CONCURRENCY of every service")
    parser.add_argument("--max-in-flight-messages", type=int, default=256, help="MAX_IN_FLIGHT_MESSAGES")
    parser.add_argument("--partitions", type=int, default=8, help="TOPIC_PARTITIONS")
    parser.add_argument("--skills", default="rc,text_modification")
    parser.add_argument("--no-llm-cache", dest="llm_cache", action="store_false", help="LLM_CACHE=false")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated, of: " + ", ".join(SCENARIOS))
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per scenario")
    parser.add_argument("--dump", type=Path, help="also write every sample (per scenario and stage) to this JSON file")
    args = parser.parse_args()
    chosen = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}")

    options = Options(
        skills=args.skills,
        budget=args.budget,
        max_in_flight_messages=args.max_in_flight_messages,
        partitions=args.partitions,
        llm_cache=args.llm_cache,
    )
    devinfra.up()
    load_before = os.getloadavg()
    dumped: dict[str, Any] = {}
    e2e_rows: list[list[str]] = []
    stage_rows: list[list[str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        docs = Path(tmp) / "docs"
        write_documents(docs, args.seeds)
        logs = Path(tmp) / "logs"
        logs.mkdir()
        for name in chosen:
            dep, result = run_deployment(options, SCENARIOS[name], docs, logs, args.timeout)
            if args.dump is not None:
                dumped[name] = {
                    "t0": result["t0"],
                    "lags": dep.lags,
                    "scrapes": {stage: [vars(x) for x in svc.scrapes] for stage, svc in dep.services.items()},
                    "mock_stats": result["mock_stats"],
                }
            run_rate, steady_rate, last_s = throughput(dep.services["validator"], result["t0"], result["pairs"])
            e2e_rows.append(
                [
                    name,
                    str(result["seeds"]),
                    str(result["pairs"]),
                    str(result["rejections"]),
                    str(result["dead_letters"]),
                    f"{last_s:.0f}" + ("" if result["finished"] else " (timed out)"),
                    f"{run_rate:.0f}",
                    f"{steady_rate:.0f}",
                    " ".join(f"{x:.1f}" for x in result["load"]),
                ]
            )
            for stage, service in dep.services.items():
                f = stage_figures(service, args.budget, args.max_in_flight_messages, result["mock_stats"][stage])
                stage_rows.append(
                    [
                        name,
                        stage,
                        f"{f['calls']:.0f}",
                        fmt(f["busy"]),
                        fmt(f.get("ramped")),
                        fmt(f.get("ramp_s"), ".0f"),
                        fmt(f.get("limit")),
                        fmt(f.get("waiting"), ".0f"),
                        fmt(f["busy_share"], ".0%"),
                        fmt(f["little"]),
                        fmt(f["mock"]),
                        fmt(f.get("messages")),
                        fmt(service.rss_mb, ".0f"),
                        fmt(service.cpu_s, ".0f"),
                        str(service.exit_code),
                    ]
                )
    if args.dump is not None:
        args.dump.write_text(json.dumps(dumped))
    print(f"\nload average before: {' '.join(f'{x:.1f}' for x in load_before)} ({os.cpu_count()} CPUs)")
    print_table(
        f"Services end to end (Kafka + FerretDB, mock LLM): {args.seeds} documents, skills {args.skills}, "
        f"budget {args.budget} per service, MAX_IN_FLIGHT_MESSAGES {args.max_in_flight_messages}, "
        f"LLM cache {'on' if args.llm_cache else 'off'}",
        [
            "latency",
            "seeds",
            "pairs",
            "rejections",
            "dead letters",
            "to last pair s",
            "pairs/min (run)",
            "pairs/min (steady)",
            "load avg after",
        ],
        e2e_rows,
    )
    print_table(
        "Per stage: mean in-flight LLM calls / budget (busy: 100 ms gauge samples while its slots were >= 75% "
        "full; active: time-weighted over its active period, by Little's law on /metrics and by the mock server)",
        [
            "latency",
            "stage",
            "LLM calls",
            "in-flight/budget busy",
            "busy after ramp",
            "ramp s",
            "limit/budget busy",
            "waiting busy",
            "busy share",
            "active (/metrics)",
            "active (mock)",
            "messages/slots",
            "peak RSS MB",
            "CPU s",
            "exit",
        ],
        stage_rows,
    )


if __name__ == "__main__":
    main()
