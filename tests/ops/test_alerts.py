"""Alert rules and PromQL, checked by the real promtool (Debian's prometheus package, installed by
scripts/ops/prometheus.sh), and the loopback Prometheus that script runs."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ops import support

PROMETHEUS = support.OBSERVABILITY / "prometheus"


def promtool_run(promtool_bin: str, *args: str, cwd: Path | None = None) -> str:
    proc = subprocess.run([promtool_bin, *args], capture_output=True, text=True, cwd=cwd, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_alert_rules_pass_promtool_check(promtool_bin: str) -> None:
    out = promtool_run(promtool_bin, "check", "rules", str(support.ALERTS))
    assert "SUCCESS" in out


def test_alert_rules_pass_their_unit_tests(promtool_bin: str) -> None:
    out = promtool_run(promtool_bin, "test", "rules", "alerts_test.yaml", cwd=PROMETHEUS)
    assert "SUCCESS" in out


def test_prometheus_configs_are_valid(promtool_bin: str) -> None:
    promtool_run(promtool_bin, "check", "config", "--syntax-only", str(PROMETHEUS / "prometheus.yml"))


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    alerts = {rule["alert"] for rule in support.alert_rules() if "alert" in rule}
    assert alerts >= {
        "AgentInstructDeadLetterRateHigh",
        "AgentInstructConsumerLagGrowing",
        "AgentInstructLLMErrorRateHigh",
        "AgentInstructNoProgress",
        "AgentInstructAcceptanceRateCollapsed",
    }
    cases = [
        case
        for test in yaml.safe_load((PROMETHEUS / "alerts_test.yaml").read_text())["tests"]
        for case in test.get("alert_rule_test", [])
    ]
    firing = {case["alertname"] for case in cases if case["exp_alerts"]}
    quiet = {case["alertname"] for case in cases if not case["exp_alerts"]}
    assert alerts <= firing, sorted(alerts - firing)
    assert alerts <= quiet, sorted(alerts - quiet)


def test_every_alert_says_what_to_do() -> None:
    for rule in support.alert_rules():
        if "alert" not in rule:
            continue
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert {"summary", "description", "runbook"} <= set(rule["annotations"]), rule["alert"]
        assert rule.get("for"), f"{rule['alert']} would fire on a single evaluation"


def test_dashboard_queries_are_valid_promql(promtool_bin: str, tmp_path: Path) -> None:
    """Every dashboard query, variables filled in, parsed by promtool as the expression of a recording rule."""
    queries = support.dashboard_queries()
    rules = [{"record": f"dashboard:query_{i}", "expr": expr} for i, (_, _, expr) in enumerate(queries)]
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    proc = subprocess.run([promtool_bin, "check", "rules", str(path)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.fail(proc.stdout + proc.stderr + "\n" + "\n".join(f"{i}: {q}" for i, q in enumerate(queries)))
    assert f"{len(rules)} rules found" in proc.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def test_prometheus_script_runs_a_loopback_prometheus_with_the_rules(promtool_bin: str, tmp_path: Path) -> None:
    env = {**os.environ, "AGENTINSTRUCT_STATE": str(tmp_path), "PROM_PORT": str(free_port())}
    url = f"http://127.0.0.1:{env['PROM_PORT']}"
    script = str(support.OPS_SCRIPTS / "prometheus.sh")

    def run(*args: str) -> str:
        proc = subprocess.run(["bash", script, *args], env=env, capture_output=True, text=True, timeout=180)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    run("up", f"transformer=127.0.0.1:{free_port()}", f"refiner=127.0.0.1:{free_port()},127.0.0.1:{free_port()}")
    try:
        assert run("env").strip() == f"PROMETHEUS_URL={url}"
        groups = get_json(f"{url}/api/v1/rules")["data"]["groups"]
        assert {g["name"] for g in groups} == {"agentinstruct.records", "agentinstruct.alerts"}
        deadline = time.monotonic() + 30
        jobs: list[str] = []
        while time.monotonic() < deadline:
            targets = get_json(f"{url}/api/v1/targets")["data"]["activeTargets"]
            jobs = sorted(t["labels"]["job"] for t in targets)
            if jobs == ["prometheus", "refiner", "refiner", "transformer"]:
                break
            time.sleep(0.5)
        assert jobs == ["prometheus", "refiner", "refiner", "transformer"]
        result = get_json(f"{url}/api/v1/query?query=vector(1)")
        assert result["status"] == "success"
    finally:
        run("down", "--wipe")
    status = subprocess.run(["bash", script, "status"], env=env, capture_output=True, check=False)
    assert status.returncode == 3
