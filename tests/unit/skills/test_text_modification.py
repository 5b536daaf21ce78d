"""Text modification: prompts rendered in full, outputs parsed, stage-level failures, edits, reflection, checks."""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import Any

import pytest

from agentinstruct.checks import text_constraints as tc
from agentinstruct.prompts import load_prompt
from agentinstruct.skills.base import (
    AgentOutputError,
    Calls,
    FlowConfig,
    InstructionType,
    StageContext,
    TeacherAnswer,
    rng_for,
)
from agentinstruct.skills.registry import get_skill
from agentinstruct.skills.text_modification import (
    INSTRUCTION_TYPES,
    LLM_AGENTS,
    REFINEMENT_GOALS,
    SHAPE_GOALS,
    ModificationEdit,
    TextModification,
    WrittenTask,
    clean_answer,
    excerpt_bounds,
    fill_params,
    task_rules,
)
from agentinstruct.stages import (
    MemoryDedup,
    refine_and_answer,
    suggest_instructions,
    transform_seed,
    validate_candidate,
)
from agentinstruct.testing.fake_llm import FakeLLM
from agentinstruct_schemas import (
    Candidate,
    ChatMessage,
    Instruction,
    Lineage,
    Pair,
    Rejection,
    Seed,
    SeedSource,
    Transformed,
)

SKILL = get_skill("text_modification")
assert isinstance(SKILL, TextModification)
TM: TextModification = SKILL

PAPER_TYPES = {
    "paraphrasing",
    "text_simplification",
    "text_expansion",
    "text_translation",
    "text_formatting",
    "sentiment_modification",
    "text_annotation",
    "keyword_replacement",
    "text_removing",
    "text_capitalization",
    "text_styling",
    "content_rewriting",
    "data_normalization",
    "plagiarism_rewording",
    "code_switching",
    "text_obfuscation",
    "textual_entailment",
    "vocabulary_limits",
}
RICH_TEXT = (
    "Dear Ms. Jane Doe,\n\n"
    "The Annual Robotics Summit will take place on March 5, 2024 at the Hilton Hotel in Boston. Doors open at "
    "9:30 am and the last session ends at 5 pm. Yesterday John Smith confirmed that 250 participants have "
    "registered, and the venue is 3 miles from the airport. Participants must submit their abstracts before "
    "03/01/2024. Our organisation will print the programme in colour.\n\n"
    "For questions, contact john.smith@example.com or call +1 (617) 555-0199. Payments go to IBAN "
    "DE89 3704 0044 0532 0130 00. More details are at https://robotics.example.org/summit.\n\n"
    "Kind regards,\nJohn Smith"
)
PLAIN_TEXT = (
    "Rivers carry water from high ground to the sea. Along the way they shape valleys, move sediment and feed "
    "wetlands. Many towns grew beside rivers because the water supported farming, trade and travel. Today "
    "engineers study rivers to manage floods and keep the water clean for people and wildlife. Healthy rivers "
    "need space to spread out, shaded banks and a steady flow through every season of the year."
)
SEED_TEXT = "\r\n".join(
    f"Paragraph {i}: The old harbour of the town changed a lot over the years. Fishing boats left early each "
    f"morning and came back before noon. Traders sold the catch in the square near the church. Visitors "
    f"walked along the pier to watch the ships."
    for i in range(1, 30)
)
MALFORMED = "this is not JSON at all"
TRUNCATED = '{"tasks": [{"instruction": "Convert the entire text to'
JUDGE_OK = {"score": 5, "reason": "the modification is exact"}
CRITIQUE_OK = {"flaws": [], "verdict": "ok"}


# ----
# Helpers
# ----
def lineage(agent: str = "identity", itype: str | None = None, path: list[str] | None = None) -> Lineage:
    return Lineage(
        seed_id="seed-1",
        source=SeedSource(uri="doc.txt"),
        skill=TM.name,
        split=TM.split,
        transform_agent=agent,
        instruction_type=itype,
        refinement_path=path or [],
    )


def transformed(content: str = RICH_TEXT, agent: str = "identity", ident: str = "tr-1") -> Transformed:
    return Transformed(id=ident, lineage=lineage(agent), content=content)


class ForcedType(TextModification):
    """The skill with the instruction type fixed, to exercise each type's agent through the stage."""

    def __init__(self, type_name: str, overrides: dict[str, str] | None = None) -> None:
        self.type_name = type_name
        self.overrides = overrides or {}

    def pick_instruction_types(
        self, item: Transformed, config: FlowConfig
    ) -> list[tuple[InstructionType, dict[str, str]]]:
        itype = self.instruction_type(self.type_name)
        params = fill_params(itype, rng_for(item.id), item.content)
        assert params is not None, f"{self.type_name} does not fit the test content"
        return [(itype, {**params, **self.overrides})]


def params_for(type_name: str, content: str = RICH_TEXT, **overrides: str) -> dict[str, str]:
    params = fill_params(TM.instruction_type(type_name), random.Random(7), content)
    assert params is not None
    return {**params, **overrides}


def instruction_for(
    type_name: str,
    content: str = RICH_TEXT,
    *,
    text: str = "",
    ident: str = "inst-1",
    reference: str = "",
    replacements: list[str] | None = None,
    **overrides: str,
) -> Instruction:
    itype = TM.instruction_type(type_name)
    params = params_for(type_name, content, **overrides)
    task = WrittenTask(
        instruction=text or task_rules(type_name, params).requirement,
        reference_sentence=reference,
        replacements=replacements or [],
    )
    draft = TM.build_task(transformed(content), itype, params, task)
    assert draft is not None
    return Instruction(
        id=ident,
        parent_id="tr-1",
        lineage=lineage(itype=type_name),
        context=draft.context,
        instruction=draft.instruction,
        answer_key=draft.answer_key,
        data=draft.data,
    )


