"""Content transformation flow: per seed and skill, transformation agents produce intermediate forms."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from agentinstruct.skills.base import Calls, Skill, StageContext, TransformAgent
from agentinstruct.stages.common import StageResult, rejection
from agentinstruct_schemas import Lineage, Seed, Transformed, derive_id

STAGE = "transform"


async def transform_seed(seed: Seed, skills: Sequence[Skill], ctx: StageContext) -> StageResult[Transformed]:
    """Run the chosen transformation agents of every applicable skill on one seed."""
    jobs = []
    for skill in skills:
        if seed.skills and skill.name not in seed.skills:
            continue
        if not skill.applies_to(seed):
            continue
        for agent in skill.pick_transform_agents(seed):
            jobs.append(_run_agent(seed, skill, agent, ctx))
    result: StageResult[Transformed] = StageResult()
    for part in await asyncio.gather(*jobs):
        result.extend(part)
    return result


async def _run_agent(seed: Seed, skill: Skill, agent: TransformAgent, ctx: StageContext) -> StageResult[Transformed]:
    lineage = Lineage(
        seed_id=seed.id, source=seed.source, skill=skill.name, split=skill.split, transform_agent=agent.name
    )
    calls = Calls()
    result: StageResult[Transformed] = StageResult()
    try:
        outputs = await agent.run(seed, skill, ctx, calls)
    except Exception as exc:
        result.rejections.append(
            rejection(
                parent_id=seed.id,
                stage=STAGE,
                agent=agent.name,
                lineage=lineage.extended(calls=calls.records),
                exc=exc,
            )
        )
        return result
    version = agent.prompt_version
    lineage = lineage.extended(calls=calls.records)
    lineage.prompt_versions.setdefault(agent.name, version)
    for index, output in enumerate(outputs):
        result.outputs.append(
            Transformed(
                id=derive_id(seed.id, f"{skill.name}/{agent.name}", version, index),
                lineage=lineage,
                content=output.content,
                data=output.data,
            )
        )
    return result
