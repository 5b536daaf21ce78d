"""Scenario `crash`: SIGKILL a run at 25 %, 50 % and 90 % of its LLM calls (counted by the mock), then rerun
the same command to completion.

* ours: `agentinstruct generate` (the real pipeline, skill text_modification, 2 refinement rounds,
  concurrency 32) over generated documents; the reference is a crash-free run of the same command.
* curator: the `single` workload with the same cache directory for both runs (curator's resume).
* distilabel: the `single` workload with `use_cache=True` for both runs (distilabel's resume).

Figures per kill point: calls paid twice (requests the mock started serving, over both runs, minus the
crash-free run's), calls in flight at the kill, rows lost and rows duplicated in the final output against the
crash-free run. In flight at the kill, for ours: calls the mock had started serving whose answers were not in
the CLI's response cache when the process died (sent and not answered, or answered and not yet stored: both
are lost with the process); for the peers, whose caches are not read here: the mock's own in-flight count,
polled at most 10 ms before the kill (a lower bound).
Targets (ours): paid twice <= in flight at the kill; 0 rows lost; 0 rows duplicated.

Run: `uv run python bench/crash.py [--quick] [--tools ...]`.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import generate_command, mock_reset, mock_server, mock_stats, write_documents
from results import Row, verdict
from tools import (
    BENCH,
    Tool,
    driver_command,
    driver_env,
    kill_group,
    read_rows,
    run_driver,
)

LATENCY_MS = 200
FRACTIONS = (0.25, 0.5, 0.9)
NOT_PAID = ("400", "401", "429")


def paid(stats: dict[str, Any]) -> int:
    """Requests the server started generating for (answered, cut short or cancelled by the client)."""
    return sum(n for k, n in stats["outcomes"].items() if k not in NOT_PAID)


def _ours_command(url: str, docs: Path, out: Path, concurrency: int) -> list[str]:
    return generate_command(url, docs, out, concurrency, "--skills", "text_modification", "--refine-rounds", "2")


def _run(cmd: list[str], log: Path, timeout_s: float) -> bool:
    with log.open("a") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=fh, env=driver_env(), start_new_session=True, cwd=BENCH.parent)
        try:
            proc.wait(timeout=timeout_s)
            return True
        except subprocess.TimeoutExpired:
            return False
        finally:
            kill_group(proc)
            proc.wait()


def _run_and_kill(cmd: list[str], url: str, at_paid: int, log: Path, timeout_s: float = 600) -> int | None:
    """Start `cmd`, SIGKILL its process group once the mock has started `at_paid` calls; in-flight at the kill
    (None if the run ended first)."""
    with log.open("a") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=fh, env=driver_env(), start_new_session=True, cwd=BENCH.parent)
        deadline = time.monotonic() + timeout_s
        try:
            while proc.poll() is None and time.monotonic() < deadline:
                stats = mock_stats(url)
                if paid(stats) >= at_paid:
                    kill_group(proc)
                    proc.wait()
                    return int(stats["inflight"])
                time.sleep(0.01)
            return None
        finally:
            kill_group(proc)
            proc.wait()


def _rows_figures(rows: list[dict[str, Any]], key: str, expected: set[Any]) -> tuple[int, int]:
    counts = Counter(row[key] for row in rows)
    lost = len(expected - set(counts))
    duplicated = sum(n - 1 for n in counts.values() if n > 1)
    return lost, duplicated


def _trial_cells(
    rows: dict[float, Row],
    name: str,
    fraction: float,
    twice: int,
    inflight: int | None,
    lost: int,
    dup: int,
    complete: bool,
) -> None:
    if inflight is None:
        rows[fraction].values[name] = "run ended before the kill"
        return
    text = f"{twice} / {inflight} / {lost} / {dup}"
    rows[fraction].values[name] = text if complete else text + " (rerun stalled)"


def run(quick: bool, tools: list[Tool], root: Path) -> list[Row]:
    names = {t.name for t in tools}
    rows = {
        f: Row(
            "crash",
            f"SIGKILL at {int(f * 100)} %",
            "paid twice / in flight at kill / rows lost / duplicated",
            "twice <= in flight; 0 lost; 0 dup",
        )
        for f in FRACTIONS
    }
    notes = Row("crash", "reference (crash-free)", "calls, rows")
    uncached = Row("crash", "ours, per kill point", "of the calls in flight: answered by the mock but not yet cached")
    with mock_server("--latency-median-ms", str(LATENCY_MS)) as url:
        if "ours" in names:
            _crash_ours(url, quick, root / "crash-ours", rows, notes, uncached)
        for tool in tools:
            if tool.name in ("curator", "distilabel"):
                _crash_peer(url, tool, quick, root / f"crash-{tool.name}", rows, notes)
    return [notes, *rows.values(), *([uncached] if uncached.values else [])]


def _cached(path: Path) -> int:
    """Entries in the CLI's response cache (what a rerun will not pay for)."""
    if not path.exists():
        return 0
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT count(*) FROM llm_cache").fetchone()[0])