def candidate(instruction: Instruction, answer: str) -> Candidate:
    return Candidate(
        id=f"cand-{instruction.id}",
        instruction=instruction,
        messages=[
            ChatMessage(role="system", content=""),
            ChatMessage(role="user", content=TM.user_message(instruction)),
            ChatMessage(role="assistant", content=answer),
        ],
    )


def assert_rendered(messages: list[dict[str, str]]) -> str:
    assert messages[0]["role"] == "system"
    assert messages[-1]["role"] == "user"
    text = "\n".join(m["content"] for m in messages)
    assert "{{" not in text and "{%" not in text
    return messages[-1]["content"]


def seed_for_agent(name: str, text: str = SEED_TEXT) -> Seed:
    for index in range(500):
        seed = Seed(id=f"seed-{index}", text=text, source=SeedSource(uri="doc.txt"))
        if TM.pick_transform_agents(seed)[0].name == name:
            return seed
    raise AssertionError(f"no seed id picks {name}")


def realistic_transform(name: str) -> dict[str, str]:
    texts = {
        "event_notice": RICH_TEXT,
        "email": RICH_TEXT,
        "product_description": (
            "The Atlas 400 field kit by Brightline Instruments weighs 7 pounds and measures 18 inches across. "
        )
        * 4,
        "structured_data": "Day 1 (March 5, 2024): the crew left at 9:30 am and covered 6 miles. " * 5,
        "personal_data": RICH_TEXT,
    }
    return {"title": name.replace("_", " ").title(), "text": texts[name]}


async def run_validate(instruction: Instruction, answer: str) -> Pair | Rejection:
    ctx = StageContext(llm=FakeLLM(replies={"common/judge": JUDGE_OK}))
    return await validate_candidate(candidate(instruction, answer), TM, ctx, MemoryDedup())


# ----
# Spec
# ----
def test_describe_lists_agents_types_goals_and_checks() -> None:
    described = get_skill("text_modification").describe()
    assert described["name"] == described["split"] == "text_modification"
    assert described["transformation_agents"] == [
        "identity",
        "event_notice",
        "email",
        "product_description",
        "structured_data",
        "personal_data",
    ]
    assert set(described["subcategories"]) == PAPER_TYPES
    assert len(described["subcategories"]) == 18
    assert described["refinement_goals"] == [g.name for g in REFINEMENT_GOALS]
    assert {"case", "redaction", "json", "dates_iso", "keywords", "styling", "span"} <= set(described["checks"])
    assert set(described["agent_descriptions"]) == set(described["transformation_agents"])


def test_every_type_has_a_brief_slots_an_example_and_checkable_rules() -> None:
    for itype in INSTRUCTION_TYPES:
        assert itype.description and itype.example and itype.params
        params = params_for(itype.name)
        rules = task_rules(itype.name, params)
        assert rules.requirement
        assert rules.constraints[0]["check"] == "differs"
        for constraint in rules.constraints:
            assert constraint["check"] in tc.CONSTRAINT_KINDS
            assert tc.describe(constraint)


def test_goals_cover_the_method_doc_suggestions() -> None:
    names = {g.name for g in REFINEMENT_GOALS}
    assert names == {
        "narrative",
        "poem",
        "social_post",
        "combine",
        "span",
        "keep_entities",
        "word_window",
        "json_output",
        "audience",
    }
    assert names >= SHAPE_GOALS


# ----
# Transformation
# ----
def test_mostly_identity_all_agents_used_and_deterministic() -> None:
    picks = Counter()
    for index in range(400):
        seed = Seed(id=f"seed-{index}", text=SEED_TEXT, source=SeedSource(uri="doc.txt"))
        first = [a.name for a in TM.pick_transform_agents(seed)]
        assert first == [a.name for a in TM.pick_transform_agents(seed)]
        assert len(first) == 1
        picks[first[0]] += 1
    assert set(picks) == {a.name for a in TM.transform_agents}
    assert 0.5 < picks["identity"] / 400 < 0.7


def test_excerpt_is_80_to_400_words_cut_at_sentences_and_seeded() -> None:
    spans = set()
    for index in range(20):
        start, end = excerpt_bounds(SEED_TEXT, f"seed-{index}")
        piece = SEED_TEXT[start:end]
        assert 80 <= len(piece.split()) <= 400
        assert piece.strip()[0].isupper()
        assert piece.rstrip().endswith(".")
        assert (start, end) == excerpt_bounds(SEED_TEXT, f"seed-{index}")
        spans.add((start, end))
    assert len(spans) > 5, "different seeds cut different excerpts"


def test_short_seed_is_used_whole() -> None:
    assert excerpt_bounds(PLAIN_TEXT, "any") == (0, len(PLAIN_TEXT))


async def test_identity_agent_keeps_raw_artefacts_and_makes_no_call() -> None:
    llm = FakeLLM()
    seed = seed_for_agent("identity")
    result = await transform_seed(seed, [TM], StageContext(llm=llm))
    assert not result.rejections
    (item,) = result.outputs
    assert item.lineage.transform_agent == "identity"
    assert item.content in SEED_TEXT
    assert "\r\n" in item.content
    assert 80 <= item.data["words"] <= 400
    assert llm.calls == []


async def test_identity_rejects_a_seed_that_is_too_short() -> None:
    seed = seed_for_agent("identity", text="Too short to edit. Only nine words here.")
    result = await transform_seed(seed, [TM], StageContext(llm=FakeLLM()))
    assert not result.outputs
    assert [r.reason for r in result.rejections] == ["agent.unusable_output"]
    assert "fewer than 30" in result.rejections[0].detail


