"""Writes the files derived from the observability sources, so that they never drift apart.

* observability/grafana/dashboards/agentinstruct-pipeline.json and agentinstruct-llm.json: the Grafana
  dashboards, built from the panel definitions below (edit them here, not in the JSON);
* k8s/components/monitoring/prometheusrule.yaml: observability/prometheus/alerts.yaml wrapped in a
  PrometheusRule for the Prometheus Operator.

    python3 scripts/ops/gen_observability.py          # write the files
    python3 scripts/ops/gen_observability.py --check  # exit 1 if a file differs from what would be written

Standard library only. tests/ops/test_dashboards.py runs the check.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "observability" / "grafana" / "dashboards"
ALERTS = ROOT / "observability" / "prometheus" / "alerts.yaml"
PROMETHEUS_RULE = ROOT / "k8s" / "components" / "monitoring" / "prometheusrule.yaml"

# The fixed uid of the Prometheus datasource (observability/grafana/provisioning/datasources/prometheus.yaml and
# k8s/components/monitoring/grafana-datasource.yaml). Panels use the ${datasource} variable, whose default is
# this uid, so a Grafana whose Prometheus has another uid only needs the variable switched.
DATASOURCE_UID = "agentinstruct-prometheus"
DS = {"type": "prometheus", "uid": "${datasource}"}
STAGES = ("transformer", "suggester", "refiner", "validator")

# Label filters shared by the queries. `$stage` and friends are Grafana variables (regex-formatted when several
# values are selected).
ST = 'stage=~"$stage"'
LLM = 'stage=~"$stage", role=~"$role", model=~"$model"'
CM = 'stage=~"$stage", model=~"$model"'
RI = "$__rate_interval"


# -- panel builders ----------------------------------------------------------------------------------------------


def target(expr: str, legend: str = "", ref: str = "A", **extra: Any) -> dict[str, Any]:
    return {"refId": ref, "datasource": DS, "expr": expr, "legendFormat": legend, "range": True, **extra}


def targets(*pairs: tuple[str, str]) -> list[dict[str, Any]]:
    return [target(expr, legend, ref=chr(ord("A") + i)) for i, (expr, legend) in enumerate(pairs)]


def timeseries(
    title: str,
    description: str,
    tgts: list[dict[str, Any]],
    *,
    unit: str = "short",
    stack: bool = False,
    min_zero: bool = True,
    dashed: str | None = None,
    w: int = 12,
    h: int = 8,
) -> dict[str, Any]:
    custom: dict[str, Any] = {
        "drawStyle": "line",
        "lineWidth": 1,
        "fillOpacity": 15 if stack else 5,
        "showPoints": "never",
        "spanNulls": False,
        "stacking": {"mode": "normal" if stack else "none", "group": "A"},
    }
    overrides: list[dict[str, Any]] = []
    if dashed:
        # series whose name matches `dashed` (a regex) are drawn as dashed lines: budgets, limits, targets
        overrides.append(
            {
                "matcher": {"id": "byRegexp", "options": dashed},
                "properties": [
                    {"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}},
                    {"id": "custom.fillOpacity", "value": 0},
                    {"id": "custom.stacking", "value": {"mode": "none", "group": "A"}},
                ],
            }
        )
    defaults: dict[str, Any] = {"unit": unit, "custom": custom}
    if min_zero:
        defaults["min"] = 0
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": tgts,
        "fieldConfig": {"defaults": defaults, "overrides": overrides},
        "options": {
            "legend": {"displayMode": "table", "placement": "bottom", "calcs": ["mean", "max", "lastNotNull"]},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "_size": (w, h),
    }


def stat(
    title: str,
    description: str,
    expr: str,
    *,
    unit: str = "short",
    decimals: int | None = None,
    thresholds: list[tuple[float | None, str]] | None = None,
    w: int = 4,
) -> dict[str, Any]:
    steps = [{"color": color, "value": value} for value, color in (thresholds or [(None, "green")])]
    defaults: dict[str, Any] = {"unit": unit, "thresholds": {"mode": "absolute", "steps": steps}}
    if decimals is not None:
        defaults["decimals"] = decimals
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": [target(expr, instant=True, range=False)],
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value",
            "graphMode": "none",
            "textMode": "value",
            "justifyMode": "auto",
            "orientation": "auto",
        },
        "_size": (w, 4),
    }


def bargauge(title: str, description: str, expr: str, legend: str, *, w: int = 12) -> dict[str, Any]:
    return {
        "type": "bargauge",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": [target(expr, legend, instant=True, range=False, format="time_series")],
        "fieldConfig": {
            "defaults": {
                "unit": "short",
                "min": 0,
                "thresholds": {"mode": "absolute", "steps": [{"color": "orange", "value": None}]},
            },
            "overrides": [],
        },
        "options": {
            "displayMode": "basic",
            "orientation": "horizontal",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "showUnfilled": True,
        },
        "_size": (w, 8),
    }


def heatmap(title: str, description: str, expr: str, *, unit: str = "s", w: int = 12) -> dict[str, Any]:
    return {
        "type": "heatmap",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": [target(expr, "{{le}}", format="heatmap")],
        "fieldConfig": {"defaults": {}, "overrides": []},
        "options": {
            "calculate": False,
            "yAxis": {"unit": unit},
            "cellGap": 1,
            "color": {"mode": "scheme", "scheme": "Oranges", "steps": 64},
            "tooltip": {"mode": "single", "yHistogram": True},
            "legend": {"show": True},
        },
        "_size": (w, 8),
    }


def row(title: str) -> dict[str, Any]:
    return {"type": "row", "title": title, "collapsed": False, "panels": [], "_size": (24, 1)}


def quantiles(metric: str, by: str, labels: str, qs: tuple[float, ...], legend: str) -> list[dict[str, Any]]:
    out = []
    for i, q in enumerate(qs):
        expr = f"histogram_quantile({q}, sum by (le, {by}) (rate({metric}_bucket{{{labels}}}[{RI}])))"
        out.append(target(expr, legend.replace("QUANTILE", f"p{round(q * 100)}"), ref=chr(ord("A") + i)))
    return out


def layout(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Place panels left to right, wrapping at 24 columns; ids in order."""
    x = y = row_h = 0
    placed = []
    for pid, panel in enumerate(panels, start=1):
        w, h = panel.pop("_size")
        if x + w > 24 or panel["type"] == "row":
            x, y, row_h = 0, y + row_h, 0
        panel = {"id": pid, "gridPos": {"h": h, "w": w, "x": x, "y": y}, **panel}
        placed.append(panel)
        x += w
        row_h = max(row_h, h)
        if panel["type"] == "row":
            x, y, row_h = 0, y + h, 0
    return placed


