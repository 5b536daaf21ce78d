"""Settings of the LLM layer. Built by callers (CLI, services); nothing here reads the environment."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from agentinstruct.llm.base import Role

DEFAULT_TEMPERATURE: dict[Role, float] = {
    Role.TRANSFORM: 0.7,
    Role.SUGGEST: 0.7,
    Role.EDIT: 0.7,
    Role.TEACHER: 0.3,
    Role.JUDGE: 0.0,
}

DEFAULT_MAX_TOKENS: dict[Role, int] = {
    Role.TRANSFORM: 2048,
    Role.SUGGEST: 1024,
    Role.EDIT: 1024,
    Role.TEACHER: 2048,
    Role.JUDGE: 512,
}


class LLMSettings(BaseModel):
    """Everything `OpenAILLM` needs: endpoint, models per role, budgets, limits, retry and sampling policy.

    `temperature` and `max_tokens` may name only some roles; the others keep the defaults above.
    The API key is a `SecretStr`: it never appears in `repr`, `str` or a JSON dump.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str | None = None
    api_key: SecretStr | None = None
    default_model: str
    models: dict[Role, str] = Field(default_factory=dict)

    concurrency: int = Field(default=64, ge=1, description="budget of in-flight calls per (endpoint, model)")
    rpm: int | None = Field(default=None, ge=1, description="requests per minute; None: unlimited")
    tpm: int | None = Field(default=None, ge=1, description="tokens per minute; None: unlimited")
    adaptive: bool = Field(default=True, description="AIMD on 429s and latency back-pressure")
    latency_backpressure: bool = Field(
        default=True, description="with `adaptive`, also shrink the limit when latency rises without throughput"
    )

    timeout_s: float = Field(default=120.0, gt=0)
    max_attempts: int = Field(default=6, ge=1)
    backoff_base_s: float = Field(default=0.5, ge=0)
    backoff_max_s: float = Field(default=30.0, ge=0)

    temperature: dict[Role, float] = Field(default_factory=lambda: dict(DEFAULT_TEMPERATURE))
    max_tokens: dict[Role, int] = Field(default_factory=lambda: dict(DEFAULT_MAX_TOKENS))
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = Field(
        default="max_tokens", description="request field for the token cap (newer OpenAI models want the second)"
    )
    seed: int | None = 1234
    extra_body: dict[str, Any] = Field(default_factory=dict)
    json_schema_strict: bool = True
    function_calling: bool = False
    cost_per_1k_tokens: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description="model -> (USD per 1k input tokens, USD per 1k output tokens)"
    )
    http_transport: Literal["httpx", "aiohttp"] = Field(
        default="aiohttp", description="HTTP transport under the openai client"
    )

    def model_for(self, role: Role) -> str:
        return self.models.get(role, self.default_model)

    def temperature_for(self, role: Role) -> float:
        value = self.temperature.get(role)
        return DEFAULT_TEMPERATURE[role] if value is None else value

    def max_tokens_for(self, role: Role) -> int:
        value = self.max_tokens.get(role)
        return DEFAULT_MAX_TOKENS[role] if value is None else value

    @property
    def endpoint(self) -> str:
        """The base URL as a stable key (OpenAI's when none is set)."""
        return (self.base_url or "https://api.openai.com/v1").rstrip("/")
