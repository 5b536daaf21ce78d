"""Scenario `pipeline`: the AgentInstruct shape, 6 dependent calls per seed (transform, suggest, refine,
refine, answer, judge), N seeds, C=64, a fixed 200 ms latency.

* every tool runs the `chain` workload (`bench/peers/_protocol.py`): ours and raw with C workers each carrying
  one seed through its chain; curator a block (map over the dataset) per step; distilabel a `>>` chain of 6
  steps exchanging batches of C;
* ours also runs the real embedded `Pipeline` (skill text_modification, 2 refinement rounds, one instruction
  per seed; about 9 calls per seed, fanning out) over generated documents.

Figures: time to first pair (the first seed's last answer in hand) against the ideal 6 x latency, and pairs
per second against the ideal C / (6 x latency). (The Kafka services variant is not part of this suite.)

Run: `uv run python bench/pipeline.py [--quick] [--tools ...]`.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import mock_reset, mock_server, mock_stats
from results import Row, failed
from tools import TOOLS, Tool, run_driver

LATENCY_MS = 200
STEPS = 6


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
    return [ttfp, rate, real]


def main() -> None:
    from run_all import standalone

    standalone(run, __doc__)


if __name__ == "__main__":
    main()
