"""The Kubernetes manifests: every overlay rendered by the real kustomize, validated against the Kubernetes
schemas (kubernetes-validate) and the KEDA / Prometheus Operator CRD schemas, and checked against the services'
own settings (topic names, consumer groups, env var names, drain timeout)."""

from __future__ import annotations

import importlib.util
import json

import kubernetes_validate
import pytest

from services.common.settings import STAGES, ServiceSettings
from tests.ops import support
from tests.ops.support import Resource, named, of_kind, pod_spec, quantity

RENDERINGS = (*support.OVERLAYS, "prod-strimzi")
# The oldest Kubernetes minor the manifests must work on, and the newest kubernetes-validate knows.
K8S_VERSIONS = ("1.30", kubernetes_validate.utils.latest_version())
CUSTOM_API_GROUPS = ("keda.sh/", "monitoring.coreos.com/", "kafka.strimzi.io/")


def is_custom(resource: Resource) -> bool:
    return resource["apiVersion"].startswith(CUSTOM_API_GROUPS)


# -- schemas ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("overlay", RENDERINGS)
def test_builtin_resources_match_the_kubernetes_schemas(
    rendered: dict[str, list[Resource]], overlay: str, version: str
) -> None:
    errors = []
    builtin = [r for r in rendered[overlay] if not is_custom(r)]
    assert len(builtin) >= 25
    for resource in builtin:
        try:
            kubernetes_validate.validate(resource, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{resource['kind']}/{resource['metadata']['name']}: {exc.message} at {list(exc.path)}")
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("overlay", RENDERINGS)
def test_custom_resources_match_their_crd_schemas(rendered: dict[str, list[Resource]], overlay: str) -> None:
    resources = rendered[overlay]
    results = json.loads(support.run_script("crd-validate.sh", stdin=json.dumps(resources)))
    checked = sorted((r["kind"], r["name"]) for r in results)
    expected = sorted(
        (r["kind"], r["metadata"]["name"])
        for r in resources
        if r["kind"] in ("ScaledObject", "ServiceMonitor", "PrometheusRule")
    )
    assert checked == expected
    assert [k for k, _ in checked].count("ScaledObject") == len(STAGES)
    failures = [f"{r['kind']}/{r['name']}: {r['errors']}" for r in results if r["errors"]]
    assert not failures, "\n".join(failures)


def test_the_crd_validator_rejects_a_broken_scaled_object(rendered: dict[str, list[Resource]]) -> None:
    broken = json.loads(json.dumps(named(rendered["dev"], "ScaledObject", "refiner")))
    broken["spec"]["maxReplicaCount"] = "many"
    del broken["spec"]["scaleTargetRef"]
    [result] = json.loads(support.run_script("crd-validate.sh", stdin=json.dumps([broken])))
    assert result["errors"], result


# -- autoscaling -----------------------------------------------------------------------------------------------------


def topic_partitions(resources: list[Resource], settings: ServiceSettings) -> dict[str, int]:
    """Partitions of each topic in this rendering: the KafkaTopics if present, else what the topics Job creates."""
    topics = of_kind(resources, "KafkaTopic")
    if topics:
        return {t["spec"]["topicName"]: t["spec"]["partitions"] for t in topics}
    return dict.fromkeys(settings.all_topics(), settings.topic_partitions)


@pytest.mark.parametrize("overlay", RENDERINGS)
def test_each_stage_scales_on_its_own_consumer_group_and_input_topic(
    rendered: dict[str, list[Resource]], overlay: str
) -> None:
    resources = rendered[overlay]
    settings = support.settings_of(resources)
    inputs = support.stage_input_topics(settings)
    partitions = topic_partitions(resources, settings)
    scaled = {r["spec"]["scaleTargetRef"]["name"]: r for r in of_kind(resources, "ScaledObject")}
    assert set(scaled) == set(STAGES)
    for stage in STAGES:
        spec = scaled[stage]["spec"]
        named(resources, "Deployment", stage)
        [trigger] = spec["triggers"]
        meta = trigger["metadata"]
        assert trigger["type"] == "kafka"
        assert meta["consumerGroup"] == settings.group_id(stage)
        assert meta["topic"] == inputs[stage]
        assert meta["bootstrapServers"] == settings.kafka_bootstrap_servers
        assert meta["offsetResetPolicy"] == "earliest"
        assert meta.get("allowIdleConsumers", "false") == "false"
        assert int(meta["lagThreshold"]) >= 1
        assert spec["minReplicaCount"] >= 1
        assert spec["minReplicaCount"] <= spec["maxReplicaCount"] <= partitions[inputs[stage]], stage


def test_prod_has_more_partitions_replicas_and_resources_than_dev(rendered: dict[str, list[Resource]]) -> None:
    dev, prod = rendered["dev"], rendered["prod"]
    assert support.settings_of(prod).topic_partitions > support.settings_of(dev).topic_partitions
    for stage in STAGES:
        dev_so, prod_so = named(dev, "ScaledObject", stage)["spec"], named(prod, "ScaledObject", stage)["spec"]
        assert prod_so["minReplicaCount"] >= dev_so["minReplicaCount"]
        assert prod_so["maxReplicaCount"] > dev_so["maxReplicaCount"]
        dev_limits = pod_spec(named(dev, "Deployment", stage))["containers"][0]["resources"]["limits"]
        prod_limits = pod_spec(named(prod, "Deployment", stage))["containers"][0]["resources"]["limits"]
        for key in ("cpu", "memory"):
            assert quantity(prod_limits[key]) > quantity(dev_limits[key]), (stage, key)


# -- workloads -------------------------------------------------------------------------------------------------------


def drain_bound(resources: list[Resource]) -> float:
    return support.settings_of(resources).drain_timeout_s + support.BROKER_GRACEFUL_TIMEOUT_S


def assert_hardened(resource: Resource) -> None:
    spec = pod_spec(resource)
    where = f"{resource['kind']}/{resource['metadata']['name']}"
    pod_sc = spec["securityContext"]
    assert pod_sc["runAsNonRoot"] is True, where
    assert pod_sc.get("runAsUser", 1) != 0, where
    assert pod_sc["seccompProfile"]["type"] == "RuntimeDefault", where
    assert spec.get("automountServiceAccountToken") is False, where
    assert not spec.get("hostNetwork") and not spec.get("hostPID"), where
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    for container in spec["containers"]:
        sc = container["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True, where
        assert sc["allowPrivilegeEscalation"] is False, where
        assert sc.get("privileged", False) is False, where
        assert "ALL" in sc["capabilities"]["drop"], where
        assert not sc["capabilities"].get("add"), where
        tmp = [m for m in container.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
        assert tmp and "emptyDir" in volumes[tmp[0]["name"]], f"{where}: /tmp must be an emptyDir"
        resources = container["resources"]
        for key in ("cpu", "memory"):
            assert quantity(resources["requests"][key]) <= quantity(resources["limits"][key]), (where, key)
        image = container["image"]
        assert ":" in image and not image.endswith(":latest"), f"{where}: pin the image tag ({image})"


@pytest.mark.parametrize("overlay", RENDERINGS)
def test_deployments_have_probes_resources_and_a_hardened_pod(
    rendered: dict[str, list[Resource]], overlay: str
) -> None:
    resources = rendered[overlay]
    deployments = of_kind(resources, "Deployment")
    assert sorted(d["metadata"]["name"] for d in deployments) == sorted(STAGES)
    service_accounts = {sa["metadata"]["name"] for sa in of_kind(resources, "ServiceAccount")}
    for deployment in deployments:
        stage = deployment["metadata"]["name"]
        spec = pod_spec(deployment)
        assert_hardened(deployment)
        assert spec["terminationGracePeriodSeconds"] > drain_bound(resources), stage
        assert spec["serviceAccountName"] in service_accounts
        assert "replicas" not in deployment["spec"], "replicas belong to the ScaledObject"
        [container] = spec["containers"]
        assert container["args"] == ["python", "-m", f"services.{stage}"]
        assert importlib.util.find_spec(f"services.{stage}.__main__") is not None
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        settings = support.settings_of(resources)
        assert ports == {"metrics": settings.http_port}
        readiness, liveness = container["readinessProbe"], container["livenessProbe"]
        assert readiness["httpGet"] == {"path": "/health", "port": "metrics"}
        assert liveness["httpGet"]["port"] == "metrics"
        assert liveness["httpGet"]["path"] != "/health", "a broker outage must not restart the pods"
        for key in ("cpu", "memory"):
            assert key in container["resources"]["requests"] and key in container["resources"]["limits"]


@pytest.mark.parametrize("overlay", support.OVERLAYS)
def test_topics_job_creates_the_services_topics(rendered: dict[str, list[Resource]], overlay: str) -> None:
    resources = rendered[overlay]
    job = named(resources, "Job", "agentinstruct-create-topics")
    assert_hardened(job)
    [container] = pod_spec(job)["containers"]
    script = container["args"][-1]
    assert "ensure_topics(settings" in script and "ServiceSettings()" in script
    refs = [source["configMapRef"]["name"] for source in container["envFrom"]]
    assert refs == [support.config_map(resources)["metadata"]["name"]]


def test_strimzi_component_replaces_the_job_with_the_services_topics(rendered: dict[str, list[Resource]]) -> None:
    resources = rendered["prod-strimzi"]
    settings = support.settings_of(resources)
    assert not of_kind(resources, "Job")
    topics = of_kind(resources, "KafkaTopic")
    assert sorted(t["spec"]["topicName"] for t in topics) == sorted(settings.all_topics())
    for topic in topics:
        assert topic["spec"]["partitions"] == settings.topic_partitions
        assert topic["spec"]["replicas"] == settings.topic_replication_factor
        assert topic["metadata"]["labels"]["strimzi.io/cluster"]


# -- configuration ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", RENDERINGS)
def test_config_and_secret_keys_are_service_settings(rendered: dict[str, list[Resource]], overlay: str) -> None:
    resources = rendered[overlay]
    fields = set(ServiceSettings.model_fields)
    data = support.config_map(resources)["data"]
    assert {key.lower() for key in data} <= fields, sorted({key.lower() for key in data} - fields)
    [secret] = of_kind(resources, "Secret")
    assert set(secret["data"]) == {"OPENAI_API_KEY", "MONGODB_URI"}
    for deployment in of_kind(resources, "Deployment"):
        [container] = pod_spec(deployment)["containers"]
        names = [next(iter(source.values()))["name"] for source in container["envFrom"]]
        assert names == [support.config_map(resources)["metadata"]["name"], secret["metadata"]["name"]]
    # no secret material in the ConfigMap
    assert not {"OPENAI_API_KEY", "MONGODB_URI"} & set(data)


def test_overlay_secrets_files_are_not_committed() -> None:
    for overlay in support.OVERLAYS:
        folder = support.K8S / "overlays" / overlay
        assert (folder / "secrets.env.example").is_file()
    ignored = (support.K8S / ".gitignore").read_text()
    assert "overlays/*/secrets.env" in ignored


# -- services, disruption budgets, network policies, monitoring --------------------------------------------------------


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


@pytest.mark.parametrize("overlay", RENDERINGS)
def test_every_stage_has_a_service_pdb_and_is_scraped(rendered: dict[str, list[Resource]], overlay: str) -> None:
    resources = rendered[overlay]
    [monitor] = of_kind(resources, "ServiceMonitor")
    for deployment in of_kind(resources, "Deployment"):
        stage = deployment["metadata"]["name"]
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        service = named(resources, "Service", stage)
        assert selects(service["spec"]["selector"], pod_labels)
        assert [p["name"] for p in service["spec"]["ports"]] == ["metrics"]
        pdb = named(resources, "PodDisruptionBudget", stage)
        assert selects(pdb["spec"]["selector"]["matchLabels"], pod_labels)
        assert pdb["spec"].get("maxUnavailable") == 1, "minAvailable would block node drains at one replica"
        assert selects(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
        assert service["metadata"]["labels"][monitor["spec"]["jobLabel"]] == stage
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["metrics"]


@pytest.mark.parametrize("overlay", RENDERINGS)
def test_network_policies_deny_by_default_and_allow_what_the_stages_need(
    rendered: dict[str, list[Resource]], overlay: str
) -> None:
    resources = rendered[overlay]
    policies = {p["metadata"]["name"]: p["spec"] for p in of_kind(resources, "NetworkPolicy")}
    deny = policies["agentinstruct-default-deny"]
    assert set(deny["policyTypes"]) == {"Ingress", "Egress"} and not deny.get("ingress") and not deny.get("egress")
    egress_ports = {p["port"] for rule in policies["agentinstruct-egress"]["egress"] for p in rule["ports"]}
    assert {53, 9092, 27017, 443} <= egress_ports
    [ingress] = policies["agentinstruct-allow-metrics"]["ingress"]
    assert [p["port"] for p in ingress["ports"]] == ["metrics"]
    for workload in [*of_kind(resources, "Deployment"), *of_kind(resources, "Job")]:
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert selects(deny["podSelector"]["matchLabels"], labels), workload["metadata"]["name"]


@pytest.mark.parametrize("overlay", RENDERINGS)
def test_dashboard_config_maps_are_the_json_files(rendered: dict[str, list[Resource]], overlay: str) -> None:
    maps = [m for m in of_kind(rendered[overlay], "ConfigMap") if m["metadata"]["labels"].get("grafana_dashboard")]
    assert {m["metadata"]["labels"]["grafana_dashboard"] for m in maps} == {"1"}
    shipped = {key: value for m in maps for key, value in m["data"].items()}
    files = {path.name: path.read_text() for path in support.DASHBOARDS.glob("*.json")}
    assert shipped == files
    [rules] = of_kind(rendered[overlay], "PrometheusRule")
    assert [g["name"] for g in rules["spec"]["groups"]] == ["agentinstruct.records", "agentinstruct.alerts"]