# -- template variables ------------------------------------------------------------------------------------------


def var_datasource() -> dict[str, Any]:
    return {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {"selected": True, "text": "AgentInstruct Prometheus", "value": DATASOURCE_UID},
        "hide": 0,
        "includeAll": False,
        "multi": False,
        "options": [],
        "refresh": 1,
        "regex": "",
    }


def var_stage() -> dict[str, Any]:
    return {
        "name": "stage",
        "label": "Stage",
        "type": "custom",
        "query": ",".join(STAGES),
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "options": [{"selected": False, "text": s, "value": s} for s in STAGES],
        "includeAll": True,
        "allValue": "|".join(STAGES),
        "multi": True,
        "hide": 0,
    }


def var_label(name: str, label: str, metric: str) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DS,
        "definition": f"label_values({metric}, {name})",
        "query": {"query": f"label_values({metric}, {name})", "refId": "PrometheusVariableQueryEditor-VariableQuery"},
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "includeAll": True,
        # ".*" also matches series that do not carry the label at all
        "allValue": ".*",
        "multi": True,
        "refresh": 2,
        "sort": 1,
        "hide": 0,
        "regex": "",
        "options": [],
    }


def dashboard(uid: str, title: str, description: str, panels: list[dict[str, Any]], variables: list[Any]) -> dict:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["agentinstruct"],
        "editable": True,
        "graphTooltip": 1,
        "refresh": "30s",
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-3h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "weekStart": "",
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "links": [
            {
                "type": "dashboards",
                "tags": ["agentinstruct"],
                "asDropdown": False,
                "includeVars": True,
                "keepTime": True,
                "title": "AgentInstruct",
                "icon": "external link",
                "targetBlank": False,
                "tooltip": "",
                "url": "",
            }
        ],
        "templating": {"list": variables},
        "panels": layout(panels),
    }


