"""The skill contract: a skill is a declarative spec plus, where it needs them, small hooks.

A `Skill` names its transformation agents, its instruction taxonomy (with parameter slots), its refinement
goals, its teacher behaviour and its checks. The four generic stages (`agentinstruct.stages`) run any skill;
adding a skill means writing a subclass with these attributes, and registering it in `registry.py`.

Flow per seed (AgentInstruct, Mitra et al. 2024):
  transform  -> `transform_agents` picked by `pick_transform_agents` turn the seed into intermediate content;
  suggest    -> `pick_instruction_types` chooses taxonomy entries (RC: the transformation agent decides) and
                each entry's agent writes one or more instructions (`suggest`);
  refine     -> Suggester proposes harder variants toward `refinement_goals`, Editor applies them; the seed
                instruction is kept beside the refined ones; then the teacher answers (`answer`), with
                reflection rounds (critique, revise);
  validate   -> structural checks, `check` (the skill's own checks), an LLM judge with `judge_rubric`,
                exact-duplicate removal.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, Field

from agentinstruct.llm.base import LLM, Role
from agentinstruct.prompts import load_prompt
from agentinstruct_schemas import Candidate, CheckResult, Instruction, LLMCallRecord, Seed, Transformed


# ----
# Run-time context shared by every stage
# ----
@dataclass(frozen=True, slots=True)
class FlowConfig:
    """Knobs of the flows; defaults follow the method doc's suggested minimal configuration."""

    refine_rounds: int = 1
    suggestions_per_round: int = 2
    reflection_rounds: int = 1
    max_instruction_types: int = 3
    max_instructions_per_type: int = 2
    judge_threshold: float = 3.0
    sandbox_timeout_s: float = 10.0


class ToolsPort(Protocol):
    """What agents may use: search over the seed corpus, a sandboxed interpreter, a calculator."""

    def search(self, query: str, k: int = 5) -> list[dict[str, Any]]: ...

    async def call(self, name: str, arguments: str | dict[str, Any]) -> str: ...

    def specs(self) -> list[dict[str, Any]]: ...


@dataclass(slots=True)
class StageContext:
    llm: LLM
    config: FlowConfig = field(default_factory=FlowConfig)
    tools: ToolsPort | None = None


@dataclass(slots=True)
class Calls:
    """Collects the accounting records of the LLM calls an agent made."""

    records: list[LLMCallRecord] = field(default_factory=list)

    def add(self, record: LLMCallRecord) -> None:
        self.records.append(record)


def rng_for(*parts: str) -> random.Random:
    """A random generator seeded from ids, so every choice replays identically after a crash."""
    return random.Random("\x1f".join(parts))


# ----
# Transformation agents
# ----
@dataclass(slots=True)
class TransformOutput:
    content: str
    data: dict[str, Any] = field(default_factory=dict)


