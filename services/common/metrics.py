"""The services' own Prometheus metrics, registered in the same registry as FastStream's middleware metrics.

Labels stay low-cardinality: stage, outcome, reason code, topic, role, skill; never an item id.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from agentinstruct.llm.errors import ErrorKind
from agentinstruct_schemas import LLMCallRecord

_LATENCY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


class ServiceMetrics:
    def __init__(self, registry: CollectorRegistry, stage: str) -> None:
        self.stage = stage
        self.messages = Counter(
            "agentinstruct_stage_messages_total",
            "Input messages finished, by outcome (processed, dead_lettered, poison)",
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
            "Rejected items by reason code",
            ["stage", "reason"],
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
        self.llm_calls = Counter(
            "agentinstruct_llm_calls_total",
            "LLM attempts and cache hits, by role and outcome (ok, cached or the error kind)",
            ["stage", "role", "outcome"],
            registry=registry,
        )
        self.llm_tokens = Counter(
            "agentinstruct_llm_tokens_total",
            "LLM tokens by role and direction (prompt, completion)",
            ["stage", "role", "direction"],
            registry=registry,
        )
        self.llm_latency = Histogram(
            "agentinstruct_llm_latency_seconds",
            "Latency of answered LLM calls",
            ["stage", "role"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )

    def on_llm_call(self, record: LLMCallRecord, kind: ErrorKind | None) -> None:
        """`OpenAILLM` call hook."""
        outcome = kind.value if kind is not None else ("cached" if record.cached else "ok")
        self.llm_calls.labels(self.stage, record.role, outcome).inc()
        if record.cached:
            return
        self.llm_tokens.labels(self.stage, record.role, "prompt").inc(record.prompt_tokens)
        self.llm_tokens.labels(self.stage, record.role, "completion").inc(record.completion_tokens)
        if kind is None and record.latency_ms:
            self.llm_latency.labels(self.stage, record.role).observe(record.latency_ms / 1000.0)