@pytest.mark.parametrize("agent", LLM_AGENTS, ids=lambda a: a.name)
def test_transform_prompt_renders_in_full(agent: Any) -> None:
    messages = load_prompt(agent.prompt).render(seed=PLAIN_TEXT, agent=agent, skill=TM)
    user = assert_rendered(messages)
    assert PLAIN_TEXT in user
    assert '"title"' in user and '"text"' in user
    assert "120 to 300 words" in user
    keywords = {
        "event_notice": "deadline",
        "email": "signature",
        "product_description": "specifications",
        "structured_data": "am and pm",
        "personal_data": "IBAN",
    }
    assert keywords[agent.name] in user


@pytest.mark.parametrize("agent", LLM_AGENTS, ids=lambda a: a.name)
async def test_transform_stage_parses_a_realistic_text(agent: Any) -> None:
    reply = realistic_transform(agent.name)
    llm = FakeLLM(replies={agent.prompt: reply})
    result = await transform_seed(seed_for_agent(agent.name), [TM], StageContext(llm=llm))
    assert not result.rejections
    (item,) = result.outputs
    assert item.content == reply["text"].strip()
    assert item.data["title"] == reply["title"]
    assert item.lineage.transform_agent == agent.name
    assert item.lineage.prompt_versions[agent.name] == f"{agent.prompt}@1"
    assert llm.prompts_called() == [agent.prompt]


@pytest.mark.parametrize("agent", LLM_AGENTS, ids=lambda a: a.name)
@pytest.mark.parametrize("raw", [MALFORMED, '{"title": "Notice", "text": "The Annual Robotics Summit will'])
async def test_transform_bad_json_becomes_a_schema_rejection(agent: Any, raw: str) -> None:
    llm = FakeLLM(replies={agent.prompt: raw})
    result = await transform_seed(seed_for_agent(agent.name), [TM], StageContext(llm=llm))
    assert not result.outputs
    assert [r.reason for r in result.rejections] == ["llm.schema_invalid"]


async def test_transform_too_short_is_unusable() -> None:
    agent = LLM_AGENTS[0]
    llm = FakeLLM(replies={agent.prompt: {"title": "t", "text": "Too short."}})
    result = await transform_seed(seed_for_agent(agent.name), [TM], StageContext(llm=llm))
    assert [r.reason for r in result.rejections] == ["agent.unusable_output"]


# ----
# Seed instruction generation
# ----
def test_one_type_per_content_deterministic_and_fitted_to_the_content() -> None:
    config = FlowConfig()
    seen = Counter()
    for index in range(300):
        item = transformed(PLAIN_TEXT, ident=f"tr-{index}")
        picked = TM.pick_instruction_types(item, config)
        assert len(picked) == 1
        assert picked == TM.pick_instruction_types(item, config)
        seen[picked[0][0].name] += 1
    assert not {"text_removing", "data_normalization", "text_obfuscation"} & set(seen), "no data to remove"
    assert len(seen) >= 12
    rich = Counter(TM.pick_instruction_types(transformed(ident=f"r-{i}"), config)[0][0].name for i in range(300))
    assert set(rich) == PAPER_TYPES, "rich content reaches all 18 types"


def test_transform_agent_steers_the_type() -> None:
    config = FlowConfig()
    picks = Counter(
        TM.pick_instruction_types(transformed(agent="personal_data", ident=f"p-{i}"), config)[0][0].name
        for i in range(200)
    )
    assert picks["text_removing"] + picks["text_obfuscation"] > 120


def test_fill_params_uses_the_content() -> None:
    assert fill_params(TM.instruction_type("text_removing"), random.Random(1), PLAIN_TEXT) is None
    assert fill_params(TM.instruction_type("data_normalization"), random.Random(1), PLAIN_TEXT) is None
    removal = params_for("text_removing", entity_class="names")
    rules = task_rules("text_removing", {**removal, "names": "Jane Doe; John Smith"})
    assert "'Jane Doe' and 'John Smith'" in rules.requirement
    words = params_for("keyword_replacement")["words"].split(", ")
    assert 2 <= len(words) <= 3
    assert all(w in RICH_TEXT.lower() for w in words)
    normalization = {
        fill_params(TM.instruction_type("data_normalization"), random.Random(i), RICH_TEXT)["target"]  # type: ignore[index]
        for i in range(40)
    }
    assert normalization == {"iso_dates", "24h_times", "metric_units", "us_spelling"}


def realistic_task(itype: InstructionType, params: dict[str, str]) -> dict[str, Any]:
    requirement = task_rules(itype.name, params).requirement
    task: dict[str, Any] = {"instruction": f"Please edit the text. {requirement}"}
    if itype.name == "textual_entailment":
        task = {
            "instruction": 'Rewrite the text so that it entails: "The summit is held in Boston."',
            "reference_sentence": "The summit is held in Boston.",
        }
    if itype.name == "keyword_replacement":
        task["replacements"] = [f"new{i}" for i, _w in enumerate(params["words"].split(", "))]
    return {"tasks": [task]}


