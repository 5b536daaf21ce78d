"""Helpers of the deployment tests: rendering the kustomize overlays, reading dashboards and PromQL, tools."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from services.common.settings import STAGES, ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
OBSERVABILITY = ROOT / "observability"
DASHBOARDS = OBSERVABILITY / "grafana" / "dashboards"
ALERTS = OBSERVABILITY / "prometheus" / "alerts.yaml"
OPS_SCRIPTS = ROOT / "scripts" / "ops"
OVERLAYS = ("dev", "prod")

# FastStream stops the broker for this long after the services' own drain (services/common/app.py).
BROKER_GRACEFUL_TIMEOUT_S = 5.0

Resource = dict[str, Any]


# -- tools ----------------------------------------------------------------------------------------------------------


def run_script(name: str, *args: str, stdin: str | None = None, timeout: float = 900) -> str:
    """Run scripts/ops/<name> and return its stdout; raise with its stderr on failure."""
    proc = subprocess.run(
        ["bash", str(OPS_SCRIPTS / name), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{name} {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return proc.stdout


def kustomize() -> str:
    return run_script("kustomize.sh", "path").strip()


# -- rendering ------------------------------------------------------------------------------------------------------


def copy_tree_for_rendering(dest: Path) -> Path:
    """Copy k8s/ and observability/ to `dest` with every overlay's secrets.env made from its example."""
    shutil.copytree(K8S, dest / "k8s", ignore=shutil.ignore_patterns("secrets.env"))
    shutil.copytree(OBSERVABILITY, dest / "observability")
    for example in (dest / "k8s" / "overlays").glob("*/secrets.env.example"):
        shutil.copy(example, example.with_name("secrets.env"))
    return dest


def build(kustomize_bin: str, path: Path) -> list[Resource]:
    proc = subprocess.run([kustomize_bin, "build", str(path)], capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"kustomize build {path} failed:\n{proc.stderr}")
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


def strimzi_variant(tree: Path, overlay: str) -> Path:
    """A kustomization that adds the optional Strimzi topics component to an overlay."""
    variant = tree / "variants" / f"{overlay}-strimzi"
    variant.mkdir(parents=True)
    (variant / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [f"../../k8s/overlays/{overlay}"],
                "components": ["../../k8s/components/strimzi-topics"],
            }
        )
    )
    return variant


# -- looking things up in a rendering ---------------------------------------------------------------------------------


def of_kind(resources: list[Resource], kind: str) -> list[Resource]:
    return [r for r in resources if r["kind"] == kind]


def named(resources: list[Resource], kind: str, name: str) -> Resource:
    matches = [r for r in of_kind(resources, kind) if r["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
    return matches[0]


def config_map(resources: list[Resource]) -> Resource:
    """The services' ConfigMap (its generated name carries a hash suffix)."""
    matches = [r for r in of_kind(resources, "ConfigMap") if r["metadata"]["name"].startswith("agentinstruct-config")]
    assert len(matches) == 1, [r["metadata"]["name"] for r in matches]
    return matches[0]


def settings_of(resources: list[Resource]) -> ServiceSettings:
    """The settings a service would read from the rendered ConfigMap (secrets left at their defaults)."""
    data = config_map(resources)["data"]
    return ServiceSettings(**{key.lower(): value for key, value in data.items()})


def stage_input_topics(settings: ServiceSettings) -> dict[str, str]:
    from services.refiner.app import SPEC as REFINER
    from services.suggester.app import SPEC as SUGGESTER
    from services.transformer.app import SPEC as TRANSFORMER
    from services.validator.app import SPEC as VALIDATOR

    specs = {spec.name: spec for spec in (TRANSFORMER, SUGGESTER, REFINER, VALIDATOR)}
    assert set(specs) == set(STAGES)
    return {name: spec.input_topic(settings) for name, spec in specs.items()}


def pod_spec(resource: Resource) -> dict[str, Any]:
    return resource["spec"]["template"]["spec"]


def quantity(value: str | int | float) -> float:
    """A Kubernetes CPU or memory quantity as a number (cores, bytes)."""
    text = str(value)
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9}
    for suffix, factor in sorted(units.items(), key=lambda item: -len(item[0])):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


# -- dashboards and PromQL -------------------------------------------------------------------------------------------

# Values for the dashboards' Grafana variables when their queries run outside Grafana.
GRAFANA_VARIABLES = {
    "__rate_interval": "1m",
    "__range": "1h",
    "__interval": "30s",
    "stage": "|".join(STAGES),
    "role": ".*",
    "model": ".*",
    "datasource": "agentinstruct-prometheus",
}


def dashboards() -> dict[str, dict[str, Any]]:
    return {path.name: json.loads(path.read_text()) for path in sorted(DASHBOARDS.glob("*.json"))}


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def substitute(expr: str, variables: dict[str, str] | None = None) -> str:
    values = {**GRAFANA_VARIABLES, **(variables or {})}

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return values.get(name, match.group(0))

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", replace, expr)


def dashboard_queries(variables: dict[str, str] | None = None) -> list[tuple[str, str, str]]:
    """(dashboard file, panel title, PromQL with the variables filled in) for every query of every dashboard."""
    out = []
    for name, dashboard in dashboards().items():
        for panel in panels(dashboard):
            for target in panel.get("targets", []):
                out.append((name, panel["title"], substitute(target["expr"], variables)))
    return out


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


_KEYWORDS = {
    "and",
    "or",
    "unless",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "inf",
    "nan",
}


def metric_names(expr: str) -> set[str]:
    """The metric (and recording rule) names a PromQL expression selects. A lexical approximation that holds for
    the queries of this repository: strings, label matchers, ranges and grouping label lists are removed, then
    every identifier that is not a keyword or a function call is a metric name."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    text = re.sub(r"\{[^{}]*\}", " ", text)
    text = re.sub(r"\[[^\[\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.$])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(\s*\()?", text):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in _KEYWORDS:
            continue
        names.add(name)
    return names


def promtool() -> tuple[str | None, str]:
    """promtool's path (None if it cannot be had) and why not: scripts/ops/prometheus.sh install checks the
    version and installs Debian's prometheus package when needed."""
    try:
        run_script("prometheus.sh", "install")
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        return None, str(exc)
    found = shutil.which("promtool")
    return found, "" if found else "promtool is not on PATH after the install"
