"""Scenario `memory`: does the embedded run's memory stay flat with the size of its input?

Claim: 100,000 queued seeds cost no more memory than 1,000, because seeds are read lazily and no task is
created per row up front. Three JSONL inputs of small documents (1,000, 10,000 and 100,000 lines, a few hundred
characters of distinct text each, with an `id`) go through the real CLI, `agentinstruct generate` (skill
text_modification, budget 64, seeds in flight 64), each in a fresh process against the mock server at 0 ms
latency. Every run is stopped after the same amount of work: once `STOP_AT` seeds are recorded as done (the
run's `done_seeds.txt`), so the 100,000-seed run still has about 99,700 seeds queued when it is measured.

Figures per input: seeds finished at the stop, peak RSS of the CLI process (`VmHWM` of /proc/<pid>/status, read
at the stop, so it covers start-up and the count of the input's seeds), RSS at the stop (`VmRSS`), and the peak
against the 1,000-seed run's. Target (ours): peak RSS ratio <= 1.10.

Ours only: the peers are not run (the claim is about our engine's seed queue). A second pass runs every skill
(the CLI's default) at 1,000 and 100,000 seeds: tool_use builds an in-memory search index over the corpus,
bounded by a sample of 2,000 seeds, so that pass shows the cost of the index up to its bound.

Run: `uv run python bench/memory.py [--quick]` (about a minute; `--quick`: 1,000 and 10,000 seeds, stop at 100).
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import generate_command, mock_reset, mock_server
from results import Row, verdict
from tools import BENCH, Tool, driver_env, kill_group

STOP_AT = 300
QUICK_STOP_AT = 100
SIZES = (1_000, 10_000, 100_000)
QUICK_SIZES = (1_000, 10_000)
CONCURRENCY = 64
TARGET = 1.10
POLL_S = 0.05
VOCABULARY = (
    "the of and a report growth revenue quarter market policy energy water river city council budget school "
    "health data model study result method figure table north south east west harbour bridge railway farm "
    "winter summer price wage survey census museum library hospital court election treaty festival"
)


@dataclass(frozen=True, slots=True)
class Measure:
    seeds: int
    finished: int
    peak_mb: float
    rss_mb: float
    wall_s: float


def write_inputs(folder: Path, sizes: tuple[int, ...]) -> dict[int, Path]:
    """One JSONL file per size; the smaller ones are prefixes of the largest (same documents, same ids)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {n: folder / f"seeds-{n}.jsonl" for n in sizes}
    handles = {n: path.open("w", encoding="utf-8") for n, path in paths.items()}
    rng = random.Random(0)
    words = VOCABULARY.split()
    try:
        for i in range(max(sizes)):
            body = " ".join(rng.choices(words, k=48))
            text = f"Document {i}. {body.capitalize()}. Reference {i * 7919 % 1_000_003}, revised in edition {i}."
            line = json.dumps({"id": f"doc-{i:06d}", "text": text}) + "\n"
            for n, fh in handles.items():
                if i < n:
                    fh.write(line)
    finally:
        for fh in handles.values():
            fh.close()
    return paths


def _status_mb(pid: int) -> tuple[float, float]:
    """(VmHWM, VmRSS) of a live process, in MB."""
    fields: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            fields[key] = int(value.split()[0]) / 1024
    return fields["VmHWM"], fields["VmRSS"]


def _done(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def measure(
    url: str,
    seeds_file: Path,
    seeds: int,
    work: Path,
    stop_at: int,
    skill_args: tuple[str, ...] = ("--skills", "text_modification"),
    timeout_s: float = 240,
) -> Measure:
    """Run the CLI over `seeds_file` until `stop_at` seeds are done; its memory figures at that moment."""
    work.mkdir(parents=True, exist_ok=True)
    out = work / "pairs.jsonl"
    done_file = out.with_name(out.name + ".state") / "done_seeds.txt"
    cmd = generate_command(url, seeds_file, out, CONCURRENCY, *skill_args, "--fresh")
    with (work / "cli.log").open("w") as log:
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=log, stderr=log, env=driver_env(), start_new_session=True, cwd=BENCH.parent)
        try:
            while time.monotonic() - started < timeout_s:
                if proc.poll() is not None:
                    raise RuntimeError(f"the run of {seeds} seeds ended before {stop_at} were done; see {log.name}")
                finished = _done(done_file)
                if finished >= stop_at:
                    peak, rss = _status_mb(proc.pid)
                    return Measure(seeds, finished, peak, rss, time.monotonic() - started)
                time.sleep(POLL_S)
            raise RuntimeError(f"the run of {seeds} seeds did not finish {stop_at} seeds within {timeout_s:.0f} s")
        finally:
            kill_group(proc)
            proc.wait()


def run(quick: bool, tools: list[Tool], root: Path) -> list[Row]:
    if "ours" not in {t.name for t in tools}:
        print("[memory] ours not selected: nothing to run (peers are not part of this scenario)", file=sys.stderr)
        return []
    print("[memory] ours only: the peers are not run in this scenario", file=sys.stderr, flush=True)
    sizes, stop_at = (QUICK_SIZES, QUICK_STOP_AT) if quick else (SIZES, STOP_AT)
    inputs = write_inputs(root / "inputs", sizes)
    passes: list[tuple[str, tuple[str, ...], tuple[int, ...]]] = [
        ("text_modification", ("--skills", "text_modification"), sizes)
    ]
    if not quick:
        passes.append(("all skills", (), (sizes[0], sizes[-1])))
    rows = []
    with mock_server("--latency-median-ms", "0") as url:
        for label, skill_args, pass_sizes in passes:
            measures: list[Measure] = []
            for n in pass_sizes:
                mock_reset(url)
                m = measure(url, inputs[n], n, root / f"run-{label.replace(' ', '-')}-{n}", stop_at, skill_args)
                measures.append(m)
                print(
                    f"[memory] {label}, {n:,} seeds: {m.finished} done at {m.wall_s:.1f} s, "
                    f"peak RSS {m.peak_mb:.1f} MB, RSS {m.rss_mb:.1f} MB",
                    file=sys.stderr,
                    flush=True,
                )
            base = measures[0].peak_mb
            for m in measures:
                ratio = m.peak_mb / base
                is_base = m is measures[0]
                note = " (ours only; peers not run)" if is_base and not rows else ""
                rows.append(
                    Row(
                        "memory",
                        f"{label}: {m.seeds:,} seeds in input, stop at {stop_at} done{note}",
                        f"seeds finished / peak RSS MB / RSS at stop MB / peak ÷ {measures[0].seeds:,}-seed run",
                        "" if is_base else f"<= {TARGET:.2f}",
                        {"ours": f"{m.finished} / {m.peak_mb:.1f} / {m.rss_mb:.1f} / {ratio:.3f}"},
                        "" if is_base else verdict(ratio <= TARGET),
                    )
                )
    return rows


def main() -> None:
    from run_all import standalone

    standalone(run, __doc__)


if __name__ == "__main__":
    main()
