"""Scenario `queueing`: the mock never refuses, but beyond 16 calls in flight its latency grows with load
(latency x (1 + (in-flight - 16) / 16)), as a vLLM server's does.

First a sweep of fixed concurrencies (our engine, adaptive off) finds the best goodput; then every tool runs
at C=64 (ours: budget 64, adaptive). Figures: goodput against the best fixed, p99 latency (measured by the
mock) against the unloaded latency: the mock's p50 in the sweep's lowest concurrency (below the knee, so
nothing queues: the nominal 200 ms plus the mock's own time per call).
Targets (ours): p99 <= 2x unloaded, at goodput >= 0.9 x the best fixed.

Run: `uv run python bench/queueing.py [--quick] [--tools ...]`.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import mock_reset, mock_server, mock_stats
from results import Row, failed, verdict
from tools import TOOLS, Tool, run_driver

LATENCY_MS = 200
KNEE = 16


def run(quick: bool, tools: list[Tool], root: Path) -> list[Row]:
    n = 200 if quick else 1000
    sweep = (16, 64) if quick else (8, 16, 24, 32, 64)
    c = 64
    flags = ("--latency-median-ms", str(LATENCY_MS), "--queueing", "--queue-knee", str(KNEE))
    config = f"N={n}, C={c}, knee {KNEE}, {LATENCY_MS} ms"
    sweep_row = Row("queueing", f"sweep, ours fixed C in {list(sweep)}", "goodput/s (p99 ms) per C")
    good = Row("queueing", config, "goodput ÷ best fixed", ">= 0.90")
    p99 = Row("queueing", config, "p99 latency ÷ unloaded p50 (sweep's lowest C)", "<= 2.0")
    detail = Row("queueing", config, "goodput/s, p50 ms, p99 ms")
    with mock_server(*flags) as url:
        best = 0.0
        unloaded = 0.0
        parts = []
        for fixed in sweep:
            mock_reset(url)
            result = run_driver(
                TOOLS["ours"],
                url,
                workload="single",
                n=n,
                concurrency=fixed,
                work_dir=root / f"queueing-sweep-{fixed}",
                extra=["--no-adaptive"],
            )
            stats = mock_stats(url)
            if failed(result):
                parts.append(f"C={fixed}: failed")
                continue
            goodput = stats["outcomes"]["ok"] / float(result["wall_s"])
            best = max(best, goodput)
            if not unloaded:
                unloaded = float(stats["latency_ms"]["p50"])
            parts.append(f"C={fixed}: {goodput:.0f} ({stats['latency_ms']['p99']:.0f})")
            print(
                f"[queueing] sweep C={fixed}: {goodput:.1f}/s p99 {stats['latency_ms']['p99']:.0f} ms",
                file=sys.stderr,
                flush=True,
            )
        sweep_row.values["ours"] = "; ".join(parts)
        for tool in tools:
            mock_reset(url)
            result = run_driver(
                tool, url, workload="single", n=n, concurrency=c, work_dir=root / f"queueing-{tool.name}"
            )
            stats = mock_stats(url)
            bad = failed(result)
            if bad:
                good.values[tool.name] = p99.values[tool.name] = detail.values[tool.name] = bad
                continue
            goodput = stats["outcomes"]["ok"] / float(result["wall_s"])
            ratio_p99 = stats["latency_ms"]["p99"] / (unloaded or LATENCY_MS)
            good.values[tool.name] = f"{goodput / best:.2f}" if best else "n/a"
            p99.values[tool.name] = f"{ratio_p99:.2f}"
            detail.values[tool.name] = (
                f"{goodput:.0f}/s, {stats['latency_ms']['p50']:.0f} ms, {stats['latency_ms']['p99']:.0f} ms "
                f"(unloaded p50 {unloaded:.0f} ms)"
            )
            print(f"[queueing] {tool.name}: {detail.values[tool.name]}", file=sys.stderr, flush=True)
            if tool.name == "ours" and best:
                good.verdict = verdict(goodput / best >= 0.9)
                p99.verdict = verdict(ratio_p99 <= 2.0)
    return [sweep_row, good, p99, detail]


def main() -> None:
    from run_all import standalone

    standalone(run, __doc__)


if __name__ == "__main__":
    main()
