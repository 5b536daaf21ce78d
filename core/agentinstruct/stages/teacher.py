"""The teacher: answers an instruction, then critiques its own answer and revises it (reflection)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentinstruct.llm.base import Role
from agentinstruct.prompts import load_prompt
from agentinstruct.skills.base import Calls, Critique, StageContext, TeacherAnswer, TeacherOutput
from agentinstruct_schemas import Instruction

if TYPE_CHECKING:
    from agentinstruct.skills.base import Skill

CRITIQUE_PROMPT = "common/critique"
REVISE_PROMPT = "common/revise"


async def answer_with_reflection(
    skill: Skill, instruction: Instruction, ctx: StageContext, calls: Calls
) -> TeacherOutput:
    user_message = skill.user_message(instruction)
    checks = skill.skill_checks_brief(instruction)
    teacher = load_prompt(skill.teacher_prompt)
    first = await ctx.llm.generate(
        Role.TEACHER,
        teacher.render(skill=skill, instruction=instruction, user_message=user_message, checks=checks),
        TeacherAnswer,
        prompt=teacher.ref,
    )
    calls.add(first.record)
    current = first.parsed
    history: list[dict[str, Any]] = []
    for _round in range(ctx.config.reflection_rounds):
        current, revised, flaws = await reflect(skill, instruction, user_message, checks, current, ctx, calls)
        history.append({"flaws": flaws, "revised": revised})
        if not revised:
            break
    return TeacherOutput(
        turns=[{"role": "assistant", "content": skill.render_answer(instruction, current)}],
        data={"reflection": history, "reasoning": current.reasoning},
    )


async def reflect(
    skill: Skill,
    instruction: Instruction,
    user_message: str,
    checks: list[str],
    current: TeacherAnswer,
    ctx: StageContext,
    calls: Calls,
) -> tuple[TeacherAnswer, bool, list[str]]:
    """One critique (and, when it finds a flaw, one revision). Returns (answer, revised?, flaws)."""
    critic = load_prompt(CRITIQUE_PROMPT)
    critique = await ctx.llm.generate(
        Role.TEACHER,
        critic.render(skill=skill, user_message=user_message, answer=current, checks=checks),
        Critique,
        prompt=critic.ref,
    )
    calls.add(critique.record)
    flaws = [flaw.strip() for flaw in critique.parsed.flaws if flaw.strip()]
    if critique.parsed.verdict.strip().lower().startswith("ok") and not flaws:
        return current, False, []
    if not flaws:
        flaws = ["the critic asked for a revision without naming a flaw"]
    reviser = load_prompt(REVISE_PROMPT)
    revised = await ctx.llm.generate(
        Role.TEACHER,
        reviser.render(skill=skill, user_message=user_message, answer=current, flaws=flaws, checks=checks),
        TeacherAnswer,
        prompt=reviser.ref,
    )
    calls.add(revised.record)
    return revised.parsed, True, flaws
