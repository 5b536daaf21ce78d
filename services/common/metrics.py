"""The services' own Prometheus metrics, registered in the same registry as FastStream's middleware metrics.

Labels stay low-cardinality: stage, outcome, reason code, topic, role, model, skill; never an item id.

A counter series that appears at 1 has not increased as far as `rate()` and `increase()` can tell, so its first
events would never show (a single dead letter would leave "Dead letters (1h)" at 0). Hence:

* series whose label values are known in advance are created at zero when the service starts (outcomes, commit
  results, retry targets, every LLM outcome of the roles a stage uses, the validator's skills), which also gives
  rates and error ratios data before the first event;
* a label set first seen later (a new rejection or dead-letter reason, a skill or model not expected) is exposed
  at zero by one scrape before its first values are applied, at the next scrape (`refresh` runs before every
  scrape), or after `PENDING_MAX_S` when nothing scrapes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from agentinstruct.llm.base import Role
from agentinstruct.llm.errors import ErrorKind
from agentinstruct.llm.limits import Limiter
from agentinstruct_schemas import LLMCallRecord, Pair, Rejection

PENDING_MAX_S = 60.0
_LATENCY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
JUDGE_SCORE_BUCKETS = (1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0)

MESSAGE_OUTCOMES = ("processed", "dead_lettered", "poison", "failed")
OUTPUT_KINDS = ("output", "rejected", "dead_letter")
COMMIT_RESULTS = ("ok", "rejected", "error")
RETRY_TARGETS = ("kafka", "mongodb")
LLM_OUTCOMES = ("ok", "cached", *(kind.value for kind in ErrorKind))

# The roles whose LLM series each stage creates at startup (others appear on their first call).
STAGE_ROLES: dict[str, tuple[Role, ...]] = {
    "transformer": (Role.TRANSFORM,),
    "suggester": (Role.SUGGEST,),
    "refiner": (Role.SUGGEST, Role.EDIT, Role.TEACHER),
    "validator": (Role.JUDGE,),
}

Prices = Mapping[str, tuple[float, float]]
"""model -> (USD per 1k input tokens, USD per 1k output tokens)."""


class LimiterSource(Protocol):
    """What the metrics need of the LLM client: its model per role and the admission limiter per model."""

    def model_for(self, role: Role) -> str: ...

    def limiter_for(self, model: str) -> Limiter: ...


class RetryCounting(Protocol):
    """A client that counts its own retries (`MongoPairStore.retries`)."""

    retries: int


@dataclass(slots=True)
class _Pending:
    """Values of a new label set held back until a scrape has seen the series at zero."""

    apply: Callable[[float], None]
    since: float
    values: list[float] = field(default_factory=list)
    scraped: bool = False


def estimate_cost(prices: Prices, model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
    """USD for the tokens of one call, or None when the model has no price."""
    price = prices.get(model)
    if price is None:
        return None
    return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1000.0


class ServiceMetrics:
    def __init__(self, registry: CollectorRegistry, stage: str, *, prices: Prices | None = None) -> None:
        self.stage = stage
        self.prices: dict[str, tuple[float, float]] = dict(prices or {})
        self._llm: LimiterSource | None = None
        self._llm_series: set[tuple[str, str]] = set()
        self._watched_models: set[str] = set()
        self._retry_sources: dict[str, tuple[RetryCounting, list[int]]] = {}
        self._ready: set[tuple[int, tuple[str, ...]]] = set()
        self._pending: dict[tuple[int, tuple[str, ...]], _Pending] = {}

        # -- messages and delivery ------------------------------------------------------------------------------
        self.messages = Counter(
            "agentinstruct_stage_messages_total",
            "Input messages finished, by outcome (processed, dead_lettered, poison, failed)",
            ["stage", "outcome"],
            registry=registry,
        )
        self.outputs = Counter(
            "agentinstruct_stage_outputs_total",
            "Messages published, by topic kind (output, rejected, dead_letter)",
            ["stage", "kind"],
            registry=registry,
        )
        self.rejections = Counter(
            "agentinstruct_stage_rejections_total",
            "Rejected items by skill and reason code",
            ["stage", "skill", "reason"],
            registry=registry,
        )
        self.dead_letters = Counter(
            "agentinstruct_dead_letters_total",
            "Dead letters by reason code",
            ["stage", "reason"],
            registry=registry,
        )
        self.pairs = Counter(
            "agentinstruct_pairs_stored_total",
            "Accepted pairs stored (first time only)",
            ["stage", "skill"],
            registry=registry,
        )
        self.judge_score = Histogram(
            "agentinstruct_judge_score",
            "The LLM judge's score (1-5) of each candidate it judged, accepted or rejected",
            ["stage", "skill"],
            buckets=JUDGE_SCORE_BUCKETS,
            registry=registry,
        )
        self.duration = Histogram(
            "agentinstruct_stage_processing_seconds",
            "Time from receipt of a message to its offset being safe to commit",
            ["stage"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            "agentinstruct_stage_in_flight_messages", "Messages being processed", ["stage"], registry=registry
        )
        self.paused = Gauge(
            "agentinstruct_stage_fetch_paused",
            "1 while fetching is paused for back-pressure",
            ["stage"],
            registry=registry,
        )
        self.commits = Counter(
            "agentinstruct_offset_commits_total", "Offset commits by result", ["stage", "result"], registry=registry
        )
        self.retries = Counter(
            "agentinstruct_transient_retries_total",
            "Retries of broker or database operations",
            ["stage", "target"],
            registry=registry,
        )
        self.consumer_lag = Gauge(
            "agentinstruct_consumer_lag",
            "Records of the input topic not yet committed by the stage's consumer group (all partitions, as seen "
            "by this replica: aggregate replicas with max, not sum)",
            ["stage", "topic"],
            registry=registry,
        )

        # -- LLM calls ------------------------------------------------------------------------------------------
        self.llm_calls = Counter(
            "agentinstruct_llm_calls_total",
            "LLM attempts and cache hits, by role, model and outcome (ok, cached or the error kind)",
            ["stage", "role", "model", "outcome"],
            registry=registry,
        )
        self.llm_tokens = Counter(
            "agentinstruct_llm_tokens_total",
            "LLM tokens by role, model and direction (prompt, completion); cache hits cost none",
            ["stage", "role", "model", "direction"],
            registry=registry,
        )
        self.llm_latency = Histogram(
            "agentinstruct_llm_latency_seconds",
            "Latency of answered LLM calls",
            ["stage", "role", "model"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.llm_cost = Counter(
            "agentinstruct_llm_cost_usd",
            "Estimated LLM spend in USD, from token counts and the per-model prices of LLM_PRICES",
            ["stage", "role", "model"],
            registry=registry,
        )
        self.llm_in_flight = Gauge(
            "agentinstruct_llm_in_flight_calls",
            "LLM calls admitted and not finished, per model",
            ["stage", "model"],
            registry=registry,
        )
        self.llm_budget = Gauge(
            "agentinstruct_llm_concurrency_budget",
            "The configured budget of concurrent LLM calls (LLM_CONCURRENCY), per model",
            ["stage", "model"],
            registry=registry,
        )
        self.llm_limit = Gauge(
            "agentinstruct_llm_concurrency_limit",
            "The adaptive admission limit of concurrent LLM calls (at most the budget; lowered on 429s and "
            "queueing), per model",
            ["stage", "model"],
            registry=registry,
        )
        self.llm_waiting = Gauge(
            "agentinstruct_llm_waiting_calls",
            "LLM calls waiting for admission (limit, rate limits or a Retry-After pause), per model",
            ["stage", "model"],
            registry=registry,
        )
        self._initialise()

    # -- series that appear later ------------------------------------------------------------------------------

    def _ready_series(self, metric: Counter | Histogram, *labels: str) -> None:
        """Create the series at zero; its values count at once (it is there from the first scrape on)."""
        metric.labels(*labels)
        self._ready.add((id(metric), labels))

    def _add(self, metric: Counter | Histogram, labels: tuple[str, ...], value: float = 1.0) -> None:
        """Increment the counter (observe the histogram) of `labels`, holding the values of a new series back until
        a scrape has exposed it at zero."""
        key = (id(metric), labels)
        child = metric.labels(*labels)
        apply = child.observe if isinstance(child, Histogram) else child.inc
        if key in self._ready:
            apply(value)
            return
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = _Pending(apply, time.monotonic())
        pending.values.append(value)
        if time.monotonic() - pending.since >= PENDING_MAX_S:
            self._release(key)

    def _release(self, key: tuple[int, tuple[str, ...]]) -> None:
        pending = self._pending.pop(key)
        for value in pending.values:
            pending.apply(value)
        self._ready.add(key)

    def _initialise(self) -> None:
        stage = self.stage
        for outcome in MESSAGE_OUTCOMES:
            self.messages.labels(stage, outcome)
        for kind in OUTPUT_KINDS:
            self.outputs.labels(stage, kind)
        for result in COMMIT_RESULTS:
            self.commits.labels(stage, result)
        for target in RETRY_TARGETS:
            self.retries.labels(stage, target)
        self.duration.labels(stage)
        self.in_flight.labels(stage).set(0)
        self.paused.labels(stage).set(0)

    # -- wiring at startup -------------------------------------------------------------------------------------

    def watch_llm(self, llm: LimiterSource, roles: Iterable[Role] | None = None) -> None:
        """Export the admission state of `llm` and create the call series of `roles` (default: the stage's)."""
        self._llm = llm
        for role in STAGE_ROLES.get(self.stage, ()) if roles is None else roles:
            self._llm_call_series(role.value, llm.model_for(role), ready=True)

    def watch_skills(self, skills: Iterable[str]) -> None:
        """Create the accepted-pair and judge-score series of the skills this stage expects."""
        for skill in skills:
            self._ready_series(self.pairs, self.stage, skill)
            self._ready_series(self.judge_score, self.stage, skill)

    def watch_retries(self, target: str, source: RetryCounting) -> None:
        """Count the retries `source` makes itself (read at every scrape, see `refresh`)."""
        self._retry_sources[target] = (source, [source.retries])

    def refresh(self) -> None:
        """Called before every scrape: release the values of new series that a scrape has seen at zero, and bring
        counters kept by other objects up to date."""
        for key, pending in list(self._pending.items()):
            if pending.scraped:
                self._release(key)
            else:
                pending.scraped = True
        for target, (source, last) in self._retry_sources.items():
            delta = source.retries - last[0]
            if delta > 0:
                self.retries.labels(self.stage, target).inc(delta)
            last[0] = source.retries

    def _llm_call_series(self, role: str, model: str, *, ready: bool) -> None:
        """Every series of a (role, model) at once, at zero; `ready`: before the first scrape (at startup)."""
        if (role, model) in self._llm_series:
            return
        self._llm_series.add((role, model))
        stage = self.stage
        series: list[tuple[Counter | Histogram, tuple[str, ...]]] = [
            *((self.llm_calls, (stage, role, model, outcome)) for outcome in LLM_OUTCOMES),
            *((self.llm_tokens, (stage, role, model, direction)) for direction in ("prompt", "completion")),
            (self.llm_latency, (stage, role, model)),
        ]
        if model in self.prices:
            series.append((self.llm_cost, (stage, role, model)))
        for metric, labels in series:
            if ready:
                self._ready_series(metric, *labels)
            else:
                metric.labels(*labels)
        self._watch_limiter(model)

    def _watch_limiter(self, model: str) -> None:
        if self._llm is None or model in self._watched_models:
            return
        self._watched_models.add(model)
        limiter = self._llm.limiter_for(model)
        stage = self.stage
        self.llm_in_flight.labels(stage, model).set_function(lambda: limiter.in_flight)
        self.llm_budget.labels(stage, model).set_function(lambda: limiter.budget)
        self.llm_limit.labels(stage, model).set_function(lambda: limiter.cap)
        self.llm_waiting.labels(stage, model).set_function(lambda: limiter.waiting)

    # -- events ------------------------------------------------------------------------------------------------

    def on_llm_call(self, record: LLMCallRecord, kind: ErrorKind | None) -> None:
        """`OpenAILLM` call hook: one HTTP attempt (failed when `kind` is set) or one cache hit."""
        stage, role, model = self.stage, record.role, record.model
        self._llm_call_series(role, model, ready=False)
        outcome = kind.value if kind is not None else ("cached" if record.cached else "ok")
        self._add(self.llm_calls, (stage, role, model, outcome))
        if record.cached:
            return
        self._add(self.llm_tokens, (stage, role, model, "prompt"), record.prompt_tokens)
        self._add(self.llm_tokens, (stage, role, model, "completion"), record.completion_tokens)
        cost = estimate_cost(self.prices, model, record.prompt_tokens, record.completion_tokens)
        if cost is not None:
            self._add(self.llm_cost, (stage, role, model), cost)
        if kind is None and record.latency_ms:
            self._add(self.llm_latency, (stage, role, model), record.latency_ms / 1000.0)

    def on_rejected(self, rejection: Rejection) -> None:
        """A rejection published to the rejected topic (a verdict on the item, not an outage)."""
        self._add(self.rejections, (self.stage, rejection.skill, rejection.reason))
        for check in rejection.checks:
            if check.name == "judge" and check.score is not None:
                self._add(self.judge_score, (self.stage, rejection.skill), check.score)

    def on_pair_stored(self, pair: Pair) -> None:
        """An accepted pair stored for the first time."""
        self._add(self.pairs, (self.stage, pair.skill))
        if pair.judge_score is not None:
            self._add(self.judge_score, (self.stage, pair.skill), pair.judge_score)

    def on_dead_letter(self, reason: str) -> None:
        self._add(self.dead_letters, (self.stage, reason))
