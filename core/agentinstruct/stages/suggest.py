"""Seed instruction generation flow: taxonomy agents suggest instructions for each transformed content."""

from __future__ import annotations

import asyncio

from agentinstruct.prompts import load_prompt
from agentinstruct.skills.base import Calls, InstructionType, Skill, StageContext
from agentinstruct.stages.common import StageResult, rejection
from agentinstruct_schemas import Instruction, Transformed, derive_id

STAGE = "suggest"


async def suggest_instructions(item: Transformed, skill: Skill, ctx: StageContext) -> StageResult[Instruction]:
    """Every chosen taxonomy agent writes instructions about `item`."""
    chosen = skill.pick_instruction_types(item, ctx.config)
    parts = await asyncio.gather(*(_run_type(item, skill, itype, params, ctx) for itype, params in chosen))
    result: StageResult[Instruction] = StageResult()
    for part in parts:
        result.extend(part)
    return result


async def _run_type(
    item: Transformed, skill: Skill, itype: InstructionType, params: dict[str, str], ctx: StageContext
) -> StageResult[Instruction]:
    calls = Calls()
    lineage = item.lineage.extended(instruction_type=itype.name)
    result: StageResult[Instruction] = StageResult()
    try:
        drafts = await skill.suggest(item, itype, params, ctx, calls)
    except Exception as exc:
        result.rejections.append(
            rejection(
                parent_id=item.id,
                stage=STAGE,
                agent=itype.name,
                subcategory=itype.name,
                lineage=lineage.extended(calls=calls.records),
                exc=exc,
            )
        )
        return result
    lineage = lineage.extended(calls=calls.records)
    version = load_prompt(skill.suggest_prompt).ref
    for index, draft in enumerate(drafts):
        if not draft.instruction:
            continue
        result.outputs.append(
            Instruction(
                id=derive_id(item.id, f"suggest/{itype.name}", version, index),
                parent_id=item.id,
                lineage=lineage,
                context=draft.context,
                instruction=draft.instruction,
                answer_key=draft.answer_key,
                data=draft.data,
            )
        )
    return result
