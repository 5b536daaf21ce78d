"""Run every scenario side by side on our engine and the peers, against the same mock, and print one table.

    bash bench/peers/setup.sh                      # once: the peers' virtual environments
    uv run python bench/run_all.py                 # everything (about 30-40 minutes on 2 cores)
    uv run python bench/run_all.py --quick         # small N, a smoke check (a few minutes with the peers)
    uv run python bench/run_all.py --quick --only ours --scenarios overhead,capacity

Scenarios: overhead, capacity, queueing, crash, pipeline, memory (one script each in bench/, runnable alone with
the same options; memory runs ours only). Tools: ours, raw (AsyncOpenAI + semaphore), curator, distilabel; a
peer whose environment is missing is skipped with a message. `--markdown PATH` also writes the table to a file.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import markdown_table
from results import HEADER, Row
from tools import TOOLS, Tool, selected

Scenario = Callable[[bool, list[Tool], Path], list[Row]]
SCENARIOS = ("overhead", "capacity", "queueing", "crash", "pipeline", "memory")


def _scenario(name: str) -> Scenario:
    module = __import__(name)
    return module.run  # type: ignore[no-any-return]


def _parser(doc: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small N: a smoke check, not a benchmark")
    parser.add_argument(
        "--only",
        "--tools",
        dest="tools",
        default=None,
        help=f"comma-separated tools among {','.join(TOOLS)} (default: all installed)",
    )
    parser.add_argument("--work-dir", type=Path, default=None, help="keep every run's files here")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the table to this file")
    return parser


def _tools(arg: str | None) -> list[Tool]:
    names = [n.strip() for n in arg.split(",") if n.strip()] if arg else None
    unknown = set(names or []) - set(TOOLS)
    if unknown:
        raise SystemExit(f"unknown tools: {sorted(unknown)}; known: {list(TOOLS)}")
    return selected(names)


def render(rows: list[Row]) -> str:
    return markdown_table(HEADER, [row.cells() for row in rows])


def execute(scenarios: list[str], quick: bool, tools: list[Tool], work_dir: Path | None) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        root = work_dir or Path(tmp)
        for name in scenarios:
            started = time.monotonic()
            print(f"[bench] scenario {name} ...", file=sys.stderr, flush=True)
            rows += _scenario(name)(quick, tools, root / name)
            print(f"[bench] scenario {name} done in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    return rows


def _emit(rows: list[Row], markdown: Path | None, title: str) -> None:
    table = render(rows)
    print(f"\n{title}\n\n{table}")
    if markdown is not None:
        markdown.parent.mkdir(parents=True, exist_ok=True)
        markdown.write_text(f"{title}\n\n{table}\n", encoding="utf-8")


def standalone(run: Scenario, doc: str | None) -> None:
    """Entry point of a single scenario script."""
    args = _parser(doc).parse_args()
    tools = _tools(args.tools)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        rows = run(args.quick, tools, args.work_dir or Path(tmp))
    _emit(rows, args.markdown, "quick run (smoke check)" if args.quick else "results")


def main(argv: list[str] | None = None) -> None:
    parser = _parser(__doc__)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated subset, in order")
    args = parser.parse_args(argv)
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenarios: {sorted(unknown)}; known: {list(SCENARIOS)}")
    tools = _tools(args.tools)
    started = time.monotonic()
    rows = execute(scenarios, args.quick, tools, args.work_dir)
    title = (
        f"{'Quick run (smoke check, not a benchmark)' if args.quick else 'Benchmark'}: "
        f"{', '.join(t.name for t in tools)}; {time.monotonic() - started:.0f} s"
    )
    _emit(rows, args.markdown, title)


if __name__ == "__main__":
    main()
