"""The dashboards and alert rules against a real Prometheus scraping the four services.

Kafka and FerretDB (devinfra), the mock LLM (with a few injected 429s and 500s) and the four stage services run as
processes; Debian's Prometheus (`scripts/ops/prometheus.sh`) scrapes them every second and evaluates the alert and
recording rules every second. Documents and one poison record are ingested and the pipeline runs to completion
(at least `MIN_RUN_S`). Then, through Prometheus' HTTP API:

* every query of both dashboards (template variables filled in as Grafana's "All" would, `$__rate_interval` =
  30s) is valid and returns data: range queries over the run for time series panels, instant queries for
  stats and bar gauges. Only the query of kube-state-metrics (the replicas KEDA wants) cannot have data outside
  Kubernetes; it must still be valid;
* every recording rule returns data; every alert expression is valid, and each of its conditions without the
  threshold (`rate(x) > 0.1` -> `rate(x)`) returns data; Prometheus evaluated every rule without error;
* the numbers agree with the run: pairs counted = pairs in MongoDB, spend = tokens x prices, the poison record
  counted once (and visible to `increase()`), lag seen above zero and back at zero.

Everything the test creates (processes, topics, consumer groups, the database, Prometheus' data) is removed.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.common.settings import STAGES
from tests.integration.services.pipeline_harness import MockLLM, Pipeline, free_port, wait_until, write_documents
from tests.ops import support

pytestmark = pytest.mark.timeout(420)

DOCUMENTS = 10
MIN_RUN_S = 35.0
PRICES = {"mock-model": (0.00015, 0.0006)}
VARIABLES = {
    "__rate_interval": "30s",
    "__interval": "2s",
    "__range": "5m",
    "stage": "|".join(STAGES),
    "role": ".*",
    "model": ".*",
}
CONTRACT = yaml.safe_load((support.OBSERVABILITY / "metrics.yaml").read_text())["metrics"]
OUTSIDE_KUBERNETES = {name for name, entry in CONTRACT.items() if entry["source"] == "kube_state_metrics"}


# -- Prometheus' HTTP API ------------------------------------------------------------------------------------------


class PromError(Exception):
    pass


@dataclass
class Prometheus:
    url: str

    def get(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(f"{self.url}{path}?{query}", timeout=30) as response:
                body = json.load(response)
        except urllib.error.HTTPError as exc:
            body = json.loads(exc.read() or b"{}")
            raise PromError(f"{exc.code} {body.get('errorType', '')}: {body.get('error', '')}") from None
        if body.get("status") != "success":
            raise PromError(f"{body.get('errorType', '')}: {body.get('error', '')}")
        return body["data"]

    def instant(self, expr: str) -> list[dict[str, Any]]:
        data = self.get("/api/v1/query", query=expr)
        result = data["result"]
        if data["resultType"] == "scalar":
            return [{"value": result}]
        return list(result)

    def range(self, expr: str, start: float, end: float, step: str = "2s") -> list[dict[str, Any]]:
        data = self.get("/api/v1/query_range", query=expr, start=f"{start:.3f}", end=f"{end:.3f}", step=step)
        return [series for series in data["result"] if series["values"]]

    def value(self, expr: str) -> float:
        result = self.instant(expr)
        assert len(result) == 1, (expr, result)
        return float(result[0]["value"][1])


# -- conditions of an alert without their thresholds ---------------------------------------------------------------

_SET_OP = re.compile(r"(and|or|unless)\b")
_COMPARISON = re.compile(r"==|!=|>=|<=|>|<")
_MODIFIER = re.compile(r"^\s*(bool\b)?\s*((on|ignoring|group_left|group_right)\s*\([^()]*\)\s*)*")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def _scan(expr: str) -> Iterator[tuple[int, int]]:
    """(index, nesting depth) of every character of `expr` outside strings."""
    depth, quote, i = 0, "", 0
    while i < len(expr):
        char = expr[i]
        if quote:
            if char == "\\":
                i += 1
            elif char == quote:
                quote = ""
        elif char in "\"'`":
            quote = char
        else:
            if char in ")]}":
                depth -= 1
            yield i, depth
            if char in "([{":
                depth += 1
        i += 1


def _split_top_level(expr: str, operator: re.Pattern[str], *, words: bool) -> list[str]:
    """`expr` split at the operators outside parentheses, braces, brackets and strings."""
    parts, start, skip_to = [], 0, 0
    for i, depth in _scan(expr):
        if depth or i < skip_to or (words and i and (expr[i - 1].isalnum() or expr[i - 1] in "_:")):
            continue
        match = operator.match(expr, i)
        if match:
            parts.append(expr[start:i])
            start = skip_to = match.end()
    parts.append(expr[start:])
    return parts


def _unwrap(expr: str) -> str:
    """`expr` without the parentheses around all of it."""
    expr = expr.strip()
    while expr.startswith("(") and not any(depth == 0 for i, depth in _scan(expr) if 0 < i < len(expr) - 1):
        expr = expr[1:-1].strip()
    return expr


def conditions(expr: str) -> list[str]:
    """The value expressions an alert compares with thresholds or combines with and/or/unless, thresholds left out:
    `(a / b) > 0.05 and c > 0.01` -> [`a / b`, `c`]."""
    expr = _unwrap(expr)
    parts = [_MODIFIER.sub("", part, count=1) for part in _split_top_level(expr, _SET_OP, words=True)]
    if len(parts) > 1:
        return [signal for part in parts for signal in conditions(part)]
    sides = [_MODIFIER.sub("", side, count=1).strip() for side in _split_top_level(expr, _COMPARISON, words=False)]
    if len(sides) > 1:
        return [_unwrap(side) for side in sides if not _NUMBER.match(side)]
    return [expr]


def test_conditions_drop_thresholds_and_split_combinations() -> None:
    assert conditions('up{job=~"a|b"} == 0') == ['up{job=~"a|b"}']
    assert conditions("(sum by (s) (rate(x[5m])) / sum by (s) (rate(y[5m]))) > 0.05 and sum(z) > 0.01") == [
        "sum by (s) (rate(x[5m])) / sum by (s) (rate(y[5m]))",
        "sum(z)",
    ]
    assert conditions("lag > 0\nunless on (stage) progress > 0") == ["lag", "progress"]
    assert conditions("(a < 0.5 * b or a < 0.05) and c > 0.01") == ["a", "0.5 * b", "a", "c"]
    assert conditions('sum(rate(x{outcome!~"ok|cached"}[10m]))') == ['sum(rate(x{outcome!~"ok|cached"}[10m]))']


# -- the run -------------------------------------------------------------------------------------------------------


@dataclass
class Run:
    prometheus: Prometheus
    pipeline: Pipeline
    started: float
    ended: float
    health: dict[str, dict[str, Any]]
    seconds: float


def _prometheus_script(env: dict[str, str], *args: str) -> None:
    proc = subprocess.run(
        ["bash", str(support.OPS_SCRIPTS / "prometheus.sh"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"prometheus.sh {' '.join(args)} failed:\n{proc.stderr[-4000:]}")


@pytest.fixture(scope="module")
def run(infra: None, logs_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    clock = time.monotonic()
    path, why = support.promtool()
    if path is None:
        pytest.skip(f"Prometheus could not be installed by scripts/ops/prometheus.sh: {why}")
    documents = write_documents(tmp_path_factory.mktemp("documents"), DOCUMENTS)
    prom_env = {
        **os.environ,
        "AGENTINSTRUCT_STATE": str(tmp_path_factory.mktemp("prometheus-state")),
        "PROM_PORT": str(free_port()),
        "PROM_SCRAPE_INTERVAL": "1s",
    }
    mock = MockLLM(
        logs_dir,
        "--latency-median-ms",
        "40",
        "--latency-dist",
        "uniform",
        "--rate-429",
        "0.02",
        "--rate-500",
        "0.02",
        "--retry-after-s",
        "0.2",
    )
    pipeline = Pipeline(logs_dir, mock.base_url, {"LLM_PRICES": json.dumps(PRICES), "CONSUMER_LAG_INTERVAL_S": "1"})
    try:
        mock.start()
        pipeline.start()
        health = {name: service.health() or {} for name, service in pipeline.services.items()}
        _prometheus_script(
            prom_env, "up", *(f"{name}=127.0.0.1:{service.port}" for name, service in pipeline.services.items())
        )
        prometheus = Prometheus(f"http://127.0.0.1:{prom_env['PROM_PORT']}")
        started = time.time()
        wait_until(
            lambda: len(prometheus.instant('up{job=~"transformer|suggester|refiner|validator"} == 1')) == 4,
            30,
            "Prometheus scraping the four services",
        )
        counts = pipeline.ingest(documents)
        assert counts.published == counts.seeds > 0, counts
        pipeline.produce(pipeline.settings.seeds_topic, [(b"poison", b"this is not a seed")])
        pipeline.wait_complete(150)
        remaining = MIN_RUN_S - (time.time() - started)
        if remaining > 0:
            time.sleep(remaining)
        time.sleep(3)  # a few more scrapes and rule evaluations of the final state
        yield Run(prometheus, pipeline, started, time.time(), health, time.monotonic() - clock)
    finally:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            _prometheus_script(prom_env, "down", "--wipe")
        pipeline.cleanup()
        mock.stop()


# -- the tests -----------------------------------------------------------------------------------------------------


def test_every_service_is_ready_with_its_dependencies(run: Run) -> None:
    for stage in STAGES:
        health = run.health[stage]
        assert health["status"] == "ok" and health["broker"] is True, health
        if stage == "validator":
            assert health["database"] is True, health
        else:
            assert "database" not in health, health


def test_every_dashboard_query_is_valid_and_returns_data(run: Run) -> None:
    prometheus, problems, checked = run.prometheus, [], 0
    for name, dashboard in support.dashboards().items():
        for panel in support.panels(dashboard):
            for target in panel.get("targets", []):
                expr = support.substitute(target["expr"], VARIABLES)
                where = f"{name} / {panel['title']} / {target['refId']}"
                try:
                    if target.get("instant"):
                        result = prometheus.instant(expr)
                    else:
                        result = prometheus.range(expr, run.started, run.ended)
                except PromError as exc:
                    problems.append(f"{where}: invalid: {exc}\n    {expr}")
                    continue
                checked += 1
                if not result and not support.metric_names(expr) <= OUTSIDE_KUBERNETES:
                    problems.append(f"{where}: no data\n    {expr}")
    assert not problems, "\n".join(problems)
    assert checked >= 40


def test_every_rule_is_valid_and_returns_data(run: Run) -> None:
    prometheus, problems = run.prometheus, []
    for rule in support.alert_rules():
        name = rule.get("alert") or rule.get("record")
        expr = rule["expr"].strip()
        try:
            prometheus.instant(expr)
        except PromError as exc:
            problems.append(f"{name}: invalid: {exc}")
            continue
        for condition in [expr] if "record" in rule else conditions(expr):
            try:
                if not prometheus.instant(condition):
                    problems.append(f"{name}: no data for\n    {condition}")
            except PromError as exc:
                problems.append(f"{name}: invalid condition {condition!r}: {exc}")
    evaluated = [rule for group in prometheus.get("/api/v1/rules")["groups"] for rule in group["rules"]]
    assert len(evaluated) == len(support.alert_rules())
    for rule in evaluated:
        if rule["health"] != "ok" or rule.get("lastError"):
            problems.append(f"{rule['name']}: evaluated with {rule['health']}: {rule.get('lastError')}")
    assert not problems, "\n".join(problems)


def test_the_metrics_agree_with_the_run(run: Run) -> None:
    prometheus, pipeline = run.prometheus, run.pipeline
    pairs = pipeline.db["pairs"].count_documents({})
    assert pairs > 0
    assert prometheus.value("sum(agentinstruct_pairs_stored_total)") == pairs
    assert prometheus.value('sum(agentinstruct_stage_messages_total{stage="transformer", outcome="poison"})') == 1
    assert prometheus.value('sum(agentinstruct_dead_letters_total{stage="transformer"})') == 1
    # A single dead letter shows in increase() (its series was scraped at zero before it counted), and so do the
    # rejections of reasons that first appeared during the run.
    assert prometheus.value("sum(increase(agentinstruct_dead_letters_total[1h]))") > 0.5
    rejected = prometheus.value("sum(agentinstruct_stage_rejections_total)")
    assert rejected > 0
    assert prometheus.value("sum(increase(agentinstruct_stage_rejections_total[1h]))") > 0.5 * rejected
    seeds = len(pipeline.seed_ids())
    processed = 'sum(agentinstruct_stage_messages_total{stage="transformer", outcome="processed"})'
    assert prometheus.value(processed) >= seeds
    judged = prometheus.value('sum(agentinstruct_judge_score_count{stage="validator"})')
    assert judged >= pairs
    prompt = prometheus.value('sum(agentinstruct_llm_tokens_total{direction="prompt"})')
    completion = prometheus.value('sum(agentinstruct_llm_tokens_total{direction="completion"})')
    price_in, price_out = PRICES["mock-model"]
    expected = (prompt * price_in + completion * price_out) / 1000
    assert math.isclose(prometheus.value("sum(agentinstruct_llm_cost_usd_total)"), expected, rel_tol=1e-6)
    errors = 'sum(agentinstruct_llm_calls_total{outcome=~"rate_limit|server"})'
    assert prometheus.value(errors) > 0, "the mock's injected 429s and 500s were not counted"
    peak = prometheus.value("max(max_over_time(agentinstruct:consumer_lag:sum[10m]))")
    assert peak > 0, "the consumer lag was never seen above zero"
    final = prometheus.instant("agentinstruct:consumer_lag:sum")
    assert {r["metric"]["stage"]: float(r["value"][1]) for r in final} == dict.fromkeys(STAGES, 0.0)
    budget = prometheus.instant("agentinstruct_llm_concurrency_budget")
    assert {r["metric"]["stage"] for r in budget} == set(STAGES)
    assert run.seconds < 180, f"the run took {run.seconds:.0f} s"
