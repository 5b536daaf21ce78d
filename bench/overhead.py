"""Scenario `overhead`: N independent calls at concurrency C against a mock with a fixed latency and no limit.

Figures per tool: wall time against the ideal ceil(N/C) x latency, CPU seconds per 1,000 calls (the driver's
process and its children; the mock runs in its own process) and the driver's peak RSS.
Targets (ours): wall <= 1.10 x ideal at 200 ms; fewer CPU s / 1k calls than every peer.

Run: `uv run python bench/overhead.py [--quick] [--tools ours,curator]`.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import mock_reset, mock_server, mock_stats
from results import Row, failed, fmt, verdict
from tools import PEER_NAMES, Tool, run_driver


def run(quick: bool, tools: list[Tool], root: Path) -> list[Row]:
    n = 400 if quick else 10_000
    configs = [(0, 64), (200, 64)] if quick else [(0, 64), (0, 256), (200, 64), (200, 256)]
    rows: list[Row] = []
    for latency_ms, c in configs:
        results: dict[str, dict[str, object]] = {}
        with mock_server("--latency-median-ms", str(latency_ms)) as url:
            for tool in tools:
                mock_reset(url)
                result = run_driver(
                    tool,
                    url,
                    workload="single",
                    n=n,
                    concurrency=c,
                    work_dir=root / f"overhead-{latency_ms}-{c}-{tool.name}",
                )
                result["mock"] = mock_stats(url)
                results[tool.name] = result
                print(f"[overhead] {latency_ms} ms C={c} {tool.name}: {_brief(result)}", file=sys.stderr, flush=True)
        ideal = math.ceil(n / c) * latency_ms / 1000
        config = f"N={n}, C={c}, {latency_ms} ms"
        wall = Row(
            "overhead",
            config,
            "wall s" + (f" (÷ ideal {ideal:.1f} s)" if ideal else ""),
            "<= 1.10x ideal" if ideal else "",
        )
        cpu = Row("overhead", config, "CPU s / 1k calls", "< every peer")
        rss = Row("overhead", config, "peak RSS MB (driver; +largest child)")
        for name, r in results.items():
            bad = failed(r)
            if bad:
                wall.values[name] = cpu.values[name] = rss.values[name] = bad
                continue
            w, cpu_s = float(r["wall_s"]), float(r["cpu_s"])  # type: ignore[arg-type]
            calls = max(1, int(r["mock"]["outcomes"]["ok"]))  # type: ignore[index]
            wall.values[name] = f"{w:.1f}" + (f" ({w / ideal:.2f}x)" if ideal else "")
            cpu.values[name] = fmt(1000 * cpu_s / calls)
            child = float(r.get("children_rss_mb", 0) or 0)  # type: ignore[arg-type]
            own_children = float(r["cpu_s"]) - float(r.get("cpu_self_s", r["cpu_s"])) > 0.05  # type: ignore[arg-type]
            rss.values[name] = f"{float(r['rss_mb']):.0f}" + (f" (+{child:.0f})" if own_children else "")  # type: ignore[arg-type]
        ours = results.get("ours")
        if ours and not failed(ours):
            if ideal:
                wall.verdict = verdict(float(ours["wall_s"]) / ideal <= 1.10)  # type: ignore[arg-type]
            ours_cpu = float(cpu.values["ours"])
            peers = [float(cpu.values[p]) for p in PEER_NAMES if p in cpu.values and _num(cpu.values[p])]
            if peers:
                cpu.verdict = verdict(ours_cpu < min(peers))
                cpu.values["ours"] += f" ({ours_cpu / min(peers):.2f}x best peer)"
        rows += [wall, cpu, rss]
    return rows


def _num(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _brief(result: dict[str, object]) -> str:
    if "error" in result:
        return f"ERROR {result['error']}"
    return f"wall {float(result['wall_s']):.2f} s, cpu {float(result['cpu_s']):.2f} s, rows {result['rows']}"  # type: ignore[arg-type]


def main() -> None:
    from run_all import standalone

    standalone(run, __doc__)


if __name__ == "__main__":
    main()