@pytest.mark.parametrize("itype", INSTRUCTION_TYPES, ids=lambda t: t.name)
async def test_each_type_prompt_renders_and_parses(itype: InstructionType) -> None:
    skill = ForcedType(itype.name)
    item = transformed()
    ((chosen, params),) = skill.pick_instruction_types(item, FlowConfig())
    messages = skill.render_suggest(item, chosen, params, 2)
    user = assert_rendered(messages)
    rules = task_rules(itype.name, params)
    assert f"Task type: {itype.name}" in user
    assert itype.description in user
    assert f"Requirement the instruction must state: {rules.requirement}" in user
    assert itype.example in user
    for key, value in params.items():
        assert f"- {key}: {value}" in user
    assert RICH_TEXT in user
    assert ("reference_sentence" in user) == (itype.name == "textual_entailment")
    assert ("replacements" in user) == (itype.name == "keyword_replacement")

    llm = FakeLLM(replies={"text_modification/suggest": realistic_task(itype, params)})
    result = await suggest_instructions(item, skill, StageContext(llm=llm))
    assert not result.rejections
    (instruction,) = result.outputs
    assert instruction.lineage.instruction_type == itype.name
    assert instruction.context == RICH_TEXT
    assert instruction.data["task_type"] == itype.name
    constraints = instruction.data["constraints"]
    assert constraints and all(c["check"] in tc.CONSTRAINT_KINDS for c in constraints)
    assert TM.user_message(instruction) == f"{instruction.instruction}\n\nText:\n{RICH_TEXT}"
    assert llm.calls[0].schema == "WrittenTasks"


async def test_instruction_missing_its_parameter_gets_the_requirement_appended() -> None:
    skill = ForcedType("text_translation", {"target_language": "German"})
    tasks = [{"instruction": "Please translate this whole text."}, {"instruction": "*German*,"}]
    llm = FakeLLM(replies={"text_modification/suggest": {"tasks": tasks}})
    result = await suggest_instructions(transformed(), skill, StageContext(llm=llm))
    first, second = result.outputs
    assert first.instruction == "Please translate this whole text. Translate the text into German."
    assert second.instruction == "Translate the text into German.", "a fragment is replaced by the requirement"
    instruction = first
    assert {"check": "language", "language": "German", "scope": "task", "shape": False} in instruction.data[
        "constraints"
    ]


async def test_instruction_that_copies_the_text_is_trimmed_or_replaced() -> None:
    skill = ForcedType("text_capitalization", {"target": "upper"})
    copied = {"instruction": "Convert the entire text to uppercase.\n\nText:\n" + RICH_TEXT}
    rambling = {"instruction": " ".join(["word"] * 200)}
    llm = FakeLLM(replies={"text_modification/suggest": {"tasks": [copied, rambling]}})
    result = await suggest_instructions(transformed(), skill, StageContext(llm=llm))
    assert [i.instruction for i in result.outputs] == ["Convert the entire text to uppercase."]


async def test_entailment_without_a_statement_is_unusable() -> None:
    skill = ForcedType("textual_entailment")
    llm = FakeLLM(replies={"text_modification/suggest": {"tasks": [{"instruction": "Rewrite it to entail."}]}})
    result = await suggest_instructions(transformed(), skill, StageContext(llm=llm))
    assert not result.outputs
    assert [r.reason for r in result.rejections] == ["agent.unusable_output"]


def test_keyword_replacements_are_kept_only_when_coherent() -> None:
    good = instruction_for("keyword_replacement", words="participants, venue", replacements=["attendees", "site"])
    keywords = next(c for c in good.data["constraints"] if c["check"] == "keywords")
    assert keywords["replacements"] == ["attendees", "site"]
    assert "'participants' with 'attendees'" in good.instruction
    bad = instruction_for("keyword_replacement", words="participants, venue", replacements=["participants", "x"])
    assert next(c for c in bad.data["constraints"] if c["check"] == "keywords")["replacements"] == []


@pytest.mark.parametrize("raw", [MALFORMED, TRUNCATED])
async def test_suggest_bad_json_becomes_a_schema_rejection(raw: str) -> None:
    llm = FakeLLM(replies={"text_modification/suggest": raw})
    result = await suggest_instructions(transformed(), ForcedType("text_capitalization"), StageContext(llm=llm))
    assert not result.outputs
    assert [r.reason for r in result.rejections] == ["llm.schema_invalid"]
    assert result.rejections[0].subcategory == "text_capitalization"


# ----
# Teacher
# ----
def test_user_message_follows_the_released_rows() -> None:
    instruction = instruction_for("text_capitalization", target="upper")
    assert TM.user_message(instruction) == f"Convert the entire text to uppercase.\n\nText:\n{RICH_TEXT}"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Here is the modified text:\n\nHELLO.", "HELLO."),
        ("```\nHELLO.\n```", "HELLO."),
        ('```json\n{"a": 1}\n```', '{"a": 1}'),
        ('"""HELLO."""', "HELLO."),
        ("Modified text:\nHELLO.", "HELLO."),
        ("HELLO.\nHere is more.", "HELLO.\nHere is more."),
    ],
)
def test_render_answer_returns_the_text_only(raw: str, expected: str) -> None:
    assert clean_answer(raw) == expected
    instruction = instruction_for("text_capitalization")
    assert TM.render_answer(instruction, TeacherAnswer(reasoning="r", answer=raw)) == expected


def test_teacher_prompt_renders_in_full_with_the_constraints() -> None:
    instruction = instruction_for("text_removing", entity_class="emails", mode="typed")
    checks = TM.skill_checks_brief(instruction)
    assert any("email addresses" in c for c in checks)
    assert any("[EMAIL]" in c for c in checks)
    messages = load_prompt(TM.teacher_prompt).render(
        skill=TM, instruction=instruction, user_message=TM.user_message(instruction), checks=checks
    )
    user = assert_rendered(messages)
    assert user.startswith(instruction.instruction + "\n\nText:\n" + RICH_TEXT)
    for check in checks:
        assert f"- {check}" in user
    assert "modified text only" in messages[0]["content"]


