"""compose.yaml: valid against the Compose Specification's JSON schema, and consistent with the services, the
image and the observability files it mounts."""

from __future__ import annotations

import importlib.util
import json
import re
from typing import Any

import jsonschema
import pytest
import yaml

from services.common.settings import STAGES, ServiceSettings
from tests.ops import support

SCHEMA = json.loads((support.ROOT / "tests" / "ops" / "schemas" / "compose-spec.json").read_text())


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((support.ROOT / "compose.yaml").read_text())


def test_compose_file_matches_the_compose_specification(compose: dict[str, Any]) -> None:
    validator_class = jsonschema.validators.validator_for(SCHEMA)
    validator_class.check_schema(SCHEMA)
    errors = sorted(validator_class(SCHEMA).iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_the_schema_catches_mistakes(compose: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(compose))
    broken["services"]["refiner"]["restart_policy"] = "always"
    broken["services"]["kafka"]["ports"] = "19092"
    validator = jsonschema.validators.validator_for(SCHEMA)(SCHEMA)
    assert len(list(validator.iter_errors(broken))) >= 2


def test_the_whole_stack_is_there(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) >= {
        *STAGES,
        "kafka",
        "mongodb",
        "topics",
        "kafka-exporter",
        "prometheus",
        "grafana",
    }


def env_names(service: dict[str, Any]) -> set[str]:
    env = service.get("environment", {})
    return set(env) if isinstance(env, dict) else {item.split("=", 1)[0] for item in env}


@pytest.mark.parametrize("stage", STAGES)
def test_stage_services_run_their_module_hardened(compose: dict[str, Any], stage: str) -> None:
    service = compose["services"][stage]
    assert service["command"] == ["python", "-m", f"services.{stage}"]
    assert importlib.util.find_spec(f"services.{stage}.__main__") is not None
    fields = set(ServiceSettings.model_fields)
    assert {name.lower() for name in env_names(service)} <= fields
    assert service["read_only"] is True and service["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in service["security_opt"]
    assert not service["user"].startswith(("0", "root"))
    assert any(t.startswith("/tmp") for t in service["tmpfs"])
    grace = re.fullmatch(r"(\d+)s", service["stop_grace_period"])
    assert grace is not None
    drain = float(service["environment"]["DRAIN_TIMEOUT_S"])
    assert int(grace.group(1)) > drain + support.BROKER_GRACEFUL_TIMEOUT_S
    assert service["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    assert "/health" in " ".join(service["healthcheck"]["test"])


def test_topics_service_and_stages_agree_on_kafka(compose: dict[str, Any]) -> None:
    services = compose["services"]
    topics_env = services["topics"]["environment"]
    for stage in STAGES:
        env = services[stage]["environment"]
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == topics_env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert env["TOPIC_PARTITIONS"] == topics_env["TOPIC_PARTITIONS"]
    assert "ensure_topics(" in services["topics"]["command"][-1]


def test_prometheus_scrapes_each_stage_as_its_own_job(compose: dict[str, Any]) -> None:
    mounts = compose["services"]["prometheus"]["volumes"]
    for mount in mounts:
        source = mount.split(":")[0]
        if source.startswith("./"):
            assert (support.ROOT / source).is_file(), source
    config = yaml.safe_load((support.OBSERVABILITY / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    for stage in STAGES:
        [sd] = jobs[stage]["dns_sd_configs"]
        assert sd["names"] == [stage] and sd["port"] == ServiceSettings().http_port
    assert jobs["kafka-exporter"]["static_configs"][0]["targets"] == ["kafka-exporter:9308"]
    assert config["rule_files"] == ["/etc/prometheus/alerts.yaml"]
    assert "./observability/prometheus/alerts.yaml:/etc/prometheus/alerts.yaml:ro" in mounts
