"""Scenario `pipeline`: the AgentInstruct shape, 6 dependent calls per seed (transform, suggest, refine,
refine, answer, judge), N seeds, C=64, a fixed 200 ms latency.

* every tool runs the `chain` workload (`bench/peers/_protocol.py`): ours and raw with C workers each carrying
  one seed through its chain; curator a block (map over the dataset) per step; distilabel a `>>` chain of 6
  steps exchanging batches of C;
* ours also runs the real embedded `Pipeline` (skill text_modification, 2 refinement rounds, one instruction
  per seed; about 9 calls per seed, fanning out) over generated documents, C seeds in flight and an LLM budget
  of C;
* and the same documents and flow (`KAFKA_FLOW`) through the Kafka services: the four stages as
  `agentinstruct serve STAGE` processes, each with its own mock server process at the same fixed latency, an
  LLM budget of C (LLM_CONCURRENCY, per service) and MAX_IN_FLIGHT_MESSAGES=2C; every document is ingested into
  Kafka at once and the pairs are stored in FerretDB (`run_deployment` of `bench/services.py`). It starts the
  local Kafka and FerretDB if they are not running (and stops those it started at the end); each run has its
  own topic namespace, consumer groups and database, deleted at the end.

Figures: time to first pair (the first seed's last answer in hand) against the ideal 6 x latency, and pairs
per second against the ideal C / (6 x latency). For the real pipeline: time to first pair (embedded: the first
accepted pair handed over; Kafka: from the start of ingest to the first pair's `stored_at` in the database),
pairs per second over the run (to the last pair; Kafka also in the steady state, between 10 % and 90 % of the
pairs), LLM calls per second and per seed (counted by the mock servers).

Run: `uv run python bench/pipeline.py [--quick] [--tools ...]`.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import mock_reset, mock_server, mock_stats, write_documents
from results import Row, failed
from tools import TOOLS, Tool, run_driver

LATENCY_MS = 200
STEPS = 6
# The flow of the embedded `Pipeline` row (`run_pipeline` in bench/peers/drive_ours.py), as service settings.
KAFKA_FLOW = {
    "REFINE_ROUNDS": "2",
    "SUGGESTIONS_PER_ROUND": "1",
    "REFLECTION_ROUNDS": "0",
    "MAX_INSTRUCTION_TYPES": "1",
    "MAX_INSTRUCTIONS_PER_TYPE": "1",
}


def services_bench() -> ModuleType:
    """`bench/services.py`, imported as `bench_services` (its own name is the `services` package's)."""
    name = "bench_services"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("services.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    saved = list(sys.path)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    finally:
        sys.path[:] = saved
    return module


def kafka_figures(result: dict[str, Any]) -> tuple[str, str]:
    """(cell, progress line) of one run through the services."""
    t0 = float(result["t0_wall"])
    stored = [t - t0 for t in result["stored_at"]]
    seeds = max(int(result["seeds"]), 1)
    calls = sum(s["outcomes"]["ok"] + s["outcomes"]["truncated"] for s in result["mock_stats"].values())
    timed_out = "" if result["finished"] else " (timed out)"
    if not stored:
        return f"no pairs{timed_out}", f"no pairs{timed_out}; {calls} calls"
    last = max(stored[-1], 1e-9)
    steady = ""
    if len(stored) >= 10:
        i10, i90 = round(0.1 * (len(stored) - 1)), round(0.9 * (len(stored) - 1))
        if stored[i90] > stored[i10]:
            steady = f" ({(i90 - i10) / (stored[i90] - stored[i10]):.1f})"
    cell = f"{stored[0]:.2f} s; {len(stored) / last:.1f}{steady}; {calls / last:.0f}; {calls / seeds:.1f}{timed_out}"
    line = (
        f"{cell}; {result['seeds']} seeds, {result['pairs']} pairs, {result['rejections']} rejections, "
        f"{result['dead_letters']} dead letters, last pair at {last:.2f} s, ingest {result['ingest_s']:.2f} s"
    )
    return cell, line


def run_kafka(docs: int, c: int, root: Path, timeout_s: float) -> str:
    """The real pipeline through the four services via Kafka into FerretDB; the row's cell."""
    from agentinstruct import devinfra

    svc = services_bench()
    statuses = devinfra.status()
    stopped = [name for name in devinfra.SERVICES if name not in statuses or not statuses[name].running]
    devinfra.up()
    try:
        folder = root / "pipeline-ours-kafka"
        write_documents(folder / "docs", docs)
        logs = folder / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        options = svc.Options(skills="text_modification", budget=c, max_in_flight_messages=2 * c, env=KAFKA_FLOW)
        dep, result = svc.run_deployment(
            options, ("--latency-median-ms", str(LATENCY_MS)), folder / "docs", logs, timeout_s
        )
    finally:
        if stopped:
            devinfra.down(stopped)
    cell, line = kafka_figures(result)
    exits = ", ".join(f"{stage} {service.exit_code}" for stage, service in dep.services.items())
    print(f"[pipeline] ours kafka: {line}; exit codes {exits}", file=sys.stderr, flush=True)
    return cell


def run(quick: bool, tools: list[Tool], root: Path) -> list[Row]:
    n = 60 if quick else 400
    docs = 20 if quick else 150
    c = 64
    chain_ideal_ttfp = STEPS * LATENCY_MS / 1000
    chain_ideal_rate = c / chain_ideal_ttfp
    config = f"6-call chain, N={n} seeds, C={c}, {LATENCY_MS} ms"
    ttfp = Row("pipeline", config, f"time to first pair s (÷ ideal {chain_ideal_ttfp:.1f} s)")
    rate = Row("pipeline", config, f"pairs/s (÷ ideal {chain_ideal_rate:.0f}/s)")
    real = Row(
        "pipeline",
        f"ours: embedded Pipeline, text_modification, 2 refine rounds, {docs} docs, C={c}",
        "first pair s; pairs/s; LLM calls/s; calls per seed",
    )
    with mock_server("--latency-median-ms", str(LATENCY_MS)) as url:
        for tool in tools:
            mock_reset(url)
            result = run_driver(
                tool, url, workload="chain", n=n, concurrency=c, work_dir=root / f"pipeline-{tool.name}"
            )
            bad = failed(result)
            if bad:
                ttfp.values[tool.name] = rate.values[tool.name] = bad
                continue
            first = result.get("first_pair_s")
            wall = float(result["wall_s"])
            ttfp.values[tool.name] = "n/a" if first is None else f"{first:.2f} ({first / chain_ideal_ttfp:.1f}x)"
            pairs_per_s = int(result["rows"]) / wall
            rate.values[tool.name] = f"{pairs_per_s:.1f} ({pairs_per_s / chain_ideal_rate:.2f}x)"
            print(f"[pipeline] {tool.name}: first {first}, {pairs_per_s:.1f} pairs/s", file=sys.stderr, flush=True)
        if any(t.name == "ours" for t in tools):
            mock_reset(url)
            result = run_driver(
                TOOLS["ours"],
                url,
                workload="single",
                n=docs,
                concurrency=c,
                work_dir=root / "pipeline-ours-real",
                extra=["--pipeline"],
            )
            stats = mock_stats(url)
            if failed(result):
                real.values["ours"] = "failed"
            else:
                wall = float(result["wall_s"])
                calls = stats["outcomes"]["ok"] + stats["outcomes"]["truncated"]
                real.values["ours"] = (
                    f"{float(result['first_pair_s'] or 0):.2f} s; "
                    f"{int(result['rows']) / wall:.1f}; {calls / wall:.0f}; {calls / docs:.1f}"
                )
                print(f"[pipeline] ours real: {real.values['ours']}", file=sys.stderr, flush=True)
    rows = [ttfp, rate, real]
    if any(t.name == "ours" for t in tools):
        kafka = Row(
            "pipeline",
            f"ours: Kafka services (4 processes), text_modification, 2 refine rounds, {docs} docs, "
            f"LLM_CONCURRENCY={c} per service",
            "first pair s; pairs/s (steady); LLM calls/s; calls per seed",
        )
        try:
            kafka.values["ours"] = run_kafka(docs, c, root, timeout_s=60 if quick else 180)
        except Exception as exc:
            print(f"[pipeline] ours kafka failed: {exc!r}", file=sys.stderr, flush=True)
            kafka.values["ours"] = "failed"
        rows.append(kafka)
    return rows


def main() -> None:
    from run_all import standalone

    standalone(run, __doc__)


if __name__ == "__main__":
    main()