@pytest.mark.parametrize("name", ["critique", "revise"])
def test_review_prompts_render_in_full(name: str) -> None:
    instruction = instruction_for("text_capitalization", target="lower")
    answer = TeacherAnswer(reasoning="r", answer="the modified text")
    messages = load_prompt(f"text_modification/{name}").render(
        skill=TM,
        user_message=TM.user_message(instruction),
        answer=answer,
        checks=TM.skill_checks_brief(instruction),
        flaws=["case: 3 word(s) not in lower case"],
    )
    user = assert_rendered(messages)
    assert RICH_TEXT in user
    assert "the modified text" in user
    assert "Every letter is lower case." in user
    if name == "revise":
        assert "- case: 3 word(s) not in lower case" in user


async def test_reflection_revises_against_failed_checks_without_a_critique() -> None:
    instruction = instruction_for("text_capitalization", target="upper")
    llm = FakeLLM(
        replies={
            "text_modification/teacher": {"reasoning": "r", "answer": RICH_TEXT},
            "text_modification/revise": {"reasoning": "fixed", "answer": RICH_TEXT.upper()},
        }
    )
    calls = Calls()
    output = await TM.answer(instruction, StageContext(llm=llm), calls)
    assert llm.prompts_called() == ["text_modification/teacher", "text_modification/revise"]
    revise_prompt = llm.calls[1].messages[-1]["content"]
    assert "- case:" in revise_prompt and "not in upper case" in revise_prompt
    assert output.turns == [{"role": "assistant", "content": RICH_TEXT.upper()}]
    assert output.data["reflection"][0]["source"] == "checks"
    assert len(calls.records) == 2


async def test_reflection_asks_the_critic_when_the_checks_pass() -> None:
    instruction = instruction_for("text_capitalization", target="upper")
    llm = FakeLLM(
        replies={
            "text_modification/teacher": {"reasoning": "r", "answer": RICH_TEXT.upper()},
            "text_modification/critique": CRITIQUE_OK,
        }
    )
    output = await TM.answer(instruction, StageContext(llm=llm), Calls())
    assert llm.prompts_called() == ["text_modification/teacher", "text_modification/critique"]
    assert output.turns[0]["content"] == RICH_TEXT.upper()
    assert output.data["reflection"] == [{"flaws": [], "revised": False, "source": "critique"}]


# ----
# Refinement
# ----
def test_refine_prompts_render_in_full() -> None:
    instruction = instruction_for("text_capitalization", target="upper")
    suggest_messages = load_prompt(TM.refine_suggest_prompt).render(
        skill=TM, item=instruction, user_message=TM.user_message(instruction), count=2
    )
    user = assert_rendered(suggest_messages)
    for goal in REFINEMENT_GOALS:
        assert f"- {goal.name}: {goal.description}" in user
    assert TM.user_message(instruction) in user
    assert "Propose 2 suggestion(s)" in user

    for goal in REFINEMENT_GOALS:
        edit_user = assert_rendered(TM.render_edit(instruction, goal.name, f"apply {goal.name}"))
        assert f"Refinement goal: {goal.name} ({goal.description})" in edit_user
        assert f"Suggestion to apply: apply {goal.name}" in edit_user
        assert f"Current instruction: {instruction.instruction}" in edit_user
        assert "- Every letter is upper case." in edit_user
        assert RICH_TEXT in edit_user
        assert "How to apply it:" in edit_user
    combine = assert_rendered(TM.render_edit(instruction, "combine", "add another change"))
    combo = TM.combination_for(instruction)
    assert combo is not None
    assert task_rules(combo[0].name, combo[1]).requirement in combine


def edit(item: Instruction, goal: str, **fields: Any) -> Instruction:
    fields.setdefault("instruction", item.instruction + " Make it harder.")
    draft = TM.apply_edit(item, ModificationEdit(**fields), goal)
    return item.model_copy(
        update={
            "id": f"{item.id}/{goal}",
            "instruction": draft.instruction,
            "data": draft.data,
            "lineage": lineage(itype=item.data["task_type"], path=[goal]),
        }
    )


def checks_of(instruction: Instruction) -> list[str]:
    return [c["check"] for c in instruction.data["constraints"]]


def test_word_window_edit_adds_a_checked_window_and_states_it() -> None:
    base = instruction_for("text_simplification")
    refined = edit(base, "word_window", min_words=30, max_words=60)
    window = [c for c in refined.data["constraints"] if c["check"] == "word_count" and c["scope"] == "all"]
    assert window == [{"check": "word_count", "scope": "all", "shape": False, "max_words": 60, "min_words": 30}]
    assert "between 30 and 60 words" in refined.instruction
    assert refined.data["refinement_goals"] == ["word_window"]
    source_words = tc.word_count(RICH_TEXT)
    defaulted = edit(base, "word_window")
    (default_window,) = [c for c in defaulted.data["constraints"] if c.get("max_words")]
    assert default_window["max_words"] <= source_words, "the window stays inside the simplification bound"
    with pytest.raises(AgentOutputError, match="word_window"):
        edit(instruction_for("text_expansion", min_ratio="2"), "word_window", min_words=1, max_words=3)
    expansion = edit(instruction_for("text_expansion", min_ratio="2"), "word_window", min_words=1, max_words=5000)
    (grown,) = [c for c in expansion.data["constraints"] if c.get("max_words")]
    assert grown["min_words"] >= 2 * source_words


