"""Instruction refinement (Suggester -> Editor rounds) and the teacher's response.

The seed instruction is kept beside every refined variant. Round r refines the variants of round r-1, so
refinements compound (harder, then harder again). Every item is then answered by the teacher in a separate
call from the one that wrote it.
"""

from __future__ import annotations

import asyncio

from agentinstruct.llm.base import Role
from agentinstruct.prompts import load_prompt
from agentinstruct.skills.base import Calls, Skill, StageContext, Suggestions
from agentinstruct.stages.common import StageResult, rejection
from agentinstruct_schemas import Candidate, ChatMessage, Instruction, Rejection, derive_id

STAGE = "refine"


async def refine_and_answer(instruction: Instruction, skill: Skill, ctx: StageContext) -> StageResult[Candidate]:
    items, rejections = await refine(instruction, skill, ctx)
    answered = await asyncio.gather(*(answer(item, skill, ctx) for item in items))
    result: StageResult[Candidate] = StageResult(rejections=rejections)
    for outcome in answered:
        if isinstance(outcome, Rejection):
            result.rejections.append(outcome)
        else:
            result.outputs.append(outcome)
    return result


async def refine(
    instruction: Instruction, skill: Skill, ctx: StageContext
) -> tuple[list[Instruction], list[Rejection]]:
    """The seed instruction plus every refined variant, and rejections for the refinements that failed."""
    kept = [instruction]
    rejections: list[Rejection] = []
    frontier = [instruction]
    for _round in range(ctx.config.refine_rounds):
        if not skill.refinement_goals:
            break
        outcomes = await asyncio.gather(*(_refine_one(item, skill, ctx) for item in frontier))
        frontier = []
        for refined, failed in outcomes:
            frontier.extend(refined)
            rejections.extend(failed)
        kept.extend(frontier)
    return kept, rejections


async def _refine_one(item: Instruction, skill: Skill, ctx: StageContext) -> tuple[list[Instruction], list[Rejection]]:
    suggester = load_prompt(skill.refine_suggest_prompt)
    calls = Calls()
    try:
        suggested = await ctx.llm.generate(
            Role.SUGGEST,
            suggester.render(
                skill=skill,
                item=item,
                user_message=skill.user_message(item),
                count=ctx.config.suggestions_per_round,
            ),
            Suggestions,
            prompt=suggester.ref,
        )
    except Exception as exc:
        return [], [
            rejection(
                parent_id=item.id,
                stage=STAGE,
                agent="suggester",
                exc=exc,
                subcategory=item.lineage.instruction_type,
                lineage=item.lineage,
            )
        ]
    calls.add(suggested.record)
    suggestions = suggested.parsed.suggestions[: ctx.config.suggestions_per_round]
    accepted = [
        (index, goal, s.suggestion)
        for index, s in enumerate(suggestions)
        if skill.accept_suggestion(item, goal := _goal_name(skill, s.goal), index)
    ]
    edits = await asyncio.gather(
        *(_edit(item, skill, ctx, goal, suggestion, index, calls) for index, goal, suggestion in accepted),
        return_exceptions=True,
    )
    refined: list[Instruction] = []
    failed: list[Rejection] = []
    for edit in edits:
        if isinstance(edit, Instruction):
            refined.append(edit)
        elif isinstance(edit, Exception):
            failed.append(
                rejection(
                    parent_id=item.id,
                    stage=STAGE,
                    agent="editor",
                    exc=edit,
                    subcategory=item.lineage.instruction_type,
                    lineage=item.lineage.extended(calls=calls.records),
                )
            )
        else:
            raise edit
    return refined, failed


def _goal_name(skill: Skill, goal: str) -> str:
    wanted = goal.strip().lower()
    for known in skill.refinement_goals:
        if known.name.lower() == wanted or known.name.lower() in wanted:
            return known.name
    return skill.refinement_goals[0].name


async def _edit(
    item: Instruction, skill: Skill, ctx: StageContext, goal_name: str, suggestion: str, index: int, shared: Calls
) -> Instruction:
    calls = Calls()
    draft = await skill.edit(item, goal_name, suggestion, ctx, calls)
    lineage = item.lineage.extended(
        calls=[*shared.records, *calls.records], refinement_path=[*item.lineage.refinement_path, goal_name]
    )
    return Instruction(
        id=derive_id(item.id, f"edit/{goal_name}", load_prompt(skill.edit_prompt).ref, index),
        parent_id=item.id,
        lineage=lineage,
        context=draft.context,
        instruction=draft.instruction,
        answer_key=draft.answer_key,
        data=draft.data,
    )


async def answer(item: Instruction, skill: Skill, ctx: StageContext) -> Candidate | Rejection:
    calls = Calls()
    try:
        output = await skill.answer(item, ctx, calls)
    except Exception as exc:
        return rejection(
            parent_id=item.id,
            stage=STAGE,
            agent="teacher",
            exc=exc,
            subcategory=item.lineage.instruction_type,
            lineage=item.lineage.extended(calls=calls.records),
            item={"instruction": item.instruction},
        )
    lineage = item.lineage.extended(calls=calls.records)
    messages = [
        ChatMessage(role="system", content=""),
        ChatMessage(role="user", content=skill.user_message(item)),
    ]
    for turn in output.turns:
        messages.append(ChatMessage.model_validate(turn))
    answered = item.model_copy(update={"lineage": lineage})
    return Candidate(
        id=derive_id(item.id, "teacher", load_prompt(skill.teacher_prompt).ref, 0),
        instruction=answered,
        messages=messages,
        data=output.data,
    )
