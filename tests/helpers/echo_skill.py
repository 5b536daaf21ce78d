"""A minimal skill for testing the generic stages: one LLM transformation agent, two taxonomy entries."""

from __future__ import annotations

from typing import ClassVar

from agentinstruct.skills.base import (
    IdentityAgent,
    InstructionType,
    LLMTransformAgent,
    RefinementGoal,
    Skill,
    TransformAgent,
)


class EchoSkill(Skill):
    name = "echo"
    split = "echo_split"
    title = "Echo"
    description = "questions about a text"
    transform_agents: ClassVar[tuple[TransformAgent, ...]] = (
        LLMTransformAgent(name="summary", prompt="testing/transform", min_chars=5),
        IdentityAgent(),
    )
    transforms_per_seed = 2
    instruction_types = (
        InstructionType(name="literal", description="ask for a stated fact"),
        InstructionType(name="count", description="ask to count", params={"unit": ("words", "sentences")}),
    )
    refinement_goals = (RefinementGoal(name="harder", description="make it harder"),)
    judge_rubric = "correct and grounded"