def test_keep_entities_edit_keeps_only_real_and_allowed_entities() -> None:
    removal = instruction_for("text_removing", entity_class="emails")
    refined = edit(removal, "keep_entities", keep_entities=["Jane Doe", "john.smith@example.com", "Atlantis", "250"])
    (kept,) = [c for c in refined.data["constraints"] if c["check"] == "entities_kept"]
    assert kept["entities"] == ["Jane Doe", "250"]
    assert '"Jane Doe", "250"' in refined.instruction
    translated = edit(instruction_for("text_translation"), "keep_entities", keep_entities=["March 5, 2024", "Boston"])
    assert [c["entities"] for c in translated.data["constraints"] if "entities" in c] == [["Boston"]]
    defaulted = edit(instruction_for("paraphrasing"), "keep_entities")
    (default_kept,) = [c for c in defaulted.data["constraints"] if c["check"] == "entities_kept" and "entities" in c]
    assert default_kept["entities"] and all(e.lower() in RICH_TEXT.lower() for e in default_kept["entities"])


def test_json_edit_requires_named_fields_and_drops_layout_constraints() -> None:
    base = instruction_for("text_formatting", layout="bullets")
    refined = edit(base, "json_output", json_fields=["modified text", "notes!", ""])
    assert {"check": "json", "fields": ["modified_text", "notes"], "scope": "all", "shape": False} in refined.data[
        "constraints"
    ]
    assert "structure" not in checks_of(refined)
    assert "JSON object" in refined.instruction
    assert not TM.accept_suggestion(refined, "json_output", 0)


def test_span_edit_uses_an_exact_passage_or_falls_back_to_a_sentence() -> None:
    base = instruction_for("text_capitalization", target="upper")
    span = "Doors open at 9:30 am and the last session ends at 5 pm."
    refined = edit(base, "span", span=span)
    assert {"check": "span", "span": span, "scope": "all", "shape": False} in refined.data["constraints"]
    assert span in refined.instruction
    fallback = edit(base, "span", span="a passage that is not in the text at all")
    (chosen,) = [c["span"] for c in fallback.data["constraints"] if c["check"] == "span"]
    assert tc.locate_span(RICH_TEXT, chosen) is not None
    assert chosen == edit(base, "span", span="nope").data["constraints"][-1]["span"], "deterministic"


def test_span_is_refused_where_it_cannot_be_checked() -> None:
    assert TM.accept_suggestion(instruction_for("text_capitalization"), "span", 0)
    assert not TM.accept_suggestion(instruction_for("text_formatting"), "span", 0)
    poem = edit(instruction_for("text_capitalization"), "poem")
    assert not TM.accept_suggestion(poem, "span", 0)
    spanned = edit(instruction_for("text_capitalization"), "span", span="Doors open at 9:30 am and the last")
    assert not TM.accept_suggestion(spanned, "poem", 0)


def test_shape_goals_drop_shape_constraints_and_add_their_own() -> None:
    base = instruction_for("paraphrasing")
    assert "ngram_overlap" in checks_of(base)
    poem = edit(base, "poem", instruction="Paraphrase the text.")
    assert "ngram_overlap" not in checks_of(poem) and "word_count" not in checks_of(poem)
    assert "entities_kept" in checks_of(poem), "facts are kept in any form"
    assert "line_count" in checks_of(poem)
    assert poem.instruction.endswith("Write it as a rhyming poem of at least four lines.")
    post = edit(base, "social_post", max_words=80)
    hashtags = next(c for c in post.data["constraints"] if c["check"] == "pattern")
    assert hashtags["pattern"] == r"#\w+"
    assert any(c.get("max_words") == 80 for c in post.data["constraints"])


def test_combine_edit_adds_a_second_type_deterministically() -> None:
    base = instruction_for("paraphrasing")
    refined = edit(base, "combine")
    combo = TM.combination_for(base)
    assert combo is not None
    second, params = combo
    assert refined.data["combined_with"] == {"task_type": second.name, "params": params}
    second_checks = [c["check"] for c in task_rules(second.name, params).constraints if c["check"] != "differs"]
    assert set(second_checks) <= set(checks_of(refined))
    assert combo == TM.combination_for(base)
    removal = instruction_for("text_removing", entity_class="emails")
    for index in range(40):
        item = removal.model_copy(update={"id": f"rm-{index}"})
        pick = TM.combination_for(item)
        assert pick is not None
        if pick[0].name in ("text_translation", "text_simplification"):
            combined = TM.apply_edit(item, ModificationEdit(instruction="Remove emails, then more."), "combine")
            assert "source_kept" not in [c["check"] for c in combined.data["constraints"]]
            break
    else:
        raise AssertionError("no rewording combination drawn")
    translation = instruction_for("keyword_replacement")
    for index in range(30):
        pick = TM.combination_for(translation.model_copy(update={"id": f"kw-{index}"}))
        assert pick is not None and pick[0].name != "text_translation"


def test_edits_that_drop_the_original_requirement_get_it_back() -> None:
    base = instruction_for("text_styling", style="italic", target="key_terms")
    refined = edit(base, "narrative", instruction="Tell the library news as a short story for children.")
    requirement = task_rules("text_styling", base.data["params"]).requirement
    assert refined.instruction == f"Tell the library news as a short story for children. {requirement}"
    kept = edit(base, "narrative", instruction="Tell it as a short story and put three key terms in italic.")
    assert kept.instruction == "Tell it as a short story and put three key terms in italic."
    combined = edit(base, "combine")
    second = combined.data["combined_with"]
    again = edit(combined, "audience", instruction="Put three key terms in italic for a young audience.")
    assert again.instruction.endswith(task_rules(second["task_type"], second["params"]).requirement)


