"""Validator service: structural and skill checks, LLM judge and exact-duplicate removal; stores accepted pairs.

Consumes `candidates` (`Candidate`); accepted pairs go to MongoDB `pairs`, rejections to the `rejected` topic and
collection with their reasons. Run it with `python -m services.validator` or
`faststream run services.validator.app:create_app --factory`.
"""

from __future__ import annotations

from faststream.asgi import AsgiFastStream

from agentinstruct.stages import validate_candidate
from agentinstruct_schemas import Candidate, Pair
from services.common.app import build_app
from services.common.settings import ServiceSettings
from services.common.stage import Outcome, Runtime, StageSpec


async def validate(candidate: Candidate, runtime: Runtime) -> Outcome:
    skill = runtime.skill(candidate.lineage.skill)
    result = await validate_candidate(candidate, skill, runtime.ctx, runtime.require_store())
    if isinstance(result, Pair):
        return Outcome(pairs=[result])
    return Outcome(rejections=[result])


SPEC: StageSpec[Candidate] = StageSpec(
    name="validator",
    description="Quality gate: candidates -> accepted pairs in MongoDB, rejections with their reasons.",
    input_model=Candidate,
    input_topic=lambda s: s.candidates_topic,
    run=validate,
    key=lambda candidate: candidate.lineage.seed_id,
    stores_results=True,
)


def create_app(settings: ServiceSettings | None = None) -> AsgiFastStream:
    return build_app(SPEC, settings)