# -- the pipeline overview ---------------------------------------------------------------------------------------

ACCEPTED = "sum by (skill) (rate(agentinstruct_pairs_stored_total[15m]))"
REJECTED = 'sum by (skill) (rate(agentinstruct_stage_rejections_total{stage="validator"}[15m]))'
ACC_1H = "sum(increase(agentinstruct_pairs_stored_total[1h]))"
REJ_1H = 'sum(increase(agentinstruct_stage_rejections_total{stage="validator"}[1h]))'
# Every replica of a stage measures its whole consumer group's lag (services/common/lag.py): `max` over the
# replicas, then the sum over the stage's input topics (one).
LAG_BY_STAGE = f"sum by (stage) (max by (stage, topic) (agentinstruct_consumer_lag{{{ST}}}))"
LAG_TOTAL = "sum(max by (stage, topic) (agentinstruct_consumer_lag))"


def or_zero(expr: str, baseline: str, on: str, label: str, value: str) -> str:
    """`expr`, or a zero series per `on` group of `baseline` that `expr` has no series for, labelled
    `label=value`: a counter that has never moved (no exception, no failed publish) draws as 0, not as no data."""
    return f'{expr} or on ({on}) label_replace(0 * {baseline}, "{label}", "{value}", "", "")'


def pipeline() -> dict[str, Any]:
    panels = [
        row("Summary"),
        stat(
            "Pairs stored (1h)",
            "Accepted pairs written to MongoDB in the last hour (each pair counted once, replays excluded).",
            "sum(increase(agentinstruct_pairs_stored_total[1h]))",
            decimals=0,
        ),
        stat(
            "Acceptance (1h)",
            "Share of the validator's verdicts in the last hour that accepted the pair.",
            f"{ACC_1H} / ({ACC_1H} + ({REJ_1H} or vector(0)))",
            unit="percentunit",
            decimals=1,
            thresholds=[(None, "red"), (0.2, "orange"), (0.4, "green")],
        ),
        stat(
            "Backlog (consumer lag)",
            "Messages waiting or in flight over the four stages' consumer groups (measured by the services).",
            LAG_TOTAL,
            decimals=0,
        ),
        stat(
            "Dead letters (1h)",
            "Inputs sent to a dead-letter topic in the last hour: poison input or retries exhausted.",
            "sum(increase(agentinstruct_dead_letters_total[1h])) or vector(0)",
            decimals=0,
            thresholds=[(None, "green"), (1, "orange"), (100, "red")],
        ),
        stat(
            "LLM errors (15m)",
            "Share of LLM attempts in the last 15 minutes that failed (any error kind, retries included).",
            'sum(rate(agentinstruct_llm_calls_total{outcome!~"ok|cached"}[15m]))'
            " / sum(rate(agentinstruct_llm_calls_total[15m]))",
            unit="percentunit",
            decimals=1,
            thresholds=[(None, "green"), (0.05, "orange"), (0.2, "red")],
        ),
        stat(
            "Estimated cost / hour",
            "LLM spend over the last hour, in USD, estimated by the services from token counts and prices.",
            "sum(rate(agentinstruct_llm_cost_usd_total[1h])) * 3600",
            unit="currencyUSD",
            decimals=2,
        ),
        row("Flow"),
        timeseries(
            "Throughput per stage",
            "Inputs finished per second (outcome processed: outputs acknowledged by Kafka, offset safe to "
            "commit) and outputs published to the next topic. Published / finished is the stage's fan-out.",
            targets(
                (
                    f'sum by (stage) (rate(agentinstruct_stage_messages_total{{{ST}, outcome="processed"}}[{RI}]))',
                    "{{stage}} finished",
                ),
                (
                    f'sum by (stage) (rate(agentinstruct_stage_outputs_total{{{ST}, kind="output"}}[{RI}]))',
                    "{{stage}} published",
                ),
            ),
            unit="ops",
        ),
        timeseries(
            "Consumer lag per stage",
            "Messages of each stage's input topic not yet committed by its consumer group (waiting plus in "
            "flight), measured by the services every CONSUMER_LAG_INTERVAL_S. KEDA scales a stage on exactly "
            "this number; a lag that keeps growing at the maximum replica count needs more partitions and "
            "replicas, or a larger LLM budget.",
            [target(LAG_BY_STAGE, "{{stage}}")],
        ),
        timeseries(
            "In-flight LLM calls vs budget",
            "LLM calls in flight per stage (all replicas) against the configured budget (LLM_CONCURRENCY x "
            "replicas x models, dashed) and the client's adaptive limit (dashed, lowered on 429s and "
            "queueing). In flight pinned at the budget while lag grows: the LLM budget is the bottleneck; "
            "pinned at a limit below the budget: the endpoint pushes back; far below both while lag grows: "
            "look at the endpoint's errors.",
            targets(
                (f"sum by (stage) (agentinstruct_llm_in_flight_calls{{{ST}}})", "{{stage}} in flight"),
                (f"sum by (stage) (agentinstruct_llm_concurrency_limit{{{ST}}})", "{{stage}} limit"),
                (f"sum by (stage) (agentinstruct_llm_concurrency_budget{{{ST}}})", "{{stage}} budget"),
            ),
            dashed=".* (budget|limit)",
        ),
        timeseries(
            "LLM latency p50 / p95 per role",
            "Latency of answered LLM calls by role (transform, suggest, edit, teacher, judge). A rising p95 "
            "with flat p50 is queueing at the endpoint; both rising is a slower model or longer prompts.",
            quantiles("agentinstruct_llm_latency_seconds", "role", ST, (0.5, 0.95), "{{role}} QUANTILE"),
            unit="s",
        ),
        timeseries(
            "Tokens per second",
            "Prompt and completion tokens per second over the selected stages (cache hits cost no tokens).",
            [target(f"sum by (direction) (rate(agentinstruct_llm_tokens_total{{{ST}}}[{RI}]))", "{{direction}}")],
            unit="suffix: tok/s",
        ),
        timeseries(
            "Estimated cost per hour",
            "LLM spend rate per stage in USD per hour, as estimated by the services from tokens and prices.",
            [
                target(
                    f"sum by (stage) (rate(agentinstruct_llm_cost_usd_total{{{ST}}}[{RI}])) * 3600",
                    "{{stage}}",
                )
            ],
            unit="currencyUSD",
            stack=True,
        ),
        timeseries(
            "Acceptance rate per skill (15 min)",
            "Accepted / (accepted + rejected) verdicts of the validator per skill over 15-minute windows. A "
            "sudden drop for one skill points at its prompts or checks; for all skills, at the teacher or "
            "judge model.",
            [
                target(
                    f"({ACCEPTED} or 0 * {REJECTED})"
                    f" / (({ACCEPTED} or 0 * {REJECTED}) + ({REJECTED} or 0 * {ACCEPTED}))",
                    "{{skill}}",
                )
            ],
            unit="percentunit",
        ),
        timeseries(
            "Rejection reasons",
            "Rejected items per second by stage and reason code (structure, checks, judge score, duplicate...).",
            [
                target(
                    f"sum by (stage, reason) (rate(agentinstruct_stage_rejections_total{{{ST}}}[{RI}]))",
                    "{{stage}}: {{reason}}",
                )
            ],
            unit="ops",
            stack=True,
        ),
        bargauge(
            "Top rejection reasons (time range)",
            "The ten most frequent rejection reasons over the dashboard's time range.",
            f"topk(10, sum by (stage, reason) (increase(agentinstruct_stage_rejections_total{{{ST}}}[$__range])))",
            "{{stage}}: {{reason}}",
        ),
        timeseries(
            "Dead-letter rate",
            "Inputs dead-lettered per second by stage and reason: poison (undecodable, wrong schema, too big) "
            "or a transient failure whose retries ran out. Each one is on agentinstruct.dlq.<stage> with its "
            "reason; any sustained rate needs a look.",
            [
                target(
                    f"sum by (stage, reason) (rate(agentinstruct_dead_letters_total{{{ST}}}[{RI}]))",
                    "{{stage}}: {{reason}}",
                )
            ],
            unit="ops",
            stack=True,
        ),
        timeseries(
            "Replicas per stage",
            "Replicas being scraped per stage (solid) and the replica count KEDA's autoscaler wants (dashed, "
            "needs kube-state-metrics). Desired stuck at maxReplicaCount with a growing lag means the stage "
            "is capped: raise partitions and maxReplicaCount together.",
            targets(
                ('count by (job) (up{job=~"$stage"} == 1)', "{{job}} up"),
                (
                    "max by (horizontalpodautoscaler) (kube_horizontalpodautoscaler_status_desired_replicas"
                    '{horizontalpodautoscaler=~"keda-hpa-($stage)"})',
                    "{{horizontalpodautoscaler}} desired",
                ),
            ),
            dashed=".* desired",
            w=24,
        ),
        row("Health"),
        timeseries(
            "Outcomes per stage",
            "Inputs finished per second by outcome: processed, dead_lettered, poison, failed.",
            [
                target(
                    f"sum by (stage, outcome) (rate(agentinstruct_stage_messages_total{{{ST}}}[{RI}]))",
                    "{{stage}}: {{outcome}}",
                )
            ],
            unit="ops",
            stack=True,
            w=8,
        ),
        timeseries(
            "Processing time p50 / p95 per stage",
            "From receipt of a message to its offset being safe to commit: all of its LLM calls, checks and "
            "publishes, plus waiting for a free LLM slot.",
            quantiles("agentinstruct_stage_processing_seconds", "stage", ST, (0.5, 0.95), "{{stage}} QUANTILE"),
            unit="s",
            w=8,
        ),
        timeseries(
            "Messages in flight and back-pressure",
            "Messages being processed per stage, and whether fetching is paused because a replica reached "
            "MAX_IN_FLIGHT_MESSAGES (1 = paused).",
            targets(
                (f"sum by (stage) (agentinstruct_stage_in_flight_messages{{{ST}}})", "{{stage}} in flight"),
                (f"max by (stage) (agentinstruct_stage_fetch_paused{{{ST}}})", "{{stage}} paused"),
            ),
            dashed=".* paused",
            w=8,
        ),
        timeseries(
            "Commit failures and retries",
            "Offset commits that failed or were rejected (a rebalance took the partition; the messages are "
            "redelivered and stored once), and retried broker or database operations.",
            targets(
                (
                    f'sum by (stage, result) (rate(agentinstruct_offset_commits_total{{{ST}, result!="ok"}}[{RI}]))',
                    "{{stage}} commit {{result}}",
                ),
                (
                    f"sum by (stage, target) (rate(agentinstruct_transient_retries_total{{{ST}}}[{RI}]))",
                    "{{stage}} retry {{target}}",
                ),
            ),
            unit="ops",
        ),
        timeseries(
            "FastStream: received, exceptions, publish errors",
            "FastStream's own middleware metrics: records received per stage, exceptions escaping handlers and "
            "failed publishes (should stay at zero: the services dead-letter instead of raising).",
            targets(
                (
                    f'sum by (app_name) (rate(faststream_received_messages_total{{app_name=~"$stage"}}[{RI}]))',
                    "{{app_name}} received",
                ),
                (
                    or_zero(
                        "sum by (app_name, exception_type) (rate("
                        f'faststream_received_processed_messages_exceptions_total{{app_name=~"$stage"}}[{RI}]))',
                        f'sum by (app_name) (rate(faststream_received_messages_total{{app_name=~"$stage"}}[{RI}]))',
                        "app_name",
                        "exception_type",
                        "none",
                    ),
                    "{{app_name}} exceptions: {{exception_type}}",
                ),
                (
                    or_zero(
                        "sum by (app_name, destination) (rate(faststream_published_messages_total"
                        f'{{app_name=~"$stage", status="error"}}[{RI}]))',
                        f'sum by (app_name) (rate(faststream_published_messages_total{{app_name=~"$stage"}}[{RI}]))',
                        "app_name",
                        "destination",
                        "any",
                    ),
                    "{{app_name}} -> {{destination}} failed",
                ),
            ),
            unit="ops",
        ),
    ]
    return dashboard(
        "agentinstruct-pipeline",
        "AgentInstruct / Pipeline",
        "Throughput, lag, LLM budget, quality and failures of the four stage services.",
        panels,
        [var_datasource(), var_stage()],
    )


