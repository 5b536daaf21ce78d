"""The services' own metrics (services/common/metrics.py): series created at zero, labels, cost, judge scores,
the LLM admission gauges, and new label sets exposed at zero by one scrape before they count."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from agentinstruct.llm.base import Role
from agentinstruct.llm.errors import ErrorKind
from agentinstruct.llm.limits import LimitConfig, Limiter
from agentinstruct_schemas import CheckResult, Lineage, LLMCallRecord, Pair, Rejection, SeedSource
from services.common.lag import stage_inputs
from services.common.metrics import LLM_OUTCOMES, ServiceMetrics, estimate_cost
from services.common.settings import STAGES, ServiceSettings
from tests.ops import support

PRICES = {"gpt-4o-mini": (0.00015, 0.0006)}
LINEAGE = Lineage(seed_id="s1", source=SeedSource(uri="u"), skill="rc", split="train")


class FakeLLM:
    def __init__(self, models: dict[Role, str]) -> None:
        self.models = models
        self.limiters = {model: Limiter(LimitConfig(concurrency=7, adaptive=False)) for model in models.values()}

    def model_for(self, role: Role) -> str:
        return self.models[role]

    def limiter_for(self, model: str) -> Limiter:
        return self.limiters.setdefault(model, Limiter(LimitConfig(concurrency=7, adaptive=False)))


class Store:
    retries = 0


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def make(stage: str = "validator") -> tuple[ServiceMetrics, CollectorRegistry]:
    registry = CollectorRegistry()
    return ServiceMetrics(registry, stage, prices=PRICES), registry


def call(role: str, model: str = "gpt-4o-mini", **fields: object) -> LLMCallRecord:
    record = {"prompt": "p", "prompt_tokens": 1000, "completion_tokens": 500, "latency_ms": 250.0, **fields}
    return LLMCallRecord(role=role, model=model, **record)  # type: ignore[arg-type]


def test_known_series_start_at_zero() -> None:
    metrics, registry = make("refiner")
    assert value(registry, "agentinstruct_stage_messages_total", stage="refiner", outcome="dead_lettered") == 0
    assert value(registry, "agentinstruct_offset_commits_total", stage="refiner", result="rejected") == 0
    assert value(registry, "agentinstruct_transient_retries_total", stage="refiner", target="mongodb") == 0
    assert value(registry, "agentinstruct_stage_in_flight_messages", stage="refiner") == 0
    llm = FakeLLM(dict.fromkeys(Role, "gpt-4o-mini"))
    metrics.watch_llm(llm)
    for role in ("suggest", "edit", "teacher"):
        for outcome in LLM_OUTCOMES:
            labels = {"stage": "refiner", "role": role, "model": "gpt-4o-mini", "outcome": outcome}
            assert value(registry, "agentinstruct_llm_calls_total", **labels) == 0
        labels = {"stage": "refiner", "role": role, "model": "gpt-4o-mini"}
        assert value(registry, "agentinstruct_llm_cost_usd_total", **labels) == 0
    judge = {"stage": "refiner", "role": "judge", "model": "gpt-4o-mini", "outcome": "ok"}
    assert value(registry, "agentinstruct_llm_calls_total", **judge) is None


def test_llm_calls_count_by_role_model_and_outcome_with_their_cost() -> None:
    metrics, registry = make()
    metrics.watch_llm(FakeLLM(dict.fromkeys(Role, "gpt-4o-mini")))
    metrics.on_llm_call(call("judge"), None)
    metrics.on_llm_call(call("judge", completion_tokens=0, latency_ms=30_000.0), ErrorKind.TIMEOUT)
    metrics.on_llm_call(call("judge", cached=True), None)
    base = {"stage": "validator", "role": "judge", "model": "gpt-4o-mini"}
    assert value(registry, "agentinstruct_llm_calls_total", **base, outcome="ok") == 1
    assert value(registry, "agentinstruct_llm_calls_total", **base, outcome="timeout") == 1
    assert value(registry, "agentinstruct_llm_calls_total", **base, outcome="cached") == 1
    assert value(registry, "agentinstruct_llm_tokens_total", **base, direction="prompt") == 2000
    assert value(registry, "agentinstruct_llm_tokens_total", **base, direction="completion") == 500
    expected = estimate_cost(PRICES, "gpt-4o-mini", 2000, 500)
    assert expected == pytest.approx(0.0006)
    assert value(registry, "agentinstruct_llm_cost_usd_total", **base) == pytest.approx(expected)
    assert value(registry, "agentinstruct_llm_latency_seconds_count", **base) == 1
    assert value(registry, "agentinstruct_llm_latency_seconds_sum", **base) == pytest.approx(0.25)


def test_a_new_label_set_is_scraped_at_zero_before_it_counts() -> None:
    metrics, registry = make()
    metrics.watch_llm(FakeLLM(dict.fromkeys(Role, "gpt-4o-mini")))
    rejection = Rejection(
        id="r1",
        stage="validate",
        reason="judge",
        skill="rc",
        lineage=LINEAGE,
        checks=[CheckResult(name="judge", passed=False, score=2.0)],
    )
    metrics.on_rejected(rejection)
    metrics.on_llm_call(call("judge", model="other-model"), None)  # a model the stage was not expected to use
    labels = {"stage": "validator", "skill": "rc", "reason": "judge"}
    other = {"stage": "validator", "role": "judge", "model": "other-model", "outcome": "ok"}
    assert value(registry, "agentinstruct_stage_rejections_total", **labels) == 0
    assert value(registry, "agentinstruct_llm_calls_total", **other) == 0
    unpriced = {"stage": "validator", "role": "judge", "model": "other-model"}
    assert value(registry, "agentinstruct_llm_cost_usd_total", **unpriced) is None
    metrics.refresh()  # the scrape that sees the zeros
    assert value(registry, "agentinstruct_stage_rejections_total", **labels) == 0
    metrics.refresh()  # the next one sees the values
    assert value(registry, "agentinstruct_stage_rejections_total", **labels) == 1
    assert value(registry, "agentinstruct_llm_calls_total", **other) == 1
    assert value(registry, "agentinstruct_judge_score_bucket", stage="validator", skill="rc", le="2.0") == 1
    assert value(registry, "agentinstruct_judge_score_bucket", stage="validator", skill="rc", le="1.5") == 0
    metrics.on_rejected(rejection)
    assert value(registry, "agentinstruct_stage_rejections_total", **labels) == 2


def test_pairs_and_judge_scores_of_the_expected_skills_count_at_once() -> None:
    metrics, registry = make()
    metrics.watch_skills(["rc", "text_modification"])
    assert value(registry, "agentinstruct_pairs_stored_total", stage="validator", skill="text_modification") == 0
    assert value(registry, "agentinstruct_judge_score_count", stage="validator", skill="text_modification") == 0
    pair = Pair(
        id="p1",
        messages=[],
        split="train",
        skill="rc",
        subcategory="",
        lineage=LINEAGE,
        checks=[],
        judge_score=4.0,
        content_hash="h",
    )
    metrics.on_pair_stored(pair)
    assert value(registry, "agentinstruct_pairs_stored_total", stage="validator", skill="rc") == 1
    assert value(registry, "agentinstruct_judge_score_bucket", stage="validator", skill="rc", le="3.5") == 0
    assert value(registry, "agentinstruct_judge_score_bucket", stage="validator", skill="rc", le="4.0") == 1


def test_admission_gauges_follow_the_limiters() -> None:
    metrics, registry = make("refiner")
    llm = FakeLLM({Role.SUGGEST: "small", Role.EDIT: "small", Role.TEACHER: "big", Role.JUDGE: "big"})
    metrics.watch_llm(llm)
    permits = [llm.limiters["big"].try_acquire() for _ in range(3)]
    assert all(permits)
    for model, in_flight in (("small", 0), ("big", 3)):
        labels = {"stage": "refiner", "model": model}
        assert value(registry, "agentinstruct_llm_in_flight_calls", **labels) == in_flight
        assert value(registry, "agentinstruct_llm_concurrency_budget", **labels) == 7
        assert value(registry, "agentinstruct_llm_concurrency_limit", **labels) == 7
        assert value(registry, "agentinstruct_llm_waiting_calls", **labels) == 0


def test_database_retries_are_read_before_each_scrape() -> None:
    metrics, registry = make()
    store = Store()
    store.retries = 4
    metrics.watch_retries("mongodb", store)
    store.retries = 9
    metrics.refresh()
    assert value(registry, "agentinstruct_transient_retries_total", stage="validator", target="mongodb") == 5


def test_prices_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_PRICES", '{"gpt-4o-mini": [0.00015, 0.0006]}')
    settings = ServiceSettings()
    assert settings.llm_prices == PRICES
    assert settings.llm_settings().cost_per_1k_tokens == PRICES
    monkeypatch.setenv("LLM_PRICES", '{"gpt-4o-mini": [-1, 0]}')
    with pytest.raises(ValueError, match="negative price"):
        ServiceSettings()


def test_the_lag_monitor_measures_each_stage_on_its_input_topic() -> None:
    settings = ServiceSettings(topic_namespace="ns", consumer_group_prefix="grp")
    inputs = stage_inputs(settings)
    assert {stage: topic for stage, (_group, topic) in inputs.items()} == support.stage_input_topics(settings)
    assert {stage: group for stage, (group, _topic) in inputs.items()} == {s: f"grp.{s}" for s in STAGES}
