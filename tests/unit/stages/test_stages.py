from __future__ import annotations

import pytest

from agentinstruct.llm.base import Role
from agentinstruct.skills.base import FlowConfig, StageContext
from agentinstruct.stages import (
    MemoryDedup,
    refine_and_answer,
    suggest_instructions,
    transform_seed,
    validate_candidate,
)
from agentinstruct.testing.fake_llm import FakeLLM
from agentinstruct_schemas import Pair, Rejection, Seed, SeedSource
from tests.helpers.echo_skill import EchoSkill

SEED = Seed(id="seed-1", text="The river is 40 km long. It floods in spring.", source=SeedSource(uri="doc.txt"))


def happy_llm() -> FakeLLM:
    return FakeLLM(
        replies={
            "testing/transform": {"title": "River", "text": "A river of 40 km floods each spring."},
            "common/suggest": {"items": [{"instruction": "How long is the river?", "answer": "40 km"}]},
            "common/refine_suggest": {"suggestions": [{"goal": "harder", "suggestion": "ask in miles"}]},
            "common/refine_edit": {
                "context": "A river of 40 km floods each spring.",
                "instruction": "How long is the river in miles?",
                "answer": "about 25 miles",
            },
            "common/teacher": {"reasoning": "stated", "answer": "The river is 40 km long."},
            "common/critique": {"flaws": [], "verdict": "ok"},
            "common/judge": {"score": 4, "reason": "correct"},
        }
    )


async def test_full_chain_keeps_seed_instruction_and_lineage() -> None:
    llm = happy_llm()
    ctx = StageContext(
        llm=llm, config=FlowConfig(max_instruction_types=1, max_instructions_per_type=1, suggestions_per_round=1)
    )
    skill = EchoSkill()
    transformed = await transform_seed(SEED, [skill], ctx)
    assert not transformed.rejections
    assert {t.lineage.transform_agent for t in transformed.outputs} == {"summary", "identity"}
    identity = next(t for t in transformed.outputs if t.lineage.transform_agent == "identity")
    assert identity.content == SEED.text

    item = transformed.outputs[0]
    instructions = await suggest_instructions(item, skill, ctx)
    assert len(instructions.outputs) == 1
    instruction = instructions.outputs[0]
    assert instruction.lineage.instruction_type in {"literal", "count"}

    candidates = await refine_and_answer(instruction, skill, ctx)
    assert not candidates.rejections
    paths = sorted(tuple(c.lineage.refinement_path) for c in candidates.outputs)
    assert paths == [(), ("harder",)], "the seed instruction is kept beside the refined one"
    for candidate in candidates.outputs:
        assert [m.role for m in candidate.messages] == ["system", "user", "assistant"]
        assert candidate.messages[0].content == ""
        assert candidate.lineage.seed_id == SEED.id

    dedup = MemoryDedup()
    outcomes = [await validate_candidate(c, skill, ctx, dedup) for c in candidates.outputs]
    pairs = [o for o in outcomes if isinstance(o, Pair)]
    # Both candidates have the same teacher answer but different instructions: both are accepted.
    assert len(pairs) == 2
    pair = pairs[0]
    assert pair.split == "echo_split"
    assert pair.judge_score == 4.0
    assert pair.lineage.usage.calls > 0
    assert "common/teacher" in pair.lineage.prompt_versions
    assert pair.lineage.models.get(Role.TEACHER.value) == "fake-model"


async def test_ids_are_deterministic_across_replays() -> None:
    skill = EchoSkill()
    first = await transform_seed(SEED, [skill], StageContext(llm=happy_llm()))
    second = await transform_seed(SEED, [skill], StageContext(llm=happy_llm()))
    assert [t.id for t in first.outputs] == [t.id for t in second.outputs]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [('{"title": "x", "text": "unterminated', "llm.schema_invalid"), ("not json at all", "llm.schema_invalid")],
)
async def test_malformed_agent_output_becomes_rejection(raw: str, reason: str) -> None:
    llm = happy_llm()
    llm.replies["testing/transform"] = raw
    result = await transform_seed(SEED, [EchoSkill()], StageContext(llm=llm))
    assert [r.reason for r in result.rejections] == [reason]
    assert result.rejections[0].item["raw_output"] == raw
    assert len(result.outputs) == 1  # the identity agent still produced its output


