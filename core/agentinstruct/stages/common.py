"""What every stage returns, and how failures become rejections that keep their reason."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

from agentinstruct.llm.errors import LLMError
from agentinstruct.skills.base import AgentOutputError
from agentinstruct_schemas import Lineage, Rejection, derive_id

T = TypeVar("T")


@dataclass(slots=True)
class StageResult(Generic[T]):
    outputs: list[T] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)

    def extend(self, other: StageResult[T]) -> None:
        self.outputs.extend(other.outputs)
        self.rejections.extend(other.rejections)


def failure_reason(exc: BaseException) -> tuple[str, str, dict[str, Any]]:
    """(reason code, human detail, partial data) for a failure inside an agent."""
    if isinstance(exc, LLMError):
        partial: dict[str, Any] = {"attempts": exc.attempts}
        if exc.raw is not None:
            partial["raw_output"] = exc.raw[:20_000]
        return f"llm.{exc.kind.value}", exc.message, partial
    if isinstance(exc, AgentOutputError):
        return "agent.unusable_output", str(exc), {}
    if isinstance(exc, ValidationError):
        return "agent.invalid_output", str(exc).splitlines()[0], {}
    raise exc


def rejection(
    *,
    parent_id: str,
    stage: str,
    agent: str,
    lineage: Lineage,
    exc: BaseException,
    subcategory: str | None = None,
    item: dict[str, Any] | None = None,
) -> Rejection:
    reason, detail, partial = failure_reason(exc)
    return Rejection(
        id=derive_id(parent_id, f"reject:{stage}:{agent}", "1", 0),
        stage=stage,
        reason=reason,
        detail=f"{agent}: {detail}",
        skill=lineage.skill,
        subcategory=subcategory,
        lineage=lineage,
        item={**(item or {}), **partial},
    )