# -- the LLM view -----------------------------------------------------------------------------------------------


def llm() -> dict[str, Any]:
    calls = f"rate(agentinstruct_llm_calls_total{{{LLM}}}[{RI}])"
    errors = f'rate(agentinstruct_llm_calls_total{{{LLM}, outcome!~"ok|cached"}}[{RI}])'
    cached = f'rate(agentinstruct_llm_calls_total{{{LLM}, outcome="cached"}}[{RI}])'
    panels = [
        row("Calls and errors"),
        timeseries(
            "Calls per second by role and outcome",
            "LLM attempts per second (every retry counts) and cache hits, by role and outcome.",
            [target(f"sum by (role, outcome) ({calls})", "{{role}}: {{outcome}}")],
            unit="ops",
            stack=True,
        ),
        timeseries(
            "Errors per second by kind",
            "Failed attempts by error kind: rate_limit and server are the endpoint pushing back (retried with "
            "backoff); timeout and connection the network or an overloaded server; truncated and "
            "schema_invalid the model's answers; auth a wrong or revoked key (never retried).",
            [target(f"sum by (outcome) ({errors})", "{{outcome}}")],
            unit="ops",
            stack=True,
        ),
        timeseries(
            "Error ratio by role",
            "Failed attempts / all attempts, per role.",
            [target(f"sum by (role) ({errors}) / sum by (role) ({calls})", "{{role}}")],
            unit="percentunit",
        ),
        timeseries(
            "Cache hit ratio by role",
            "Calls answered from the content-addressed response cache: high after a replay or a restart, "
            "near zero in steady state.",
            [target(f"sum by (role) ({cached}) / sum by (role) ({calls})", "{{role}}")],
            unit="percentunit",
        ),
        row("Latency"),
        timeseries(
            "Latency p50 / p95 / p99 by role",
            "Latency of answered calls per role (cache hits and failures excluded).",
            quantiles("agentinstruct_llm_latency_seconds", "role", LLM, (0.5, 0.95, 0.99), "{{role}} QUANTILE"),
            unit="s",
        ),
        timeseries(
            "Latency p95 by model",
            "Latency of answered calls per model, to compare endpoints and models.",
            quantiles("agentinstruct_llm_latency_seconds", "model", LLM, (0.95,), "{{model}} QUANTILE"),
            unit="s",
        ),
        heatmap(
            "Latency distribution",
            "All answered calls of the selection, by latency bucket.",
            f"sum by (le) (rate(agentinstruct_llm_latency_seconds_bucket{{{LLM}}}[{RI}]))",
        ),
        timeseries(
            "Judge score by skill (median and p10)",
            "Scores (1-5) the LLM judge gave the validator's candidates; pairs below JUDGE_THRESHOLD are "
            "rejected. A falling p10 shows a skill's weakest pairs getting worse before the acceptance rate "
            "moves.",
            quantiles("agentinstruct_judge_score", "skill", ST, (0.5, 0.1), "{{skill}} QUANTILE"),
            min_zero=False,
        ),
        row("Tokens and cost"),
        timeseries(
            "Tokens per second by model and direction",
            "Prompt and completion tokens per second per model.",
            [
                target(
                    f"sum by (model, direction) (rate(agentinstruct_llm_tokens_total{{{LLM}}}[{RI}]))",
                    "{{model}} {{direction}}",
                )
            ],
            unit="suffix: tok/s",
            stack=True,
        ),
        timeseries(
            "Tokens per second by role",
            "Where the tokens go: the teacher and the refinement rounds usually dominate.",
            [target(f"sum by (role) (rate(agentinstruct_llm_tokens_total{{{LLM}}}[{RI}]))", "{{role}}")],
            unit="suffix: tok/s",
            stack=True,
        ),
        timeseries(
            "Estimated cost per hour by model",
            "LLM spend rate per model in USD per hour, as estimated by the services.",
            [
                target(
                    f"sum by (model) (rate(agentinstruct_llm_cost_usd_total{{{LLM}}}[{RI}])) * 3600",
                    "{{model}}",
                )
            ],
            unit="currencyUSD",
            stack=True,
        ),
        timeseries(
            "Tokens per stored pair (30 min)",
            "All tokens spent by every stage divided by the pairs accepted and stored over 30 minutes: the "
            "pipeline's efficiency. It rises when more candidates get rejected downstream.",
            [
                target(
                    "sum(rate(agentinstruct_llm_tokens_total[30m])) / sum(rate(agentinstruct_pairs_stored_total[30m]))",
                    "tokens per pair",
                )
            ],
        ),
        row("Concurrency"),
        timeseries(
            "In-flight calls vs budget",
            "LLM calls in flight per stage against the configured budget and the client's adaptive admission "
            "limit (dashed), and calls waiting for admission. The client lowers its limit on 429s and "
            "queueing, so in flight may stay below the budget on purpose; calls keep waiting while in flight "
            "is at the limit.",
            targets(
                (f"sum by (stage) (agentinstruct_llm_in_flight_calls{{{CM}}})", "{{stage}} in flight"),
                (f"sum by (stage) (agentinstruct_llm_waiting_calls{{{CM}}})", "{{stage}} waiting"),
                (f"sum by (stage) (agentinstruct_llm_concurrency_limit{{{CM}}})", "{{stage}} limit"),
                (f"sum by (stage) (agentinstruct_llm_concurrency_budget{{{CM}}})", "{{stage}} budget"),
            ),
            dashed=".* (budget|limit)",
            w=24,
        ),
    ]
    return dashboard(
        "agentinstruct-llm",
        "AgentInstruct / LLM",
        "LLM calls of the four stage services: latency, errors, cache, tokens and cost by role and model.",
        panels,
        [
            var_datasource(),
            var_stage(),
            var_label("role", "Role", "agentinstruct_llm_calls_total"),
            var_label("model", "Model", "agentinstruct_llm_calls_total"),
        ],
    )


