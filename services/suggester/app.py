"""Suggester service: the taxonomy agents of the seed instruction generation flow.

Consumes `transformed` (`Transformed`), produces `instructions` (`Instruction`). Run it with
`python -m services.suggester` or `faststream run services.suggester.app:create_app --factory`.
"""

from __future__ import annotations

from faststream.asgi import AsgiFastStream

from agentinstruct.stages import suggest_instructions
from agentinstruct_schemas import Instruction, Transformed
from services.common.app import build_app
from services.common.settings import ServiceSettings
from services.common.stage import Outcome, Output, Runtime, StageSpec


async def suggest(item: Transformed, runtime: Runtime) -> Outcome:
    result = await suggest_instructions(item, runtime.skill(item.lineage.skill), runtime.ctx)
    topic = runtime.settings.instructions_topic
    return Outcome(outputs=[Output(topic, out) for out in result.outputs], rejections=result.rejections)


SPEC: StageSpec[Transformed] = StageSpec(
    name="suggester",
    description="Seed instruction generation flow: transformed content -> instructions of the skill's taxonomy.",
    input_model=Transformed,
    input_topic=lambda s: s.transformed_topic,
    output_model=Instruction,
    output_topic=lambda s: s.instructions_topic,
    run=suggest,
    key=lambda item: item.lineage.seed_id,
)


def create_app(settings: ServiceSettings | None = None) -> AsgiFastStream:
    return build_app(SPEC, settings)
