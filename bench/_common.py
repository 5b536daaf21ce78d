"""Shared helpers of the benchmark scripts: a mock OpenAI-compatible server in its own process, and inputs."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


@contextmanager
def mock_server(*flags: str) -> Iterator[str]:
    """Start `agentinstruct.testing.mock_server` as a separate process (its CPU is not ours); yield its URL."""
    cmd = [
        sys.executable,
        "-m",
        "agentinstruct.testing.mock_server",
        "--port",
        "0",
        "--responders",
        "agentinstruct.testing.responders",
        *flags,
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.startswith("http"):
            raise RuntimeError(f"mock server did not start: {line!r}")
        yield line
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def mock_call(base_url: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    root = base_url.removesuffix("/v1")
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        root + path,
        data=data,
        method="POST" if body is not None else "GET",
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return dict(json.loads(resp.read()))


def write_documents(folder: Path, count: int) -> list[Path]:
    """`count` distinct text documents built from the example documents (distinct content ids)."""
    folder.mkdir(parents=True, exist_ok=True)
    sources = sorted((REPO / "examples" / "documents").glob("*.[mt][dx]*"))
    texts = [p.read_text(encoding="utf-8") for p in sources if p.suffix in (".md", ".txt")]
    paths = []
    for i in range(count):
        path = folder / f"doc-{i:05d}.md"
        path.write_text(f"Report {i}.\n\n{texts[i % len(texts)]}\n\nNote {i}: figures revised in edition {i}.\n")
        paths.append(path)
    return paths


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print(f"\n{title}")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")


os.environ.setdefault("PYTHONHASHSEED", "0")


# ---- helpers of the side-by-side suite (bench/run_all.py) ---------------------------------------------------


def generate_command(url: str, inputs: Path, out: Path, concurrency: int, *options: str) -> list[str]:
    """`agentinstruct generate` on `inputs` against the mock at `url`, with `options` (skills, flow, ...)."""
    return [
        sys.executable,
        "-m",
        "agentinstruct.cli",
        "generate",
        str(inputs),
        "--out",
        str(out),
        "--base-url",
        url,
        "--model",
        "mock-model",
        "--concurrency",
        str(concurrency),
        *options,
    ]


def mock_stats(base_url: str) -> dict[str, Any]:
    return mock_call(base_url, "/mock/stats")


def mock_reset(base_url: str) -> None:
    mock_call(base_url, "/mock/reset", {})


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub markdown table (no padding), for RESULTS.md and the README."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)
