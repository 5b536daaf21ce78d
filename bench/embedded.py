"""Benchmark: the embedded pipeline against the mock server, concurrency budget 64.

Two scenarios, one table:
  * latency 0 ms: CPU milliseconds per LLM call (this process only; the mock runs in its own process) and LLM
    calls per second — the engine's own overhead;
  * heavy-tailed latency (lognormal, median 500 ms, sigma 1.0, capped at 10 s): achieved mean in-flight calls as
    a fraction of the budget, measured by the server (time-weighted), over the whole run and over the steady
    state (until the last seed has been admitted). Target: at least 0.9.

Run: `uv run python bench/embedded.py [--seeds N] [--budget 64]`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import cpu_seconds, mock_call, mock_server, peak_rss_mb, print_table, write_documents

from agentinstruct.embedded import Pipeline, RunOptions, RunStats, iter_seeds
from agentinstruct.llm import LLMSettings, OpenAILLM
from agentinstruct.skills import resolve_skills
from agentinstruct.skills.base import FlowConfig, StageContext


async def run_once(base_url: str, docs: Path, budget: int, seeds_in_flight: int, adaptive: bool) -> dict[str, float]:
    settings = LLMSettings(
        base_url=base_url, default_model="mock", concurrency=budget, adaptive=adaptive, timeout_s=60.0
    )
    llm = OpenAILLM(settings)
    ctx = StageContext(llm=llm, config=FlowConfig())
    stats = RunStats()
    pipeline = Pipeline(resolve_skills(["rc", "text_modification"]), ctx, stats=stats)
    options = RunOptions(paths=[str(docs)], out=docs / "unused.jsonl")
    mock_call(base_url, "/mock/reset", {})
    slots = asyncio.Semaphore(seeds_in_flight)
    tasks: set[asyncio.Task[None]] = set()

    async def one(seed: object) -> None:
        try:
            await pipeline.run_seed(seed)  # type: ignore[arg-type]
        finally:
            slots.release()

    cpu0, t0 = cpu_seconds(), time.perf_counter()
    for seed in iter_seeds(options, stats, lambda _s: None):
        await slots.acquire()
        task = asyncio.create_task(one(seed))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    steady = mock_call(base_url, "/mock/stats")
    await asyncio.gather(*list(tasks))
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    final = mock_call(base_url, "/mock/stats")
    snapshot = llm.snapshot()
    await llm.aclose()
    calls = snapshot.requests
    return {
        "calls": calls,
        "wall_s": wall,
        "cpu_ms_per_call": 1000 * cpu / max(1, calls),
        "calls_per_s": calls / wall,
        "inflight_steady": steady["mean_inflight"] / budget,
        "inflight_whole": final["mean_inflight"] / budget,
        "peak_inflight": final["peak_inflight"],
        "pairs": stats.pairs,
        "rss_mb": peak_rss_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=160)
    parser.add_argument("--budget", type=int, default=64)
    parser.add_argument("--seeds-in-flight", type=int, default=0, help="default: the budget")
    args = parser.parse_args()
    seeds_in_flight = args.seeds_in_flight or args.budget
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        docs = Path(tmp) / "docs"
        write_documents(docs, args.seeds)
        with mock_server("--latency-median-ms", "0") as url:
            r = asyncio.run(run_once(url, docs, args.budget, seeds_in_flight, adaptive=False))
            rows.append(
                [
                    "0 ms",
                    "off",
                    f"{r['calls']:.0f}",
                    f"{r['wall_s']:.1f}",
                    f"{r['cpu_ms_per_call']:.2f}",
                    f"{r['calls_per_s']:.0f}",
                    f"{r['inflight_whole']:.2f}",
                    "-",
                    f"{r['rss_mb']:.0f}",
                ]
            )
        for adaptive in (False, True):
            with mock_server(
                "--latency-dist",
                "lognormal",
                "--latency-median-ms",
                "500",
                "--latency-sigma",
                "1.0",
                "--latency-max-ms",
                "10000",
            ) as url:
                r = asyncio.run(run_once(url, docs, args.budget, seeds_in_flight, adaptive=adaptive))
                rows.append(
                    [
                        "lognormal p50 500 ms",
                        "on" if adaptive else "off",
                        f"{r['calls']:.0f}",
                        f"{r['wall_s']:.1f}",
                        f"{r['cpu_ms_per_call']:.2f}",
                        f"{r['calls_per_s']:.0f}",
                        f"{r['inflight_whole']:.2f}",
                        f"{r['inflight_steady']:.2f}",
                        f"{r['rss_mb']:.0f}",
                    ]
                )
    print_table(
        f"Embedded pipeline vs mock server: {args.seeds} seeds (rc + text_modification), budget {args.budget}",
        [
            "latency",
            "adaptive",
            "LLM calls",
            "wall s",
            "CPU ms/call",
            "calls/s",
            "in-flight/budget (run)",
            "in-flight/budget (steady)",
            "peak RSS MB",
        ],
        rows,
    )


if __name__ == "__main__":
    main()
