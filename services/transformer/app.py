"""Transformer service: per seed and skill, transformation agents turn raw text or code into intermediate forms.

Consumes `seeds` (`Seed`), produces `transformed` (`Transformed`). Run it with
`python -m services.transformer` or `faststream run services.transformer.app:create_app --factory`.
"""

from __future__ import annotations

from faststream.asgi import AsgiFastStream

from agentinstruct.stages import transform_seed
from agentinstruct_schemas import Seed, Transformed
from services.common.app import build_app
from services.common.settings import ServiceSettings
from services.common.stage import Outcome, Output, Runtime, StageSpec


async def transform(seed: Seed, runtime: Runtime) -> Outcome:
    result = await transform_seed(seed, runtime.skills, runtime.ctx)
    topic = runtime.settings.transformed_topic
    return Outcome(outputs=[Output(topic, item) for item in result.outputs], rejections=result.rejections)


SPEC: StageSpec[Seed] = StageSpec(
    name="transformer",
    description="Content transformation flow: seeds -> transformed content, one per agent and skill.",
    input_model=Seed,
    input_topic=lambda s: s.seeds_topic,
    output_model=Transformed,
    output_topic=lambda s: s.transformed_topic,
    run=transform,
    key=lambda seed: seed.id,
)


def create_app(settings: ServiceSettings | None = None) -> AsgiFastStream:
    return build_app(SPEC, settings)
