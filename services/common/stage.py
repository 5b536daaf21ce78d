"""What a stage service is: which topic it reads, which model it expects, and the function that processes one item.

The function wraps one of the pure stage functions of `agentinstruct.stages` and says where its results go; the
delivery layer (`delivery.py`) owns everything about Kafka, retries and commits.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from pydantic import BaseModel

from agentinstruct.llm.openai_llm import OpenAILLM
from agentinstruct.skills import Skill, get_skill
from agentinstruct.skills.base import StageContext
from agentinstruct.store import MongoPairStore
from agentinstruct_schemas import Pair, Rejection
from services.common.settings import ServiceSettings, StageName

M = TypeVar("M", bound=BaseModel)


class UnknownSkillError(LookupError):
    """An item names a skill this service does not have: it is dead-lettered, not retried."""


@dataclass(slots=True)
class Output:
    """One message to publish: the topic and the item (its `id` is the message's identity)."""

    topic: str
    message: BaseModel


@dataclass(slots=True)
class Outcome:
    """Where the results of one input go: outputs to publish, rejections, accepted pairs to store."""

    outputs: list[Output] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    pairs: list[Pair] = field(default_factory=list)


@dataclass(slots=True)
class Runtime:
    """The clients and configuration a stage function uses; built at startup, closed at shutdown."""

    settings: ServiceSettings
    ctx: StageContext
    skills: list[Skill]
    llm: OpenAILLM | None = None
    store: MongoPairStore | None = None

    def skill(self, name: str) -> Skill:
        try:
            return get_skill(name)
        except KeyError as exc:
            raise UnknownSkillError(str(exc.args[0]) if exc.args else name) from None

    def require_store(self) -> MongoPairStore:
        if self.store is None:
            raise RuntimeError("this stage needs MongoDB but no store was configured")
        return self.store


@dataclass(frozen=True, slots=True)
class StageSpec(Generic[M]):
    name: StageName
    description: str
    input_model: type[M]
    input_topic: Callable[[ServiceSettings], str]
    run: Callable[[M, Runtime], Awaitable[Outcome]]
    key: Callable[[M], str]
    output_model: type[BaseModel] | None = None
    output_topic: Callable[[ServiceSettings], str] | None = None
    stores_results: bool = False
