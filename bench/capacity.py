"""Scenario `capacity`: the mock takes 16 calls in flight and answers 429 (Retry-After 1 s) beyond that.

Every tool gets C=64 workers and up to 10 retries. Figures: goodput (successful calls per second) against
capacity / latency, and 429s per successful call, both counted by the mock.
Targets (ours): goodput >= 0.9 x capacity/latency; <= 0.1 429s per successful call.

Run: `uv run python bench/capacity.py [--quick] [--tools ...]`.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import mock_reset, mock_server, mock_stats
from results import Row, failed, verdict
from tools import Tool, run_driver

CAPACITY = 16
LATENCY_MS = 200


def run(quick: bool, tools: list[Tool], root: Path) -> list[Row]:
    n = 200 if quick else 1000
    c = 64
    ceiling = CAPACITY / (LATENCY_MS / 1000)
    config = f"N={n}, C={c}, cap {CAPACITY}, {LATENCY_MS} ms"
    good = Row("capacity", config, f"goodput ÷ cap/latency ({ceiling:.0f}/s)", ">= 0.90")
    r429 = Row("capacity", config, "429s per successful call", "<= 0.10")
    wall = Row("capacity", config, "wall s")
    flags = ("--latency-median-ms", str(LATENCY_MS), "--capacity", str(CAPACITY), "--retry-after-s", "1")
    with mock_server(*flags) as url:
        for tool in tools:
            mock_reset(url)
            result = run_driver(
                tool,
                url,
                workload="single",
                n=n,
                concurrency=c,
                max_retries=10,
                work_dir=root / f"capacity-{tool.name}",
                timeout_s=600,
            )
            stats = mock_stats(url)
            bad = failed(result)
            if bad:
                good.values[tool.name] = r429.values[tool.name] = wall.values[tool.name] = bad
                continue
            ok, refused = stats["outcomes"]["ok"], stats["outcomes"]["429"]
            goodput = ok / float(result["wall_s"])
            good.values[tool.name] = f"{goodput / ceiling:.2f}"
            r429.values[tool.name] = f"{refused / max(1, ok):.2f}"
            wall.values[tool.name] = f"{float(result['wall_s']):.1f}"
            if result.get("failed"):
                wall.values[tool.name] += f" ({result['failed']} rows failed)"
            print(
                f"[capacity] {tool.name}: ok {ok}, 429 {refused}, wall {float(result['wall_s']):.1f} s",
                file=sys.stderr,
                flush=True,
            )
            if tool.name == "ours":
                good.verdict = verdict(goodput / ceiling >= 0.9)
                r429.verdict = verdict(refused / max(1, ok) <= 0.1)
    return [good, r429, wall]


def main() -> None:
    from run_all import standalone

    standalone(run, __doc__)


if __name__ == "__main__":
    main()
