"""Service settings, read from the environment (the only place in the project that reads it for services).

Topic names default to `<TOPIC_NAMESPACE>.<name>` (`agentinstruct.seeds`, ...), dead-letter topics to
`<TOPIC_NAMESPACE>.dlq.<stage>`, consumer groups to `<CONSUMER_GROUP_PREFIX>.<stage>`; each can be overridden.
Secrets are `SecretStr` and `masked()` is what gets logged.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from agentinstruct.llm.base import Role
from agentinstruct.llm.settings import LLMSettings
from agentinstruct.skills.base import FlowConfig

StageName = Literal["transformer", "suggester", "refiner", "validator"]
STAGES: tuple[StageName, ...] = ("transformer", "suggester", "refiner", "validator")


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_ignore_empty=True, extra="ignore", case_sensitive=False)

    # Kafka
    kafka_bootstrap_servers: str = "127.0.0.1:19092"
    topic_namespace: str = "agentinstruct"
    topic_seeds: str | None = None
    topic_transformed: str | None = None
    topic_instructions: str | None = None
    topic_candidates: str | None = None
    topic_rejected: str | None = None
    topic_dlq_prefix: str | None = None
    consumer_group_prefix: str | None = None
    topic_partitions: int = Field(default=8, ge=1)
    topic_replication_factor: int = Field(default=1, ge=1)
    session_timeout_ms: int = Field(default=10_000, ge=1000)
    heartbeat_interval_ms: int = Field(default=3_000, ge=100)
    max_poll_interval_ms: int = Field(default=900_000, ge=10_000)
    commit_interval_ms: int = Field(default=500, ge=10)
    producer_linger_ms: int = Field(default=5, ge=0)
    producer_request_timeout_ms: int = Field(default=30_000, ge=1000)

    # MongoDB
    mongodb_uri: SecretStr = SecretStr("mongodb://127.0.0.1:27018/")
    mongodb_db: str = "agentinstruct"
    mongodb_timeout_ms: int = Field(default=5_000, ge=100)
    llm_cache: bool = True

    # LLM
    openai_base_url: str | None = None
    openai_api_key: SecretStr | None = None
    agentinstruct_model: str = "gpt-4o-mini"
    agentinstruct_model_transform: str | None = None
    agentinstruct_model_suggest: str | None = None
    agentinstruct_model_edit: str | None = None
    agentinstruct_model_teacher: str | None = None
    agentinstruct_model_judge: str | None = None
    llm_concurrency: int = Field(default=128, ge=1)
    llm_rpm: int | None = Field(default=None, ge=1)
    llm_tpm: int | None = Field(default=None, ge=1)
    llm_timeout_s: float = Field(default=120.0, gt=0)
    llm_max_attempts: int = Field(default=6, ge=1)
    llm_backoff_base_s: float = Field(default=0.5, ge=0)
    llm_backoff_max_s: float = Field(default=30.0, ge=0)
    llm_adaptive: bool = Field(default=True, description="adapt the in-flight limit to 429s and queueing")
    llm_latency_backpressure: bool = Field(
        default=True, description="with LLM_ADAPTIVE, also lower the limit when latency rises without throughput"
    )
    llm_prices: dict[str, tuple[float, float]] = Field(
        default_factory=dict,
        description="model -> [USD per 1k input tokens, USD per 1k output tokens], as JSON in LLM_PRICES; the "
        "services estimate their LLM spend from it (models without a price are not costed)",
    )

    # delivery
    max_in_flight_messages: int = Field(
        default=256,
        ge=1,
        description="messages processed at once per replica; about twice LLM_CONCURRENCY keeps the LLM budget full, "
        "since a message spends part of its time between calls",
    )
    drain_timeout_s: float = Field(default=30.0, ge=0)
    max_message_bytes: int = Field(default=1_048_576, ge=1024)

    # flows
    skills: Annotated[list[str], NoDecode] = Field(default_factory=list)
    refine_rounds: int = Field(default=1, ge=0)
    suggestions_per_round: int = Field(default=2, ge=1)
    reflection_rounds: int = Field(default=1, ge=0)
    max_instruction_types: int = Field(default=3, ge=1)
    max_instructions_per_type: int = Field(default=2, ge=1)
    judge_threshold: float = 3.0

    # process
    http_host: str = "0.0.0.0"
    http_port: int = Field(default=8000, ge=0, le=65535)
    consumer_lag_interval_s: float = Field(
        default=5.0, ge=0, description="how often the stage groups' consumer lag is measured for /metrics; 0 disables"
    )
    log_level: str = "INFO"

    @field_validator("skills", mode="before")
    @classmethod
    def _split_skills(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("llm_prices")
    @classmethod
    def _check_prices(cls, value: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        for model, price in value.items():
            if min(price) < 0:
                raise ValueError(f"negative price for {model!r}")
        return value

    # -- derived names ------------------------------------------------------------------------------------------

    def _topic(self, override: str | None, name: str) -> str:
        return override or f"{self.topic_namespace}.{name}"

    @property
    def seeds_topic(self) -> str:
        return self._topic(self.topic_seeds, "seeds")

    @property
    def transformed_topic(self) -> str:
        return self._topic(self.topic_transformed, "transformed")

    @property
    def instructions_topic(self) -> str:
        return self._topic(self.topic_instructions, "instructions")

    @property
    def candidates_topic(self) -> str:
        return self._topic(self.topic_candidates, "candidates")

    @property
    def rejected_topic(self) -> str:
        return self._topic(self.topic_rejected, "rejected")

    def dlq_topic(self, stage: StageName) -> str:
        prefix = self.topic_dlq_prefix or f"{self.topic_namespace}.dlq."
        return f"{prefix}{stage}"

    def group_id(self, stage: StageName) -> str:
        return f"{self.consumer_group_prefix or self.topic_namespace}.{stage}"

    def all_topics(self) -> list[str]:
        return [
            self.seeds_topic,
            self.transformed_topic,
            self.instructions_topic,
            self.candidates_topic,
            self.rejected_topic,
            *(self.dlq_topic(stage) for stage in STAGES),
        ]

    # -- derived settings of other layers -----------------------------------------------------------------------

    def flow_config(self) -> FlowConfig:
        return FlowConfig(
            refine_rounds=self.refine_rounds,
            suggestions_per_round=self.suggestions_per_round,
            reflection_rounds=self.reflection_rounds,
            max_instruction_types=self.max_instruction_types,
            max_instructions_per_type=self.max_instructions_per_type,
            judge_threshold=self.judge_threshold,
        )

    def llm_settings(self) -> LLMSettings:
        per_role = {
            Role.TRANSFORM: self.agentinstruct_model_transform,
            Role.SUGGEST: self.agentinstruct_model_suggest,
            Role.EDIT: self.agentinstruct_model_edit,
            Role.TEACHER: self.agentinstruct_model_teacher,
            Role.JUDGE: self.agentinstruct_model_judge,
        }
        return LLMSettings(
            base_url=self.openai_base_url,
            api_key=self.openai_api_key,
            default_model=self.agentinstruct_model,
            models={role: name for role, name in per_role.items() if name},
            concurrency=self.llm_concurrency,
            rpm=self.llm_rpm,
            tpm=self.llm_tpm,
            timeout_s=self.llm_timeout_s,
            max_attempts=self.llm_max_attempts,
            backoff_base_s=self.llm_backoff_base_s,
            backoff_max_s=self.llm_backoff_max_s,
            adaptive=self.llm_adaptive,
            latency_backpressure=self.llm_latency_backpressure,
            cost_per_1k_tokens=self.llm_prices,
        )

    def masked(self) -> dict[str, Any]:
        """Every setting, secrets replaced by `**********`, for the startup log."""
        values = self.model_dump()
        for name, value in values.items():
            if isinstance(value, SecretStr):
                values[name] = "**********" if value.get_secret_value() else ""
        return values