def test_editor_must_change_the_instruction() -> None:
    base = instruction_for("text_capitalization")
    with pytest.raises(AgentOutputError, match="did not change"):
        TM.apply_edit(base, ModificationEdit(instruction=base.instruction), "audience")


def refine_llm(**overrides: Any) -> FakeLLM:
    replies: dict[str, Any] = {
        "text_modification/refine_suggest": {
            "suggestions": [
                {"goal": "word_window", "suggestion": "limit the length"},
                {"goal": "keep_entities", "suggestion": "keep the names"},
            ]
        },
        "text_modification/refine_edit": [
            {
                "instruction": "Convert the entire text to uppercase in 40 to 400 words.",
                "min_words": 40,
                "max_words": 400,
            },
            {"instruction": "Convert the entire text to uppercase, keeping Jane Doe.", "keep_entities": ["Jane Doe"]},
        ],
        "text_modification/teacher": {"reasoning": "r", "answer": RICH_TEXT.upper()},
        "text_modification/critique": CRITIQUE_OK,
    }
    replies.update(overrides)
    return FakeLLM(replies=replies)


async def test_refine_and_answer_keeps_seed_and_structured_edits() -> None:
    instruction = instruction_for("text_capitalization", target="upper")
    llm = refine_llm()
    result = await refine_and_answer(instruction, TM, StageContext(llm=llm))
    assert not result.rejections
    paths = sorted(tuple(c.lineage.refinement_path) for c in result.outputs)
    assert paths == [(), ("keep_entities",), ("word_window",)]
    for cand in result.outputs:
        assert [m.role for m in cand.messages] == ["system", "user", "assistant"]
        assert cand.messages[1].content.endswith("\n\nText:\n" + RICH_TEXT)
        assert cand.messages[2].content == RICH_TEXT.upper()
        pair = await validate_candidate(
            cand, TM, StageContext(llm=FakeLLM(replies={"common/judge": JUDGE_OK})), MemoryDedup()
        )
        assert isinstance(pair, Pair), pair
    edit_calls = [c for c in llm.calls if c.prompt.startswith("text_modification/refine_edit")]
    assert {c.schema for c in edit_calls} == {"ModificationEdit"}


@pytest.mark.parametrize("raw", [MALFORMED, '{"instruction": "Convert the entire text to upper'])
async def test_editor_bad_json_is_a_schema_rejection_and_seed_is_kept(raw: str) -> None:
    instruction = instruction_for("text_capitalization", target="upper")
    llm = refine_llm(**{"text_modification/refine_edit": raw})
    result = await refine_and_answer(instruction, TM, StageContext(llm=llm))
    assert [tuple(c.lineage.refinement_path) for c in result.outputs] == [()]
    assert [r.reason for r in result.rejections] == ["llm.schema_invalid", "llm.schema_invalid"]
    assert all(r.stage == "refine" for r in result.rejections)


@pytest.mark.parametrize(
    "prompt", ["text_modification/refine_suggest", "text_modification/teacher", "text_modification/critique"]
)
@pytest.mark.parametrize("raw", [MALFORMED, '{"reasoning": "r", "answer": "THE ANNUAL'])
async def test_suggester_teacher_and_critic_bad_json_are_schema_rejections(prompt: str, raw: str) -> None:
    instruction = instruction_for("text_capitalization", target="upper")
    llm = refine_llm(**{prompt: raw})
    result = await refine_and_answer(instruction, TM, StageContext(llm=llm, config=FlowConfig(refine_rounds=1)))
    reasons = [r.reason for r in result.rejections]
    assert reasons and set(reasons) == {"llm.schema_invalid"}
    assert all(r.detail for r in result.rejections)


async def test_reviser_bad_json_is_a_schema_rejection() -> None:
    instruction = instruction_for("text_capitalization", target="upper")
    llm = refine_llm(
        **{
            "text_modification/teacher": {"reasoning": "r", "answer": RICH_TEXT},
            "text_modification/revise": TRUNCATED,
        }
    )
    result = await refine_and_answer(instruction, TM, StageContext(llm=llm, config=FlowConfig(refine_rounds=0)))
    assert not result.outputs
    assert [r.reason for r in result.rejections] == ["llm.schema_invalid"]


# ----
# Checks through the validation stage
# ----
async def test_capitalization_checks_accept_the_exact_edit_and_reject_others() -> None:
    upper = instruction_for("text_capitalization", target="upper")
    assert isinstance(await run_validate(upper, RICH_TEXT.upper()), Pair)
    rejected = await run_validate(upper, RICH_TEXT.replace("Boston", "BOSTON"))
    assert isinstance(rejected, Rejection)
    assert rejected.reason == "skill.case"
    assert rejected.stage == "validate"
    rewritten = await run_validate(upper, "THE SUMMIT IS IN BOSTON.")
    assert isinstance(rewritten, Rejection) and rewritten.reason == "skill.source_kept"
    starts = instruction_for("text_capitalization", target="start_word", start="Notably")
    answer = "Notably, the summit is in Boston. Notably it starts at 9:30 am."
    assert isinstance(await run_validate(starts, answer), Pair)
    bad = await run_validate(starts, "Notably, the summit is in Boston. It starts at 9:30 am.")
    assert isinstance(bad, Rejection) and bad.reason == "skill.starts_with"


async def test_unchanged_output_is_rejected() -> None:
    result = await run_validate(instruction_for("sentiment_modification"), RICH_TEXT)
    assert isinstance(result, Rejection)
    assert result.reason == "skill.differs"


