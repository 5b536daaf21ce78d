"""The admission policy alone, on a simulated clock: the real `Limiter` against the mock's server laws.

No HTTP, no event loop, no CPU contention: each figure is what the policy would reach with a client that costs
nothing, so it separates the policy's share of a benchmark figure from the machine's. Deterministic (seeded),
about 10 seconds. `--slow-start-factor` compares the slow start's growth factor (default 2).

Rows: overhead (10,000 calls at 200 ms, C=64 and 256: wall time against ceil(N/C) x latency); capacity (16 in
flight, 429 beyond, refusals for concurrency and, for comparison, read as rate refusals); queueing (1,000 calls,
budget 64, knees 8 to 32: goodput against knee/latency and p99 against the unloaded latency); heavy tail
(lognormal, median 500 ms, sigma 1, budget 128, 20 seeds: completions until the limit first reaches the budget).

Run: `uv run python bench/limiter_sim.py [--slow-start-factor 1.5]`.
"""

from __future__ import annotations

import argparse
import math
import statistics
from dataclasses import replace

from agentinstruct.llm.limits import LimitConfig
from agentinstruct.testing.limiter_sim import Server, simulate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slow-start-factor", type=float, default=2.0)
    args = parser.parse_args()
    factor = args.slow_start_factor
    rows: list[tuple[str, str, str]] = []

    for budget in (64, 256):
        result = simulate(LimitConfig(concurrency=budget, slow_start_factor=factor), Server(median=0.2), calls=10_000)
        ideal = math.ceil(10_000 / budget) * 0.2
        rows.append((f"overhead C={budget}, 200 ms", "wall ÷ ideal", f"{result.wall_s / ideal:.3f}"))

    refusing = Server(median=0.2, capacity=16, retry_after=1.0)
    for label, server in (("for concurrency", refusing), ("read as rate refusals", replace(refusing, pause_all=True))):
        result = simulate(LimitConfig(concurrency=64, slow_start_factor=factor), server, calls=1000)
        rows.append(
            (
                f"capacity 16, 429s {label}",
                "goodput ÷ cap/latency; 429s per success",
                f"{result.goodput / 80:.3f}; {result.rejected_per_success:.3f}",
            )
        )

    for knee in (8, 12, 16, 24, 32):
        server = Server(median=0.2, queue_knee=knee)
        result = simulate(LimitConfig(concurrency=64, slow_start_factor=factor), server, calls=1000)
        rows.append(
            (
                f"queueing, knee {knee}",
                "goodput ÷ knee/latency; p99 ÷ unloaded",
                f"{result.goodput / (knee / 0.2):.3f}; {result.latency_quantile(0.99) / 0.2:.2f}",
            )
        )

    ramps: list[int] = []
    never = 0
    for seed in range(20):
        server = Server(median=0.5, sigma=1.0)
        result = simulate(LimitConfig(concurrency=128, slow_start_factor=factor), server, calls=3000, seed=seed)
        reached = next((i for i, limit in enumerate(result.limits) if limit >= 128), None)
        if reached is None:
            never += 1
        else:
            ramps.append(reached)
    rows.append(
        (
            "heavy tail, budget 128, 20 seeds",
            "completions to reach the budget: median, max; runs that never did",
            f"{statistics.median(ramps):.0f}, {max(ramps)}; {never}" if ramps else f"-; {never}",
        )
    )

    print(f"Limiter policy on a simulated clock (slow start factor {factor:g})\n")
    print("| scenario | metric | value |")
    print("|---|---|---|")
    for scenario, metric, value in rows:
        print(f"| {scenario} | {metric} | {value} |")


if __name__ == "__main__":
    main()
