"""Refiner service: the paper's refinement agents (Suggester and Editor) make instructions harder, keeping the
seed instruction too; then the teacher answers every one of them.

Consumes `instructions` (`Instruction`), produces `candidates` (`Candidate`). Run it with
`python -m services.refiner` or `faststream run services.refiner.app:create_app --factory`.
"""

from __future__ import annotations

from faststream.asgi import AsgiFastStream

from agentinstruct.stages import refine_and_answer
from agentinstruct_schemas import Candidate, Instruction
from services.common.app import build_app
from services.common.settings import ServiceSettings
from services.common.stage import Outcome, Output, Runtime, StageSpec


async def refine(item: Instruction, runtime: Runtime) -> Outcome:
    result = await refine_and_answer(item, runtime.skill(item.lineage.skill), runtime.ctx)
    topic = runtime.settings.candidates_topic
    return Outcome(outputs=[Output(topic, out) for out in result.outputs], rejections=result.rejections)


SPEC: StageSpec[Instruction] = StageSpec(
    name="refiner",
    description="Instruction refinement (Suggester -> Editor rounds) and the teacher's response: instructions -> "
    "candidate pairs.",
    input_model=Instruction,
    input_topic=lambda s: s.instructions_topic,
    output_model=Candidate,
    output_topic=lambda s: s.candidates_topic,
    run=refine,
    key=lambda item: item.lineage.seed_id,
)


def create_app(settings: ServiceSettings | None = None) -> AsgiFastStream:
    return build_app(SPEC, settings)