async def test_redaction_checks() -> None:
    emails = instruction_for("text_removing", entity_class="emails", mode="typed")
    good = RICH_TEXT.replace("john.smith@example.com", "[EMAIL]")
    assert isinstance(await run_validate(emails, good), Pair)
    leaked = await run_validate(emails, RICH_TEXT.replace("Boston", "[EMAIL] Boston"))
    assert isinstance(leaked, Rejection) and leaked.reason == "skill.redaction"
    assert "john.smith@example.com" in leaked.detail
    no_token = await run_validate(emails, RICH_TEXT.replace("john.smith@example.com", ""))
    assert isinstance(no_token, Rejection) and no_token.reason == "skill.markers"


async def test_keyword_date_and_styling_checks() -> None:
    keywords = instruction_for("keyword_replacement", words="participants, venue", replacements=["attendees", "site"])
    replaced = RICH_TEXT.replace("participants", "attendees").replace("Participants", "Attendees")
    assert isinstance(await run_validate(keywords, replaced.replace("venue", "site")), Pair)
    partial = await run_validate(keywords, replaced)
    assert isinstance(partial, Rejection) and partial.reason == "skill.keywords"

    dates = instruction_for("data_normalization", target="iso_dates")
    iso = RICH_TEXT.replace("March 5, 2024", "2024-03-05").replace("03/01/2024", "2024-03-01")
    assert isinstance(await run_validate(dates, iso), Pair)
    half = await run_validate(dates, RICH_TEXT.replace("March 5, 2024", "2024-03-05"))
    assert isinstance(half, Rejection) and half.reason == "skill.dates"

    bold = instruction_for("text_styling", style="bold", target="numbers")
    styled = RICH_TEXT.replace("250 participants", "**250** participants").replace("3 miles", "**3** miles")
    assert isinstance(await run_validate(bold, styled), Pair)
    missing = await run_validate(bold, RICH_TEXT.replace("250 participants", "**250** participants"))
    assert isinstance(missing, Rejection) and missing.reason == "skill.styling"


async def test_goal_constraints_are_checked_from_the_candidate_alone() -> None:
    base = instruction_for("text_capitalization", target="upper")
    as_json = edit(base, "json_output", json_fields=["modified_text"])
    good = json.dumps({"modified_text": RICH_TEXT.upper()})
    # the candidate survives a serialization round trip (what the validator service receives)
    wire = Candidate.model_validate_json(candidate(as_json, good).model_dump_json())
    results = await TM.check(wire, StageContext(llm=FakeLLM()), Calls())
    assert all(r.passed for r in results), [r for r in results if not r.passed]
    assert {"skill.json", "skill.case"} <= {r.name for r in results}
    plain = await run_validate(as_json, RICH_TEXT.upper())
    assert isinstance(plain, Rejection) and plain.reason == "skill.json"

    span = "Doors open at 9:30 am and the last session ends at 5 pm."
    spanned = edit(base, "span", span=span)
    only_span = " ".join(RICH_TEXT.split()).replace(span, span.upper())
    assert isinstance(await run_validate(spanned, only_span), Pair)
    everything = await run_validate(spanned, RICH_TEXT.upper())
    assert isinstance(everything, Rejection) and everything.reason == "skill.span_only"

    window = edit(base, "word_window", min_words=10, max_words=20)
    too_long = await run_validate(window, RICH_TEXT.upper())
    assert isinstance(too_long, Rejection) and too_long.reason == "skill.word_count"

    kept = edit(base, "keep_entities", keep_entities=["Jane Doe"])
    dropped = await run_validate(kept, RICH_TEXT.upper().replace("JANE DOE", "MADAM"))
    assert isinstance(dropped, Rejection) and dropped.reason == "skill.entities_kept"


async def test_checks_brief_lists_every_constraint_in_plain_words() -> None:
    base = instruction_for("text_capitalization", target="upper")
    refined = edit(base, "word_window", min_words=50, max_words=300)
    brief = TM.skill_checks_brief(refined)
    assert brief[0].startswith("Return only the modified text")
    assert "Every letter is upper case." in brief
    assert "Length: at least 50 words, at most 300 words." in brief
    assert any("actually change" in b for b in brief)


# ----
# Mock server: realistic responders
# ----
async def test_mock_server_run_yields_passing_and_visibly_failing_pairs() -> None:
    import agentinstruct.testing.responders  # noqa: F401  (registers the responders)
    from agentinstruct.llm.openai_llm import OpenAILLM
    from agentinstruct.llm.settings import LLMSettings
    from agentinstruct.testing.mock_server import MockConfig, MockServer

    passed = 0
    skill_failures: Counter[str] = Counter()
    async with (
        MockServer(MockConfig()) as server,
        OpenAILLM(LLMSettings(base_url=server.base_url, default_model="mock-model", max_attempts=1)) as llm,
    ):
        ctx = StageContext(llm=llm, config=FlowConfig())
        for index in range(12):
            seed = Seed(id=f"mock-{index}", text=SEED_TEXT if index % 2 else PLAIN_TEXT * 2, source=SeedSource(uri="d"))
            transformed_items = await transform_seed(seed, [TM], ctx)
            for item in transformed_items.outputs:
                instructions = await suggest_instructions(item, TM, ctx)
                assert all(r.reason for r in instructions.rejections)
                for instruction in instructions.outputs:
                    candidates = await refine_and_answer(instruction, TM, ctx)
                    assert all(r.reason for r in candidates.rejections)
                    for cand in candidates.outputs:
                        results = await TM.check(cand, ctx, Calls())
                        failed = [r for r in results if not r.passed]
                        if failed:
                            assert failed[0].name.startswith("skill.") and failed[0].detail
                            skill_failures[failed[0].name] += 1
                        else:
                            passed += 1
    assert passed >= 5
    assert sum(skill_failures.values()) >= 3
