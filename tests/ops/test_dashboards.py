"""The Grafana dashboards: generated files up to date, one fixed datasource, a sane layout, the panels the
operators need, and provisioning files that point at them."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from tests.ops import support

DATASOURCE_UID = "agentinstruct-prometheus"

REQUIRED_PANELS = {
    "agentinstruct-pipeline.json": [
        "Throughput per stage",
        "Consumer lag per stage",
        "In-flight LLM calls vs budget",
        "LLM latency p50 / p95 per role",
        "Tokens per second",
        "Estimated cost per hour",
        "Acceptance rate per skill (15 min)",
        "Rejection reasons",
        "Dead-letter rate",
        "Replicas per stage",
    ],
    "agentinstruct-llm.json": [
        "Latency p50 / p95 / p99 by role",
        "Latency p95 by model",
        "Errors per second by kind",
        "Tokens per second by model and direction",
    ],
}


def test_generated_files_are_up_to_date() -> None:
    proc = subprocess.run(
        [sys.executable, str(support.OPS_SCRIPTS / "gen_observability.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def test_the_dashboards_are_the_expected_ones() -> None:
    dashboards = support.dashboards()
    assert sorted(dashboards) == sorted(REQUIRED_PANELS)
    assert len({d["uid"] for d in dashboards.values()}) == len(dashboards)


@pytest.mark.parametrize("name", sorted(REQUIRED_PANELS))
def test_dashboard_has_the_required_panels(name: str) -> None:
    titles = [p["title"] for p in support.panels(support.dashboards()[name])]
    missing = [title for title in REQUIRED_PANELS[name] if title not in titles]
    assert not missing
    assert len(titles) == len(set(titles)), "panel titles must be unique"


@pytest.mark.parametrize("name", sorted(REQUIRED_PANELS))
def test_every_query_uses_the_datasource_variable_with_the_fixed_uid(name: str) -> None:
    dashboard = support.dashboards()[name]
    [variable] = [v for v in dashboard["templating"]["list"] if v["name"] == "datasource"]
    assert variable["type"] == "datasource" and variable["query"] == "prometheus"
    assert variable["current"]["value"] == DATASOURCE_UID
    for panel in support.panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"]
            assert target["expr"].strip()
            assert "[5m]" not in target["expr"], "use $__rate_interval or an explicit window"


@pytest.mark.parametrize("name", sorted(REQUIRED_PANELS))
def test_layout_fits_the_grid_without_overlaps(name: str) -> None:
    cells: dict[tuple[int, int], str] = {}
    ids = []
    for panel in support.dashboards()[name]["panels"]:
        ids.append(panel["id"])
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]
    assert len(ids) == len(set(ids))


def test_provisioning_points_at_the_dashboards_and_the_fixed_datasource() -> None:
    grafana = support.OBSERVABILITY / "grafana" / "provisioning"
    [datasource] = yaml.safe_load((grafana / "datasources" / "prometheus.yaml").read_text())["datasources"]
    assert datasource["uid"] == DATASOURCE_UID and datasource["type"] == "prometheus"
    [provider] = yaml.safe_load((grafana / "dashboards" / "agentinstruct.yaml").read_text())["providers"]
    assert provider["type"] == "file"
    compose = yaml.safe_load((support.ROOT / "compose.yaml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./observability/grafana/dashboards:{provider['options']['path']}:ro" in mounts
    assert "./observability/grafana/provisioning:/etc/grafana/provisioning:ro" in mounts
    k8s_source = yaml.safe_load((support.K8S / "components" / "monitoring" / "grafana-datasource.yaml").read_text())
    [k8s_datasource] = yaml.safe_load(k8s_source["data"]["agentinstruct-datasource.yaml"])["datasources"]
    assert k8s_datasource["uid"] == DATASOURCE_UID
