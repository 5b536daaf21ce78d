"""Smoke test of the benchmark suite: the drivers and one scenario produce figures (their values are not
checked: this is a 2-core machine shared with other work)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench"
sys.path.insert(0, str(BENCH))

import _common  # noqa: E402
import results  # noqa: E402
import tools  # noqa: E402

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def mock_url() -> object:
    with _common.mock_server("--latency-median-ms", "5") as url:
        yield url


@pytest.mark.parametrize(("tool", "workload"), [("ours", "single"), ("ours", "chain"), ("raw", "single")])
def test_driver_reports_figures(mock_url: str, tmp_path: Path, tool: str, workload: str) -> None:
    _common.mock_reset(mock_url)
    result = tools.run_driver(
        tools.TOOLS[tool], mock_url, workload=workload, n=12, concurrency=4, work_dir=tmp_path, timeout_s=60
    )
    assert "error" not in result, result
    for key in ("wall_s", "cpu_s", "rss_mb", "rows"):
        assert isinstance(result[key], int | float), key
    assert result["rows"] == 12
    assert len(tools.read_rows(result["out"])) == 12
    if workload == "chain":
        assert result["first_pair_s"] is not None
    assert _common.mock_stats(mock_url)["outcomes"]["ok"] >= 12


def test_embedded_pipeline_driver(mock_url: str, tmp_path: Path) -> None:
    result = tools.run_driver(
        tools.TOOLS["ours"],
        mock_url,
        workload="single",
        n=2,
        concurrency=8,
        work_dir=tmp_path,
        timeout_s=60,
        extra=["--pipeline"],
    )
    assert "error" not in result, result
    assert result["llm_calls"] > 0
    assert result["wall_s"] > 0


def test_overhead_scenario_builds_table_rows(tmp_path: Path) -> None:
    import overhead

    rows = overhead.run(True, [tools.TOOLS["ours"]], tmp_path)
    assert {row.metric.split(" (")[0] for row in rows} >= {"wall s", "CPU s / 1k calls"}
    assert all(row.values.get("ours") not in (None, "failed", "stalled") for row in rows)
    table = _common.markdown_table(results.HEADER, [row.cells() for row in rows])
    assert table.count("\n") == len(rows) + 1


def test_missing_peer_is_skipped(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ghost = tools.Tool("ghost", "ghost", tmp_path / "nope" / "python", tools.PEERS / "drive_raw.py")
    monkeypatch.setitem(tools.TOOLS, "ghost", ghost)
    assert tools.selected(["ours", "ghost"]) == [tools.TOOLS["ours"]]