async def test_judge_below_threshold_and_duplicates_are_rejected_with_reasons() -> None:
    llm = happy_llm()
    ctx = StageContext(llm=llm, config=FlowConfig(refine_rounds=0, max_instruction_types=1))
    skill = EchoSkill()
    item = (await transform_seed(SEED, [skill], ctx)).outputs[0]
    instruction = (await suggest_instructions(item, skill, ctx)).outputs[0]
    candidate = (await refine_and_answer(instruction, skill, ctx)).outputs[0]

    dedup = MemoryDedup()
    accepted = await validate_candidate(candidate, skill, ctx, dedup)
    assert isinstance(accepted, Pair)
    replay = await validate_candidate(candidate, skill, ctx, dedup)
    assert isinstance(replay, Pair), "a replay of the same pair is not a duplicate of itself"
    twin = candidate.model_copy(update={"id": "other-candidate"})
    duplicate = await validate_candidate(twin, skill, ctx, dedup)
    assert isinstance(duplicate, Rejection) and duplicate.reason == "dedup.exact"

    llm.replies["common/judge"] = {"score": 2, "reason": "misses the unit"}
    low = await validate_candidate(candidate, skill, ctx, MemoryDedup())
    assert isinstance(low, Rejection)
    assert low.reason == "judge"
    assert "misses the unit" in low.detail
    assert any(c.name == "judge" and c.score == 2.0 for c in low.checks)


async def test_structural_failure_skips_the_judge() -> None:
    llm = happy_llm()
    llm.replies["common/teacher"] = {"reasoning": "", "answer": "   "}
    ctx = StageContext(llm=llm, config=FlowConfig(refine_rounds=0, max_instruction_types=1))
    skill = EchoSkill()
    item = (await transform_seed(SEED, [skill], ctx)).outputs[0]
    instruction = (await suggest_instructions(item, skill, ctx)).outputs[0]
    candidate = (await refine_and_answer(instruction, skill, ctx)).outputs[0]
    judged_before = llm.prompts_called().count("common/judge")
    outcome = await validate_candidate(candidate, skill, ctx, MemoryDedup())
    assert isinstance(outcome, Rejection)
    assert outcome.reason == "structure.non_empty"
    assert llm.prompts_called().count("common/judge") == judged_before


async def test_reflection_revises_when_the_critic_finds_a_flaw() -> None:
    llm = happy_llm()
    llm.replies["common/critique"] = {"flaws": ["gives km, not miles"], "verdict": "revise"}
    llm.replies["common/revise"] = {"reasoning": "convert", "answer": "About 25 miles."}
    ctx = StageContext(llm=llm, config=FlowConfig(refine_rounds=0, max_instruction_types=1, reflection_rounds=1))
    skill = EchoSkill()
    item = (await transform_seed(SEED, [skill], ctx)).outputs[0]
    instruction = (await suggest_instructions(item, skill, ctx)).outputs[0]
    candidate = (await refine_and_answer(instruction, skill, ctx)).outputs[0]
    assert candidate.messages[-1].content == "About 25 miles."
    assert candidate.data["reflection"] == [{"flaws": ["gives km, not miles"], "revised": True}]


async def test_template_markup_in_the_source_text_is_content_but_in_the_instruction_a_leak() -> None:
    llm = happy_llm()
    ctx = StageContext(llm=llm, config=FlowConfig(refine_rounds=0, max_instruction_types=1))
    skill = EchoSkill()
    seed = SEED.model_copy(update={"text": "Render {{ name }} with Jinja. " + SEED.text})
    item = next(t for t in (await transform_seed(seed, [skill], ctx)).outputs if "{{" in t.content)
    instruction = (await suggest_instructions(item, skill, ctx)).outputs[0]
    candidate = (await refine_and_answer(instruction, skill, ctx)).outputs[0]
    assert "{{ name }}" in candidate.messages[1].content
    assert isinstance(await validate_candidate(candidate, skill, ctx, MemoryDedup()), Pair)

    leaked = candidate.model_copy(
        update={"instruction": candidate.instruction.model_copy(update={"instruction": "Explain {{ topic }}."})}
    )
    outcome = await validate_candidate(leaked, skill, ctx, MemoryDedup())
    assert isinstance(outcome, Rejection) and outcome.reason == "structure.no_template_leftovers"
