"""The metric names the dashboards and alerts query exist: listed in observability/metrics.yaml, and those of the
services served on their /metrics (the real app, built in process; nothing is connected)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

from services.common.metrics import ServiceMetrics
from services.common.settings import STAGES, ServiceSettings
from tests.ops import support

CONTRACT = yaml.safe_load((support.OBSERVABILITY / "metrics.yaml").read_text())
METRICS: dict[str, dict[str, Any]] = CONTRACT["metrics"]
SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "counter": (), "gauge": ()}


def served_metrics(stage: str) -> dict[str, str]:
    """Metric family -> type, as /metrics of the stage's app answers before it connects to anything."""
    import importlib

    app = importlib.import_module(f"services.{stage}.app").create_app(ServiceSettings())
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/metrics",
        "raw_path": b"/metrics",
        "query_string": b"",
        "headers": [],
        "client": None,
        "server": None,
    }
    body: list[bytes] = []
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])
        elif message["type"] == "http.response.body":
            body.append(message.get("body", b""))

    asyncio.run(app(scope, receive, send))
    assert status == [200]
    families = {}
    for line in b"".join(body).decode().splitlines():
        match = re.match(r"# TYPE (\S+) (\S+)", line)
        if match:
            families[match.group(1)] = match.group(2)
    return families


@pytest.fixture(scope="module")
def served() -> dict[str, dict[str, str]]:
    return {stage: served_metrics(stage) for stage in STAGES}


def service_label_names() -> dict[str, set[str]]:
    metrics = ServiceMetrics(CollectorRegistry(), "transformer")
    out = {}
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            name = value._name + ("_total" if value._type == "counter" else "")
            out[name] = set(value._labelnames)
    return out


def queried_names() -> dict[str, set[str]]:
    """Metric name -> where it is queried, over every dashboard query and alert or recording rule."""
    used: dict[str, set[str]] = {}
    for dashboard, title, expr in support.dashboard_queries():
        for name in support.metric_names(expr):
            used.setdefault(name, set()).add(f"{dashboard}: {title}")
    for rule in support.alert_rules():
        for name in support.metric_names(rule["expr"]):
            used.setdefault(name, set()).add(f"alerts.yaml: {rule.get('alert') or rule.get('record')}")
    return used


def family_of(name: str) -> str | None:
    for family, entry in METRICS.items():
        if name == family or name in (family + suffix for suffix in SUFFIXES[entry["type"]]):
            return family
    return None


def test_every_queried_metric_is_in_the_contract() -> None:
    records = {rule["record"] for rule in support.alert_rules() if "record" in rule}
    unknown = {
        name: where for name, where in queried_names().items() if name not in records and family_of(name) is None
    }
    assert not unknown, unknown


def test_every_contract_metric_is_queried() -> None:
    used = {family_of(name) for name in queried_names()}
    assert set(METRICS) <= used, sorted(set(METRICS) - used)


EXPORTED = sorted(n for n, e in METRICS.items() if e["source"] in ("service", "faststream"))


def test_nothing_is_left_requested() -> None:
    """Every metric and label the dashboards and alerts query is exported: no entry is marked as requested."""
    requested = {n: e for n, e in METRICS.items() if "status" in e or "requested_labels" in e}
    assert not requested, requested


@pytest.mark.parametrize("name", EXPORTED)
def test_exported_metric_is_served_by_every_stage(served: dict[str, dict[str, str]], name: str) -> None:
    for stage in STAGES:
        assert served[stage].get(name) == METRICS[name]["type"], (stage, name)


@pytest.mark.parametrize("name", [n for n in EXPORTED if METRICS[n]["source"] == "service"])
def test_exported_metric_has_the_queried_labels(name: str) -> None:
    labels = service_label_names()[name]
    assert set(METRICS[name]["labels"]) <= labels, (name, labels)