class TransformAgent(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def prompt_version(self) -> str: ...

    async def run(self, seed: Seed, skill: Skill, ctx: StageContext, calls: Calls) -> list[TransformOutput]: ...


@dataclass(frozen=True, slots=True)
class IdentityAgent:
    """Passes the seed through unchanged (the paper's Identity agent)."""

    name: str = "identity"
    prompt_version: str = "identity@1"

    async def run(self, seed: Seed, skill: Skill, ctx: StageContext, calls: Calls) -> list[TransformOutput]:
        return [TransformOutput(content=seed.text)]


class TransformedText(BaseModel):
    """Output of a text transformation agent."""

    title: str = Field(description="a short title for the new text")
    text: str = Field(description="the full transformed text")


@dataclass(frozen=True, slots=True)
class LLMTransformAgent:
    """Renders `prompts/<prompt>.j2` with the seed and asks the model for a `TransformedText`."""

    name: str
    prompt: str
    description: str = ""
    min_chars: int = 200

    @property
    def prompt_version(self) -> str:
        return load_prompt(self.prompt).ref

    async def run(self, seed: Seed, skill: Skill, ctx: StageContext, calls: Calls) -> list[TransformOutput]:
        template = load_prompt(self.prompt)
        messages = template.render(seed=seed.text, agent=self, skill=skill)
        result = await ctx.llm.generate(Role.TRANSFORM, messages, TransformedText, prompt=template.ref)
        calls.add(result.record)
        text = result.parsed.text.strip()
        if len(text) < self.min_chars:
            raise AgentOutputError(f"{self.name} wrote {len(text)} characters, fewer than {self.min_chars}")
        return [TransformOutput(content=text, data={"title": result.parsed.title})]


class AgentOutputError(ValueError):
    """An agent's answer parsed but is unusable (too short, inconsistent); the item is rejected with this."""


# ----
# Taxonomy
# ----
@dataclass(frozen=True, slots=True)
class InstructionType:
    """One taxonomy entry: its agent's brief, answer format and parameter slots."""

    name: str
    description: str
    answer_format: str = "free text"
    params: Mapping[str, Sequence[str]] = field(default_factory=dict)
    example: str = ""

    def fill_params(self, rng: random.Random) -> dict[str, str]:
        return {slot: rng.choice(list(choices)) for slot, choices in self.params.items()}


@dataclass(frozen=True, slots=True)
class RefinementGoal:
    name: str
    description: str


@dataclass(slots=True)
class Draft:
    """An instruction written by an agent, before it becomes an `Instruction` message."""

    instruction: str
    context: str
    answer_key: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


class SuggestedItem(BaseModel):
    instruction: str = Field(description="the task for the student, self-contained")
    answer: str = Field(description="the expected answer or a short reference solution")


class SuggestedBatch(BaseModel):
    items: list[SuggestedItem] = Field(min_length=1, max_length=3)


class Suggestion(BaseModel):
    goal: str = Field(description="which refinement goal this suggestion serves")
    suggestion: str = Field(description="a concrete change that makes the task harder or more intricate")


class Suggestions(BaseModel):
    suggestions: list[Suggestion] = Field(min_length=1, max_length=5)


class EditedItem(BaseModel):
    context: str = Field(description="the full (possibly modified) text the task is about")
    instruction: str = Field(description="the rewritten task")
    answer: str = Field(description="the expected answer of the rewritten task")


class TeacherAnswer(BaseModel):
    reasoning: str = Field(description="step-by-step reasoning")
    answer: str = Field(description="the final answer to give the user")


class Critique(BaseModel):
    flaws: list[str] = Field(description="concrete problems of the answer; empty if there are none")
    verdict: str = Field(description="'ok' if the answer is correct and complete, else 'revise'")


class JudgeVerdict(BaseModel):
    """The judge explains first and scores after, so the score follows from the reasoning."""

    reason: str = Field(description="what the answer gets right and wrong, in one or two sentences")
    score: int = Field(ge=1, le=5, description="1 (unusable) to 5 (excellent)")


@dataclass(slots=True)
class TeacherOutput:
    """The transcript after the user's instruction (assistant turns, and tool turns for multi-turn skills)."""

    turns: list[dict[str, str]]
    data: dict[str, Any] = field(default_factory=dict)


# ----
# The skill base class
# ----
class Skill:
    """Base class of every skill spec. Subclasses set the class attributes; hooks have generic defaults."""

    name: ClassVar[str]
    split: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str]
    seed_kinds: ClassVar[frozenset[str]] = frozenset({"text", "markdown"})
    transform_agents: ClassVar[tuple[TransformAgent, ...]]
    transforms_per_seed: ClassVar[int] = 1
    instruction_types: ClassVar[tuple[InstructionType, ...]]
    refinement_goals: ClassVar[tuple[RefinementGoal, ...]]
    judge_rubric: ClassVar[str]
    suggest_prompt: ClassVar[str] = "common/suggest"
    teacher_prompt: ClassVar[str] = "common/teacher"
    refine_suggest_prompt: ClassVar[str] = "common/refine_suggest"
    edit_prompt: ClassVar[str] = "common/refine_edit"

    # ---- content transformation -------------------------------------------------------------------------------
    def applies_to(self, seed: Seed) -> bool:
        return seed.source.kind in self.seed_kinds

    def pick_transform_agents(self, seed: Seed) -> list[TransformAgent]:
        """Default: `transforms_per_seed` agents at random (deterministic per seed)."""
        rng = rng_for(seed.id, self.name, "transform")
        agents = list(self.transform_agents)
        return rng.sample(agents, k=min(self.transforms_per_seed, len(agents)))

    def agent(self, name: str) -> TransformAgent:
        for agent in self.transform_agents:
            if agent.name == name:
                return agent
        raise KeyError(f"skill {self.name} has no transformation agent {name!r}")

    # ---- seed instruction generation --------------------------------------------------------------------------
    def candidate_types(self, item: Transformed) -> Sequence[InstructionType]:
        """Taxonomy entries allowed for this content; default: all of them."""
        return self.instruction_types

    def pick_instruction_types(
        self, item: Transformed, config: FlowConfig
    ) -> list[tuple[InstructionType, dict[str, str]]]:
        rng = rng_for(item.id, self.name, "types")
        allowed = list(self.candidate_types(item))
        chosen = rng.sample(allowed, k=min(config.max_instruction_types, len(allowed)))
        return [(itype, itype.fill_params(rng)) for itype in chosen]

    def instruction_type(self, name: str) -> InstructionType:
        for itype in self.instruction_types:
            if itype.name == name:
                return itype
        raise KeyError(f"skill {self.name} has no instruction type {name!r}")

    async def suggest(
        self,
        item: Transformed,
        itype: InstructionType,
        params: dict[str, str],
        ctx: StageContext,
        calls: Calls,
    ) -> list[Draft]:
        """Default: one agent call with the generic suggest prompt, producing 1-3 items."""
        template = load_prompt(self.suggest_prompt)
        messages = template.render(
            skill=self,
            itype=itype,
            params=params,
            content=item.content,
            data=item.data,
            count=ctx.config.max_instructions_per_type,
        )
        result = await ctx.llm.generate(Role.SUGGEST, messages, SuggestedBatch, prompt=template.ref)
        calls.add(result.record)
        drafts = []
        for entry in result.parsed.items[: ctx.config.max_instructions_per_type]:
            drafts.append(self.build_draft(item, itype, params, entry.instruction, entry.answer))
        return drafts

    def build_draft(
        self, item: Transformed, itype: InstructionType, params: dict[str, str], instruction: str, answer: str
    ) -> Draft:
        return Draft(
            instruction=instruction.strip(),
            context=item.content,
            answer_key=answer.strip() or None,
            data={"params": params},
        )

    # ---- refinement --------------------------------------------------------------------------------------------
    def accept_suggestion(self, instruction: Instruction, goal: str, index: int) -> bool:
        """Whether the Editor applies the `index`-th suggestion (tagged `goal`) to `instruction`; default: all."""
        return True

    async def edit(
        self, instruction: Instruction, goal: str, suggestion: str, ctx: StageContext, calls: Calls
    ) -> Draft:
        """The Editor: apply one suggestion. Default: `edit_prompt` answered as an `EditedItem`, then `apply_edit`."""
        template = load_prompt(self.edit_prompt)
        result = await ctx.llm.generate(
            Role.EDIT,
            template.render(skill=self, item=instruction, goal=goal, suggestion=suggestion),
            EditedItem,
            prompt=template.ref,
        )
        calls.add(result.record)
        return self.apply_edit(instruction, result.parsed, goal)

    def apply_edit(self, instruction: Instruction, edited: EditedItem, goal: str) -> Draft:
        """Turn the Editor's answer into a new draft; skills with structured items override this."""
        return Draft(
            instruction=edited.instruction.strip(),
            context=edited.context.strip() or instruction.context,
            answer_key=edited.answer.strip() or None,
            data={**instruction.data, "refinement_goal": goal},
        )

    # ---- teacher -----------------------------------------------------------------------------------------------
    def user_message(self, instruction: Instruction) -> str:
        """The user turn of the final pair. Default: instruction, blank line, then the context."""
        if not instruction.context.strip():
            return instruction.instruction
        return f"{instruction.instruction}\n\n{instruction.context}"

    def render_answer(self, instruction: Instruction, answer: TeacherAnswer) -> str:
        """The assistant turn from the teacher's structured answer. Default: the answer alone."""
        return answer.answer.strip()

    def skill_checks_brief(self, instruction: Instruction) -> list[str]:
        """Plain-language checks the teacher critiques its answer against (the skill's own checks)."""
        return []

    async def answer(self, instruction: Instruction, ctx: StageContext, calls: Calls) -> TeacherOutput:
        """Default teacher: a separate call from the one that wrote the instruction, then reflection rounds."""
        from agentinstruct.stages.teacher import answer_with_reflection

        return await answer_with_reflection(self, instruction, ctx, calls)

    # ---- validation --------------------------------------------------------------------------------------------
    async def check(self, candidate: Candidate, ctx: StageContext, calls: Calls) -> list[CheckResult]:
        """The skill's own checks; each failing result is a rejection reason."""
        return []

    # ---- description -------------------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "split": self.split,
            "title": self.title,
            "description": self.description,
            "seed_kinds": sorted(self.seed_kinds),
            "transformation_agents": [agent.name for agent in self.transform_agents],
            "subcategories": [itype.name for itype in self.instruction_types],
            "refinement_goals": [goal.name for goal in self.refinement_goals],
        }
