"""The tools under test and how to run one workload on one of them, each in its own process.

`ours` and `raw` run with this interpreter (the project's venv); `curator` and `distilabel` with their own
virtual environments under `bench/.venvs/` (made by `bench/peers/setup.sh`). Every driver prints one
`BENCH_RESULT {json}` line (see `bench/peers/_protocol.py`); a driver that fails or overruns its time
limit gives `{"error": ...}` instead, and its whole process group is killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
PEERS = BENCH / "peers"
VENVS = BENCH / ".venvs"
RESULT_PREFIX = "BENCH_RESULT "


@dataclass(frozen=True)
class Tool:
    name: str
    label: str
    python: Path
    script: Path

    @property
    def available(self) -> bool:
        return self.python.exists() and self.script.exists()


TOOLS: dict[str, Tool] = {
    "ours": Tool("ours", "agentinstruct (ours)", Path(sys.executable), PEERS / "drive_ours.py"),
    "raw": Tool("raw", "raw AsyncOpenAI + semaphore", Path(sys.executable), PEERS / "drive_raw.py"),
    "curator": Tool("curator", "curator 0.1.31", VENVS / "curator" / "bin" / "python", PEERS / "drive_curator.py"),
    "distilabel": Tool(
        "distilabel", "distilabel 1.5.3", VENVS / "distilabel" / "bin" / "python", PEERS / "drive_distilabel.py"
    ),
}
PEER_NAMES = ("raw", "curator", "distilabel")


def driver_command(
    tool: Tool,
    base_url: str,
    *,
    workload: str,
    n: int,
    concurrency: int,
    work_dir: Path,
    out: Path,
    max_retries: int = 6,
    extra: list[str] | None = None,
) -> list[str]:
    return [
        str(tool.python),
        str(tool.script),
        "--base-url",
        base_url,
        "--workload",
        workload,
        "--n",
        str(n),
        "--concurrency",
        str(concurrency),
        "--work-dir",
        str(work_dir),
        "--out",
        str(out),
        "--max-retries",
        str(max_retries),
        *(extra or []),
    ]


def driver_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "TELEMETRY_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            "HF_HUB_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1",
            "TQDM_DISABLE": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.pop("VIRTUAL_ENV", None)
    return env


def kill_group(proc: subprocess.Popen[Any], sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


def run_driver(
    tool: Tool,
    base_url: str,
    *,
    workload: str,
    n: int,
    concurrency: int,
    work_dir: Path,
    max_retries: int = 6,
    extra: list[str] | None = None,
    timeout_s: float = 900.0,
) -> dict[str, Any]:
    """Run one workload to completion; the driver's figures, plus `out` (its rows file) and `log`."""
    work_dir.mkdir(parents=True, exist_ok=True)
    out = work_dir / "rows.jsonl"
    log = work_dir / "driver.log"
    cmd = driver_command(
        tool,
        base_url,
        workload=workload,
        n=n,
        concurrency=concurrency,
        work_dir=work_dir,
        out=out,
        max_retries=max_retries,
        extra=extra,
    )
    with log.open("w") as err:
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env=driver_env(),
            start_new_session=True,
            cwd=BENCH.parent,
        )
        try:
            stdout, _ = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            proc.wait()
            return {"error": f"no result within {timeout_s:.0f} s (stalled?)", "log": str(log)}
        finally:
            kill_group(proc)
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            result: dict[str, Any] = json.loads(line[len(RESULT_PREFIX) :])
            result["out"] = str(out)
            result["log"] = str(log)
            return result
    tail = log.read_text(errors="replace").strip().splitlines()[-3:]
    return {"error": f"exit {proc.returncode}: " + " / ".join(tail)[-300:], "log": str(log)}


def selected(names: list[str] | None) -> list[Tool]:
    """The tools asked for (default: all) that are installed; missing peers are reported, not fatal."""
    chosen = [TOOLS[n] for n in (names or list(TOOLS))]
    for tool in chosen:
        if not tool.available:
            print(f"[bench] {tool.name}: not installed (run bench/peers/setup.sh); skipped", file=sys.stderr)
    return [t for t in chosen if t.available]


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    file = Path(path)
    if not file.exists():
        return []
    return [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
