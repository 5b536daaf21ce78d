"""What every benchmark driver shares, whichever virtual environment it runs in (standard library only).

A driver runs one workload against an OpenAI-compatible endpoint and prints one line
`BENCH_RESULT {json}` on stdout. Workloads:

* `single`: N independent calls, "Summarise row i ...", at most C in flight; one output row per call;
* `chain`: N seeds, each a chain of 6 dependent calls (transform, suggest, refine, refine, answer, judge),
  each prompt carrying the previous answer; one output row per seed. `first_pair_s` is the time until the
  first seed's last answer was in the driver's hands.

Figures: `wall_s` and `cpu_s` cover the workload only (from just before the tool is asked to run it until
its results are in hand; interpreter start and imports are excluded), `cpu_s` is this process plus the
children it reaped (getrusage), `rss_mb` the peak resident size of this process, `children_rss_mb` the
largest child's.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from dataclasses import dataclass, field
from typing import Any

RESULT_PREFIX = "BENCH_RESULT "
MODEL = "mock-model"
MAX_TOKENS = 256
CHAIN_STEPS = ("transform", "suggest", "refine", "refine", "answer", "judge")
_CARRY_CHARS = 400


def single_prompt(i: int) -> str:
    return (
        f"Summarise row {i} in one sentence: the quarterly report for region {i % 17} lists revenue of "
        f"{1000 + i} units, costs of {700 + i % 91} units and {i % 13} staff changes."
    )


def seed_text(i: int) -> str:
    return (
        f"Document {i}. The committee for district {i % 23} reviewed {i % 7 + 2} proposals on water supply, "
        f"road repair and school meals, and approved a budget of {5000 + i} units after a long debate."
    )


def chain_prompt(step: int, seed: int, previous: str) -> str:
    """The user message of chain step `step` (0..5) for seed `seed`, carrying the previous answer."""
    carried = previous[:_CARRY_CHARS]
    name = CHAIN_STEPS[step]
    if step == 0:
        return f"[{name}] Rewrite this document as a meeting transcript: {seed_text(seed)}"
    if step == 1:
        return f"[{name}] Suggest one question a student could answer from this text: {carried}"
    if step in (2, 3):
        return f"[{name} {step - 1}] Make this question harder without changing its topic: {carried}"
    if step == 4:
        return f"[{name}] Answer this question carefully: {carried}"
    return f"[{name}] Rate this answer from 1 to 5 and explain briefly: {carried}"


def summary_schema() -> dict[str, Any]:
    """The JSON schema of the `single` workload's answer (the same as a pydantic `Summary(summary: str)`)."""
    return {
        "type": "object",
        "properties": {"summary": {"type": "string"}},
        "required": ["summary"],
        "additionalProperties": False,
        "title": "Summary",
    }


def parse_args(argv: list[str] | None = None, *, extra: dict[str, Any] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--workload", choices=("single", "chain"), default="single")
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--out", required=True, help="output JSONL of rows")
    parser.add_argument("--work-dir", required=True, help="the tool's cache/state directory")
    parser.add_argument("--max-retries", type=int, default=6)
    parser.add_argument("--timeout-s", type=float, default=120.0)
    for name, kwargs in (extra or {}).items():
        parser.add_argument(name, **kwargs)
    return parser.parse_args(argv)


def _usage() -> tuple[float, float, float]:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime, kids.ru_maxrss / 1024


@dataclass
class Meter:
    """Wall and CPU time of the measured part of a driver."""

    wall0: float = 0.0
    cpu0: float = 0.0
    kids0: float = 0.0
    epoch0: float = 0.0
    result: dict[str, Any] = field(default_factory=dict)

    def start(self) -> None:
        self.cpu0, self.kids0, _ = _usage()
        self.epoch0 = time.time()
        self.wall0 = time.perf_counter()

    def stop(self, **figures: Any) -> dict[str, Any]:
        wall = time.perf_counter() - self.wall0
        cpu, kids, kids_rss = _usage()
        self.result = {
            "wall_s": wall,
            "cpu_s": (cpu - self.cpu0) + (kids - self.kids0),
            "cpu_self_s": cpu - self.cpu0,
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "children_rss_mb": kids_rss,
            **figures,
        }
        return self.result

    def since_start(self, epoch: float | None) -> float | None:
        """Seconds from `start()` to a wall-clock (time.time) instant, e.g. one recorded by a child process."""
        return None if epoch is None else epoch - self.epoch0


def write_rows(path: str, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def emit(result: dict[str, Any]) -> None:
    sys.stdout.flush()
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def quiet_environment() -> None:
    """Telemetry and progress bars off for every peer (their own switches)."""
    for key, value in (
        ("TELEMETRY_ENABLED", "false"),
        ("DO_NOT_TRACK", "1"),
        ("HF_HUB_OFFLINE", "1"),
        ("HF_DATASETS_OFFLINE", "1"),
        ("HF_HUB_DISABLE_TELEMETRY", "1"),
        ("TQDM_DISABLE", "1"),
        ("CURATOR_VIEWER", "0"),
        ("DISTILABEL_LOG_LEVEL", "ERROR"),
    ):
        os.environ.setdefault(key, value)