# -- the PrometheusRule ------------------------------------------------------------------------------------------

RULE_HEADER = """\
# Generated by scripts/ops/gen_observability.py from observability/prometheus/alerts.yaml: edit that file, then
# rerun the script (tests/ops/test_dashboards.py fails while the two differ).
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: agentinstruct
  labels:
    app.kubernetes.io/name: agentinstruct
    app.kubernetes.io/component: monitoring
    release: kube-prometheus-stack
spec:
"""


def prometheus_rule() -> str:
    lines = []
    for line in ALERTS.read_text().splitlines():
        if line.startswith("#") and not lines:
            continue  # the source file's own header comment
        lines.append(f"  {line}" if line.strip() else "")
    return RULE_HEADER + "\n".join(lines).rstrip() + "\n"


# -- main --------------------------------------------------------------------------------------------------------


def outputs() -> dict[Path, str]:
    return {
        DASHBOARDS / "agentinstruct-pipeline.json": json.dumps(pipeline(), indent=2) + "\n",
        DASHBOARDS / "agentinstruct-llm.json": json.dumps(llm(), indent=2) + "\n",
        PROMETHEUS_RULE: prometheus_rule(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 if a file would change")
    args = parser.parse_args(argv)
    stale = []
    for path, text in outputs().items():
        current = path.read_text() if path.exists() else None
        if current == text:
            continue
        stale.append(path.relative_to(ROOT))
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if args.check and stale:
        print("out of date (run python3 scripts/ops/gen_observability.py):", *stale, sep="\n  ", file=sys.stderr)
        return 1
    for path in stale:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