def _crash_ours(url: str, quick: bool, root: Path, rows: dict[float, Row], notes: Row, uncached: Row) -> None:
    concurrency = 32
    docs = root / "docs"
    write_documents(docs, 8 if quick else 45)
    log = root / "cli.log"
    mock_reset(url)
    reference_out = root / "reference" / "pairs.jsonl"
    _run(_ours_command(url, docs, reference_out, concurrency), log, 900)
    reference_paid = paid(mock_stats(url))
    reference_ids = {row["id"] for row in read_rows(reference_out)}
    notes.values["ours"] = f"{reference_paid} calls, {len(reference_ids)} pairs"
    print(f"[crash] ours reference: {reference_paid} calls, {len(reference_ids)} pairs", file=sys.stderr, flush=True)
    for fraction in FRACTIONS:
        trial = root / f"kill-{int(fraction * 100)}"
        shutil.rmtree(trial, ignore_errors=True)
        out = trial / "pairs.jsonl"
        mock_reset(url)
        cmd = _ours_command(url, docs, out, concurrency)
        server_inflight = _run_and_kill(cmd, url, int(fraction * reference_paid), log)
        time.sleep(0.2)
        after = mock_stats(url)
        cached = _cached(out.with_name(out.name + ".state") / "llm-cache.sqlite")
        lag = after["outcomes"]["ok"] - cached
        inflight = None if server_inflight is None else paid(after) - cached
        parts = [] if not uncached.values.get("ours") else [uncached.values["ours"]]
        uncached.values["ours"] = "; ".join(
            [*parts, f"{int(fraction * 100)} %: {lag} (mock's in-flight at its last poll: {server_inflight})"]
        )
        complete = _run(cmd, log, 900)
        twice = paid(mock_stats(url)) - reference_paid
        lost, dup = _rows_figures(read_rows(out), "id", reference_ids)
        _trial_cells(rows, "ours", fraction, twice, inflight, lost, dup, complete)
        print(f"[crash] ours {fraction}: {rows[fraction].values['ours']}", file=sys.stderr, flush=True)
        rows[fraction].verdict = verdict(
            inflight is not None and complete and twice <= inflight and lost == 0 and dup == 0
        )


def _crash_peer(url: str, tool: Tool, quick: bool, root: Path, rows: dict[float, Row], notes: Row) -> None:
    n, concurrency = (300, 32) if quick else (2000, 32)
    extra = ["--use-cache"] if tool.name == "distilabel" else []
    rerun_timeout = 60 if quick else 120
    notes.values[tool.name] = f"{n} calls, {n} rows"
    for fraction in FRACTIONS:
        work = root / f"kill-{int(fraction * 100)}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        mock_reset(url)
        cmd = driver_command(
            tool,
            url,
            workload="single",
            n=n,
            concurrency=concurrency,
            work_dir=work,
            out=work / "rows.jsonl",
            extra=extra,
        )
        inflight = _run_and_kill(cmd, url, int(fraction * n), work / "driver.log")
        result = run_driver(
            tool,
            url,
            workload="single",
            n=n,
            concurrency=concurrency,
            work_dir=work,
            extra=extra,
            timeout_s=rerun_timeout,
        )
        twice = paid(mock_stats(url)) - n
        lost, dup = _rows_figures(read_rows(work / "rows.jsonl"), "i", set(range(n)))
        _trial_cells(
            rows, tool.name, fraction, twice, inflight, lost if "error" not in result else n, dup, "error" not in result
        )
        print(f"[crash] {tool.name} {fraction}: {rows[fraction].values[tool.name]}", file=sys.stderr, flush=True)


def main() -> None:
    from run_all import standalone

    standalone(run, __doc__)


if __name__ == "__main__":
    main()
