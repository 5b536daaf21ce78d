"""Message models for every topic and for the output rows.

Versioning: each message carries `schema_version`. A change that old readers cannot parse bumps
`SCHEMA_VERSION`; readers reject versions they do not know (the services dead-letter them).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION: Literal[1] = 1

JSONScalar = str | int | float | bool | None


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class Usage(_Model):
    """LLM usage: calls made (and answered from the cache), tokens, tokens per role."""

    calls: int = 0
    cached_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    by_role: dict[str, int] = Field(default_factory=dict)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def plus(self, other: Usage) -> Usage:
        by_role = dict(self.by_role)
        for role, tokens in other.by_role.items():
            by_role[role] = by_role.get(role, 0) + tokens
        return Usage(
            calls=self.calls + other.calls,
            cached_calls=self.cached_calls + other.cached_calls,
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            by_role=by_role,
        )


class LLMCallRecord(_Model):
    """One LLM call as accounted: which role, model and prompt, its tokens, whether it came from the cache."""

    role: str
    model: str
    prompt: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False
    latency_ms: float = 0.0

    def as_usage(self) -> Usage:
        tokens = self.prompt_tokens + self.completion_tokens
        return Usage(
            calls=0 if self.cached else 1,
            cached_calls=1 if self.cached else 0,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            by_role={self.role: tokens},
        )


class SeedSource(_Model):
    """Where a seed came from: the document, and which chunk of it."""

    uri: str
    kind: Literal["text", "markdown", "code"] = "text"
    language: str | None = None
    chunk_index: int = 0
    chunk_count: int = 1
    char_start: int = 0
    char_end: int = 0
    document_id: str = ""


class Seed(_Model):
    """A raw document (or a chunk of one): the only input of the method."""

    schema_version: Literal[1] = SCHEMA_VERSION
    id: str
    text: str
    source: SeedSource
    metadata: dict[str, JSONScalar] = Field(default_factory=dict)
    skills: list[str] = Field(default_factory=list, description="skills to run; empty means every skill")


class Lineage(_Model):
    """How an item was made: seed, agents, prompt versions, models and accumulated LLM usage."""

    seed_id: str
    source: SeedSource
    skill: str
    split: str
    transform_agent: str | None = None
    instruction_type: str | None = None
    refinement_path: list[str] = Field(default_factory=list)
    prompt_versions: dict[str, str] = Field(default_factory=dict)
    models: dict[str, str] = Field(default_factory=dict)
    usage: Usage = Field(default_factory=Usage)

    def extended(
        self,
        *,
        calls: list[LLMCallRecord] = (),  # type: ignore[assignment]
        **changes: Any,
    ) -> Lineage:
        """A copy with `changes` applied and the given calls' prompts, models and usage added."""
        new = self.model_copy(deep=True, update=changes)
        for call in calls:
            agent = call.prompt.split("@", 1)[0]
            new.prompt_versions[agent] = call.prompt
            new.models[call.role] = call.model
            new.usage = new.usage.plus(call.as_usage())
        return new


class Transformed(_Model):
    """Output of the content transformation flow: an intermediate form of a seed for one skill."""

    schema_version: Literal[1] = SCHEMA_VERSION
    id: str
    lineage: Lineage
    content: str
    data: dict[str, Any] = Field(default_factory=dict)


class Instruction(_Model):
    """A seed or refined instruction, with the context it is about and, where the skill has one, its key."""

    schema_version: Literal[1] = SCHEMA_VERSION
    id: str
    parent_id: str
    lineage: Lineage
    context: str
    instruction: str
    answer_key: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class ChatMessage(_Model):
    role: Literal["system", "user", "assistant", "tool"]
    content: str
    name: str | None = None


class Candidate(_Model):
    """An instruction with the teacher's response, as a chat transcript, before validation."""

    schema_version: Literal[1] = SCHEMA_VERSION
    id: str
    instruction: Instruction
    messages: list[ChatMessage]
    data: dict[str, Any] = Field(default_factory=dict)

    @property
    def lineage(self) -> Lineage:
        return self.instruction.lineage


class CheckResult(_Model):
    name: str
    passed: bool
    detail: str = ""
    score: float | None = None


class Pair(_Model):
    """An accepted instruction/response pair, in the chat format of orca-agentinstruct-1M plus its metadata."""

    schema_version: Literal[1] = SCHEMA_VERSION
    id: str
    messages: list[ChatMessage]
    split: str
    skill: str
    subcategory: str
    lineage: Lineage
    checks: list[CheckResult]
    judge_score: float | None = None
    content_hash: str


class Rejection(_Model):
    """An item that did not pass, with the reason that stopped it and all check results."""

    schema_version: Literal[1] = SCHEMA_VERSION
    id: str
    stage: str
    reason: str
    detail: str = ""
    skill: str
    subcategory: str | None = None
    lineage: Lineage
    checks: list[CheckResult] = Field(default_factory=list)
    item: dict[str, Any] = Field(default_factory=dict)


class DeadLetter(_Model):
    """Input a stage could not process: the raw payload and why."""

    schema_version: Literal[1] = SCHEMA_VERSION
    stage: str
    source_topic: str | None = None
    reason: str
    error_kind: str
    detail: str = ""
    payload: str = Field(description="the input as received (UTF-8, or base64 when not text)")
    payload_encoding: Literal["utf-8", "base64"] = "utf-8"
    attempts: int = 1
    partial: dict[str, Any] = Field(default_factory=dict, description="partial results and raw LLM outputs")
