"""The LLM port every stage talks to. One implementation owns all real calls (`openai_llm.py`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel

from agentinstruct_schemas import LLMCallRecord

T = TypeVar("T", bound=BaseModel)


class Role(StrEnum):
    """Which agent family makes a call; each role can use its own model."""

    TRANSFORM = "transform"
    SUGGEST = "suggest"
    EDIT = "edit"
    TEACHER = "teacher"
    JUDGE = "judge"


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str


@dataclass(slots=True)
class LLMResult(Generic[T]):
    """A validated answer: the parsed model, the raw text and the accounting record of the call."""

    parsed: T
    text: str
    record: LLMCallRecord
    finish_reason: str = "stop"
    tool_calls: list[ToolCall] = field(default_factory=list)


class LLM(Protocol):
    """Structured generation: returns `schema` parsed from the model's answer or raises `LLMError`."""

    async def generate(
        self,
        role: Role,
        messages: list[dict[str, Any]],
        schema: type[T],
        *,
        prompt: str,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> LLMResult[T]: ...

    def model_for(self, role: Role) -> str: ...
