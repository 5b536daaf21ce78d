"""Reading comprehension: prompts rendered in full, outputs parsed, stage-level failures, edits and checks."""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import Any

import pytest

from agentinstruct.llm.base import Role
from agentinstruct.llm.errors import ErrorKind, LLMError
from agentinstruct.prompts import load_prompt
from agentinstruct.skills import get_skill
from agentinstruct.skills.base import Calls, FlowConfig, StageContext, TeacherAnswer
from agentinstruct.skills.rc import (
    FLIP,
    GAP_KINDS,
    HARDER,
    LETTERS,
    PASSAGE_AGENTS,
    QUESTION_SUBSETS,
    RC_TYPES,
    UNANSWERABLE,
    UNANSWERABLE_KEEP_RATE,
    UNANSWERABLE_KEY,
    UNANSWERABLE_TEXT,
    AnswerKind,
    PassageAgent,
    RCEditedItem,
    RCQuestion,
    RCType,
    ReadingComprehension,
    answers_agree,
    clean_options,
    final_answer_line,
    parse_letter,
    says_unanswerable,
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

SKILL = get_skill("rc")
assert isinstance(SKILL, ReadingComprehension)
RC: ReadingComprehension = SKILL

SEED_TEXT = (
    "Uric acid is a chemical compound produced when the body breaks down purines. Most of it dissolves in the "
    "blood and passes through the kidneys. In 2019, a clinic in Leeds measured uric acid in 1,200 patients and "
    "found high levels in 14 percent of them. High levels can cause gout, a painful inflammation of the joints. "
    "Doctors recommend drinking water and limiting red meat to keep the level down."
)
PASSAGE = (
    "Dr. Ana Ruiz argues that limiting red meat lowers uric acid. In 2019, her clinic in Leeds measured 1,200 "
    "patients; those who ate red meat daily had higher levels. Therefore, she concludes, every patient with "
    "gout should stop eating red meat."
)
MALFORMED = "this is not JSON at all"
TRUNCATED = '{"title": "Uric acid", "text": "Uric acid is a compound that the'

SPEAKER_TEXT = "\n".join(
    [
        "Moderator: Tonight we ask whether diet controls uric acid.",
        "Ana Ruiz: My clinic in Leeds measured 1,200 patients in 2019, and red meat raised the level.",
        "Ben Ortiz: Yet 14 percent had high levels regardless of diet, so genes matter more.",
        "Ana Ruiz: Water and less red meat still helped most of my patients.",
        "Ben Ortiz: Correlation is not causation; the study did not control for weight.",
        "Moderator: Thank you both. Closing statements now, please keep them short and precise.",
    ]
)
REALISTIC_TEXTS: dict[str, str] = {
    "argument": (PASSAGE + " ") * 4,
    "debate": SPEAKER_TEXT + "\n" + SPEAKER_TEXT.replace("Tonight", "Again tonight"),
    "conversation": "\n".join(
        [
            "Mia: Did you hear the clinic in Leeds measured uric acid in 1,200 patients?",
            "Leo: In 2019? What did they find?",
            "Mia: About 14 percent had high levels. That can cause gout.",
            "Leo: Gout is the painful joint thing, right? My uncle drinks lots of water for it.",
            "Mia: Exactly, doctors say water and less red meat help keep the level down.",
            "Leo: I'll tell him to cut down on steak then.",
            "Mia: Tell him to get a blood test first; the clinic did theirs in a single afternoon.",
        ]
    ),
    "meeting_transcript": "\n".join(
        [
            "Dana (Chair): Agenda: one, the 2019 Leeds results; two, patient leaflets.",
            "Omar: We measured 1,200 patients and 14 percent had high uric acid.",
            "Dana (Chair): Decision: we publish the results in June.",
            "Priya: Action item for me: draft the diet leaflet by May 3.",
            "Omar: I will check the figures with the lab by April 20.",
            "Dana (Chair): Decision: the leaflet recommends water and less red meat.",
            "Priya: Should we mention gout explicitly, or keep the leaflet general?",
            "Omar: Mention it; patients search for the word gout, not for uric acid.",
            "Dana (Chair): Agreed. Omar, please also send the lab report to the board by May 10.",
        ]
    ),
    "poem": "\n".join(
        [
            "In Leeds the needles counted blood,",
            "twelve hundred veins, a crimson flood;",
            "and one in seven carried salt",
            "that crystals make, the joints' old fault.",
            "The purines break, the acid climbs,",
            "the kidneys work through quiet times;",
            "but gout, a fire in the toe,",
            "burns where the heavy crystals go.",
            "So drink the water, spare the meat,",
            "and let the river wash the heat;",
            "in twenty-nineteen the doctors found",
            "that measured care is common ground.",
        ]
    ),
    "satirical": (
        "BREAKING: Local man discovers that steak, eaten three times a day, is not a vegetable. Doctors in "
        "Leeds, who in 2019 measured uric acid in 1,200 patients, were stunned to learn that water is still "
        "free. 'We had hoped the kidneys would simply try harder,' said one expert, adjusting his gout cushion. "
        "Fourteen percent of the patients, it turns out, had high uric acid, a figure the steak industry "
        "immediately described as 'a rounding error in favour of flavour'. Officials now plan a bold campaign "
        "urging citizens to consider, just once a week, the radical option of a glass of water."
    ),
    "instructional": "\n".join(
        [
            "Prerequisites: a referral from your doctor and an empty stomach.",
            "1. Drink a glass of water an hour before the test.",
            "2. Arrive at the clinic and give your name.",
            "3. A nurse takes a small blood sample from your arm.",
            "4. Wait two days for the uric acid result.",
            "5. If the level is high, book a follow-up visit to discuss diet and medication.",
            "6. Keep a written record of your results so you can compare them over time.",
            "Warning: do not eat red meat the day before the test; it can raise the level.",
        ]
    ),
    "long_text": (SEED_TEXT + " ")
    * 2
    + "The first description of gout dates to about 2640 BC in Egypt. In 1776, Carl Scheele isolated uric acid "
    "from kidney stones. Today about 4 percent of adults in the United States have gout.",
}

MCQ_OPTIONS = [
    "Patients who eat red meat daily always develop gout.",
    "Some patients have high uric acid for reasons other than red meat.",
    "The Leeds clinic measured fewer than 1,000 patients.",
    "Drinking water raises uric acid.",
    "Red meat contains no purines.",
]


# ----
# Builders
# ----
def make_seed(index: int, text: str = SEED_TEXT) -> Seed:
    return Seed(id=f"seed-{index}", text=text, source=SeedSource(uri=f"doc-{index}.txt"))


def seed_for_agent(name: str, text: str = SEED_TEXT) -> Seed:
    for index in range(2000):
        seed = make_seed(index, text)
        if SKILL.pick_transform_agents(seed)[0].name == name:
            return seed
    raise AssertionError(f"no seed picks {name}")


def lineage(agent: str = "argument", itype: str | None = None) -> Lineage:
    return Lineage(
        seed_id="seed-0",
        source=SeedSource(uri="doc.txt"),
        skill="rc",
        split="rc",
        transform_agent=agent,
        instruction_type=itype,
    )


def transformed(agent: str = "argument", content: str = PASSAGE, data: dict[str, Any] | None = None) -> Transformed:
    return Transformed(id=f"t-{agent}", lineage=lineage(agent), content=content, data=data or {})


def mcq_instruction(
    key: str = "B",
    *,
    options: list[str] | None = None,
    itype: str = "weaken",
    answerable: bool = True,
    ident: str = "inst-1",
) -> Instruction:
    return Instruction(
        id=ident,
        parent_id="t-argument",
        lineage=lineage("argument", itype),
        context=PASSAGE,
        instruction="Which one of the following, if true, most seriously weakens the argument?",
        answer_key=key,
        data={"kind": "mcq", "options": options or list(MCQ_OPTIONS), "answerable": answerable, "params": {}},
    )


def plain_instruction(itype: str, question: str, key: str, ident: str = "inst-2") -> Instruction:
    kind = RC.rc_type(itype).kind
    return Instruction(
        id=ident,
        parent_id="t-long_text",
        lineage=lineage("long_text", itype),
        context=PASSAGE,
        instruction=question,
        answer_key=key,
        data={"kind": kind.value, "options": [], "answerable": True, "params": {}},
    )


def candidate(instruction: Instruction, answer_text: str) -> Candidate:
    return Candidate(
        id=f"cand-{instruction.id}",
        instruction=instruction,
        messages=[
            ChatMessage(role="system", content=""),
            ChatMessage(role="user", content=RC.user_message(instruction)),
            ChatMessage(role="assistant", content=answer_text),
        ],
    )


def user_text(call_messages: list[dict[str, Any]]) -> str:
    return "\n".join(str(m["content"]) for m in call_messages)


def assert_rendered(messages: list[dict[str, str]]) -> str:
    text = user_text(messages)
    assert messages[-1]["role"] == "user"
    assert "{{" not in text and "}}" not in text and "{%" not in text
    return text


# ----
# Skill description and taxonomy
# ----
PAPER_14 = [
    "literal_comprehension",
    "numerical_discrete_reasoning",
    "critical_comprehension",
    "evaluative_comprehension",
    "vocabulary_in_context",
    "relationship_matching",
    "sequencing_events",
    "strengthen",
    "weaken",
    "necessary_assumption",
    "flaw",
    "inference",
    "principle_identify",
    "method_of_reasoning",
]
AGENTS_9 = [
    "argument",
    "debate",
    "conversation",
    "meeting_transcript",
    "poem",
    "satirical",
    "instructional",
    "long_text",
    "identity",
]


def test_describe_lists_agents_types_and_goals() -> None:
    info = get_skill("rc").describe()
    assert info["name"] == "rc" and info["split"] == "rc"
    assert info["transformation_agents"] == AGENTS_9
    assert len(info["subcategories"]) >= 30
    assert set(PAPER_14) <= set(info["subcategories"])
    assert info["refinement_goals"] == [HARDER, FLIP, UNANSWERABLE]
    assert set(info["question_subsets"]) == set(AGENTS_9)
    assert set(info["transform_contracts"]) == set(AGENTS_9) - {"identity"}
    assert info["answer_kinds"]["weaken"] == "mcq" and info["answer_kinds"]["counting"] == "number"


def test_taxonomy_has_paper_types_plus_sixteen_more_each_described() -> None:
    names = [t.name for t in RC_TYPES]
    assert len(names) == len(set(names))
    assert len(set(names) - set(PAPER_14)) >= 16
    for itype in RC_TYPES:
        assert len(itype.description) > 40, itype.name
        assert itype.answer_format, itype.name
        if itype.kind is AnswerKind.MCQ:
            assert itype.n_options in (4, 5), itype.name
            assert "multiple choice" in itype.answer_format
        else:
            assert itype.n_options == 0


def test_every_question_type_is_reachable_from_some_agent() -> None:
    reachable = {name for names in QUESTION_SUBSETS.values() for name in names}
    assert reachable == {t.name for t in RC_TYPES}
    assert set(QUESTION_SUBSETS) == set(AGENTS_9)


@pytest.mark.parametrize("agent", AGENTS_9)
def test_the_transformation_agent_decides_the_question_subset(agent: str) -> None:
    item = transformed(agent)
    allowed = {t.name for t in SKILL.candidate_types(item)}
    assert allowed == set(QUESTION_SUBSETS[agent])
    for index in range(10):
        item = Transformed(id=f"t-{agent}-{index}", lineage=lineage(agent), content=PASSAGE)
        picked = SKILL.pick_instruction_types(item, FlowConfig(max_instruction_types=3))
        assert len(picked) == 3
        assert {itype.name for itype, _ in picked} <= allowed


def test_argument_and_poem_subsets_differ_sensibly() -> None:
    assert "weaken" in QUESTION_SUBSETS["argument"] and "weaken" not in QUESTION_SUBSETS["poem"]
    assert "figurative_meaning" in QUESTION_SUBSETS["poem"]
    assert "action_items" in QUESTION_SUBSETS["meeting_transcript"]
    assert "point_at_issue" in QUESTION_SUBSETS["debate"]


def test_one_agent_per_seed_deterministic_and_all_nine_used() -> None:
    assert SKILL.transforms_per_seed == 1
    seen: Counter[str] = Counter()
    for index in range(400):
        seed = make_seed(index)
        picked = SKILL.pick_transform_agents(seed)
        assert len(picked) == 1
        assert [a.name for a in SKILL.pick_transform_agents(seed)] == [picked[0].name]
        seen[picked[0].name] += 1
    assert set(seen) == set(AGENTS_9)
    assert min(seen.values()) > 15


# ----
# Transformation agents
# ----
LLM_AGENTS = [agent.name for agent in PASSAGE_AGENTS]


@pytest.mark.parametrize("name", LLM_AGENTS)
def test_transform_prompt_renders_in_full(name: str) -> None:
    agent = SKILL.agent(name)
    assert isinstance(agent, PassageAgent)
    seed = make_seed(3)
    text = assert_rendered(agent.render(seed, SKILL))
    assert SEED_TEXT in text
    for value in agent.choose_params(seed).values():
        if value != "none":
            assert value in text, (name, value)
    assert load_prompt(agent.prompt).version >= 1
    assert agent.prompt == f"rc/transform_{name}"


def test_transform_prompts_carry_their_contracts() -> None:
    def text(name: str) -> str:
        agent = SKILL.agent(name)
        assert isinstance(agent, PassageAgent)
        return user_text(agent.render(make_seed(1), SKILL))

    assert "250 to 450 words" in text("argument") and "2 to 4 premises" in text("argument")
    assert "Moderator" in text("debate") and "rebuttals" in text("debate")
    assert "action items" in text("meeting_transcript") and "due date" in text("meeting_transcript")
    assert "12 and 30 lines" in text("poem") and "three concrete facts" in text("poem")
    assert "Exaggerate one position" in text("satirical")
    assert "numbered steps" in text("instructional") and "warning" in text("instructional")
    long_text = text("long_text")
    assert f"({len(SEED_TEXT.split())} words)" in long_text and "numbers and dates" in long_text


def test_argument_plants_a_gap_about_forty_percent_of_the_time() -> None:
    agent = SKILL.agent("argument")
    assert isinstance(agent, PassageAgent)
    gaps = [agent.choose_params(make_seed(i))["gap"] for i in range(1000)]
    share = sum(g != "none" for g in gaps) / len(gaps)
    assert 0.33 < share < 0.47
    assert set(gaps) - {"none"} == set(GAP_KINDS)
    seed = next(make_seed(i) for i in range(100) if agent.choose_params(make_seed(i))["gap"] != "none")
    rendered = user_text(agent.render(seed, SKILL))
    assert agent.choose_params(seed)["gap"] in rendered and "Do not point the gap" in rendered
    sound = next(make_seed(i) for i in range(100) if agent.choose_params(make_seed(i))["gap"] == "none")
    assert "reasoning is sound" in user_text(agent.render(sound, SKILL))


@pytest.mark.parametrize("name", LLM_AGENTS)
async def test_transform_stage_parses_a_realistic_passage(name: str) -> None:
    seed = seed_for_agent(name)
    llm = FakeLLM(replies={f"rc/transform_{name}": {"title": "Uric acid", "text": REALISTIC_TEXTS[name]}})
    result = await transform_seed(seed, [SKILL], StageContext(llm=llm))
    assert not result.rejections, result.rejections
    [item] = result.outputs
    assert item.lineage.transform_agent == name
    assert item.content == REALISTIC_TEXTS[name].strip()
    assert item.data["title"] == "Uric acid"
    agent = SKILL.agent(name)
    assert isinstance(agent, PassageAgent)
    assert item.data["params"] == agent.choose_params(seed)
    assert llm.calls[0].role is Role.TRANSFORM
    assert SEED_TEXT in user_text(llm.calls[0].messages)
    assert item.lineage.prompt_versions[name] == f"rc/transform_{name}@1"


async def test_identity_agent_passes_the_seed_unchanged() -> None:
    seed = seed_for_agent("identity")
    llm = FakeLLM()
    result = await transform_seed(seed, [SKILL], StageContext(llm=llm))
    [item] = result.outputs
    assert item.content == SEED_TEXT and item.lineage.transform_agent == "identity"
    assert llm.calls == []


@pytest.mark.parametrize(
    ("name", "text", "fragment"),
    [
        ("argument", "Too short to be an argument.", "fewer than 600"),
        ("poem", "One long line of verse that never breaks, " * 10, "lines, fewer than 10"),
        ("debate", "Everyone spoke at once about uric acid and nobody was named at all. " * 12, "labelled speakers"),
        ("conversation", "Mia: hello there. " + "They talked at length without any labels. " * 12, "labelled speakers"),
        ("long_text", SEED_TEXT + " " + SEED_TEXT + " " + SEED_TEXT[:100], "less than 1.2x"),
    ],
)
async def test_transform_contract_violations_are_rejected_with_a_reason(name: str, text: str, fragment: str) -> None:
    seed = seed_for_agent(name, SEED_TEXT + " " + SEED_TEXT)
    llm = FakeLLM(replies={f"rc/transform_{name}": {"title": "t", "text": text}})
    result = await transform_seed(seed, [SKILL], StageContext(llm=llm))
    assert result.outputs == []
    [rejection] = result.rejections
    assert rejection.reason == "agent.unusable_output"
    assert fragment in rejection.detail
    assert rejection.lineage.transform_agent == name


@pytest.mark.parametrize("name", LLM_AGENTS)
@pytest.mark.parametrize("raw", [MALFORMED, TRUNCATED], ids=["malformed", "truncated"])
async def test_transform_bad_json_becomes_a_schema_rejection(name: str, raw: str) -> None:
    seed = seed_for_agent(name)
    llm = FakeLLM(replies={f"rc/transform_{name}": raw})
    result = await transform_seed(seed, [SKILL], StageContext(llm=llm))
    assert result.outputs == []
    [rejection] = result.rejections
    assert rejection.reason == "llm.schema_invalid"
    assert rejection.item["raw_output"] == raw
    assert rejection.lineage.transform_agent == name


# ----
# Question agents
# ----
def realistic_question(itype: RCType) -> dict[str, Any]:
    if itype.kind is AnswerKind.MCQ:
        return {
            "question": "Which one of the following is supported by the passage?",
            "options": MCQ_OPTIONS[: itype.n_options],
            "answer": "B",
        }
    answers = {
        AnswerKind.SHORT: "Leeds",
        AnswerKind.NUMBER: "1,200 patients",
        AnswerKind.LABELS: "True, False",
        AnswerKind.ORDER: "2, 1, 3",
        AnswerKind.MATCH: "1-B, 2-A",
        AnswerKind.OPEN: "Ruiz links red meat to uric acid and concludes all gout patients should avoid it.",
        AnswerKind.ESSAY: "Strong data, but the conclusion overreaches from a correlation.",
    }
    return {
        "question": "According to the passage, what is stated about the clinic's study?",
        "options": [],
        "answer": answers[itype.kind],
    }


@pytest.mark.parametrize("itype", RC_TYPES, ids=lambda t: t.name)
async def test_each_question_type_prompt_renders_and_parses(itype: RCType) -> None:
    agent = next(a for a, names in QUESTION_SUBSETS.items() if itype.name in names)
    item = transformed(agent)
    params = itype.fill_params(random.Random(itype.name))
    text = assert_rendered(RC.render_suggest(item, itype, params, 2))
    assert PASSAGE in text
    assert f"Question type: {itype.name}" in text
    assert itype.description in text and itype.answer_format in text
    for key, value in params.items():
        assert f"- {key}: {value}" in text
    if itype.example:
        assert itype.example in text
    if itype.kind is AnswerKind.MCQ:
        assert f"exactly {itype.n_options} answer choices" in text
        assert f"from A to {LETTERS[itype.n_options - 1]}" in text
    else:
        assert '"options": an empty list' in text

    llm = FakeLLM(replies={"rc/suggest": {"questions": [realistic_question(itype)]}})
    calls = Calls()
    drafts = await RC.suggest(item, itype, params, StageContext(llm=llm), calls)
    [draft] = drafts
    assert draft.context == PASSAGE
    assert draft.data["kind"] == itype.kind.value and draft.data["answerable"] is True
    assert draft.data["params"] == params
    if itype.kind is AnswerKind.MCQ:
        assert draft.answer_key == "B" and draft.data["options"] == MCQ_OPTIONS[: itype.n_options]
    else:
        assert draft.data["options"] == [] and draft.answer_key
    assert len(calls.records) == 1 and llm.calls[0].role is Role.SUGGEST


async def test_suggest_passes_the_planted_gap_to_the_question_writer() -> None:
    gap = GAP_KINDS[0]
    item = transformed("argument", data={"title": "t", "params": {"gap": gap}})
    assert gap in user_text(RC.render_suggest(item, RC.rc_type("flaw"), {"stem": "S"}, 1))
    plain = transformed("argument", data={"title": "t", "params": {"gap": "none"}})
    assert "deliberate gap" not in user_text(RC.render_suggest(plain, RC.rc_type("flaw"), {"stem": "S"}, 1))


async def test_suggest_stage_builds_instructions_from_the_subset() -> None:
    item = transformed("argument")

    def script(role: Role, messages: list[dict[str, Any]], prompt: str) -> dict[str, Any]:
        text = user_text(messages)
        itype = next(t for t in RC_TYPES if f"Question type: {t.name}\n" in text)
        return {"questions": [realistic_question(itype), realistic_question(itype)]}

    ctx = StageContext(llm=FakeLLM(script=script), config=FlowConfig(max_instruction_types=3))
    result = await suggest_instructions(item, SKILL, ctx)
    assert not result.rejections
    assert len(result.outputs) == 6
    for instruction in result.outputs:
        assert instruction.lineage.instruction_type in QUESTION_SUBSETS["argument"]
        assert instruction.answer_key == "B"
        assert len(instruction.data["options"]) == 5
        assert "rc/suggest" in instruction.lineage.prompt_versions


@pytest.mark.parametrize(
    "raw", [MALFORMED, '{"questions": [{"question": "Which one of'], ids=["malformed", "truncated"]
)
async def test_suggest_stage_bad_json_becomes_schema_rejections(raw: str) -> None:
    ctx = StageContext(llm=FakeLLM(replies={"rc/suggest": raw}), config=FlowConfig(max_instruction_types=2))
    result = await suggest_instructions(transformed("poem"), SKILL, ctx)
    assert result.outputs == []
    assert len(result.rejections) == 2
    assert {r.reason for r in result.rejections} == {"llm.schema_invalid"}
    assert all(r.subcategory in QUESTION_SUBSETS["poem"] for r in result.rejections)


async def test_suggest_stage_rejects_incoherent_mcq_with_its_reason() -> None:
    bad = {"questions": [{"question": "Which one weakens the argument?", "options": ["x", "y", "z"], "answer": "D"}]}
    ctx = StageContext(llm=FakeLLM(replies={"rc/suggest": bad}), config=FlowConfig(max_instruction_types=1))
    result = await suggest_instructions(transformed("argument"), SKILL, ctx)
    assert result.outputs == []
    [rejection] = result.rejections
    assert rejection.reason == "agent.unusable_output"
    assert "4-5 options, got 3" in rejection.detail


def test_build_question_cleans_letters_and_maps_the_key() -> None:
    itype = RC.rc_type("weaken")
    raw = RCQuestion(
        question="Which one weakens the argument?\n(A) first\n(B) second",
        options=[f"({letter}) {text}" for letter, text in zip(LETTERS, MCQ_OPTIONS, strict=True)],
        answer=MCQ_OPTIONS[3],
    )
    draft = RC.build_question(transformed(), itype, {}, raw)
    assert draft.instruction == "Which one weakens the argument?"
    assert draft.data["options"] == MCQ_OPTIONS
    assert draft.answer_key == "D"


@pytest.mark.parametrize(
    ("itype", "answer", "fragment"),
    [
        ("weaken", "F", "names none of the options"),
        ("sequencing_events", "first the study, then the conclusion", "not in the order format"),
        ("relationship_matching", "Ruiz is a doctor", "not in the match format"),
        ("literal_comprehension", "not answerable", "not answerable"),
    ],
)
def test_build_question_rejects_bad_keys(itype: str, answer: str, fragment: str) -> None:
    rtype = RC.rc_type(itype)
    options = MCQ_OPTIONS if rtype.kind is AnswerKind.MCQ else []
    raw = RCQuestion(question="A question about the passage?", options=options, answer=answer)
    with pytest.raises(ValueError, match=fragment):
        RC.build_question(transformed(), rtype, {}, raw)


def test_duplicate_options_are_rejected() -> None:
    raw = RCQuestion(question="Which one weakens it?", options=["a b", "A. a b", "c", "d"], answer="C")
    with pytest.raises(ValueError, match="two options are the same"):
        RC.build_question(transformed(), RC.rc_type("main_idea"), {}, raw)


# ----
# User message, teacher and answer rendering
# ----
def test_user_message_is_passage_question_then_lettered_options() -> None:
    message = RC.user_message(mcq_instruction())
    passage, question, options = message.split("\n\n")
    assert passage == PASSAGE
    assert question == "Q: Which one of the following, if true, most seriously weakens the argument?"
    assert options.splitlines() == [f"({letter}) {text}" for letter, text in zip(LETTERS, MCQ_OPTIONS, strict=True)]
    plain = RC.user_message(plain_instruction("counting", "How many patients were measured?", "1200"))
    assert plain == f"{PASSAGE}\n\nQ: How many patients were measured?"


def test_teacher_prompt_renders_in_full() -> None:
    instruction = mcq_instruction()
    template = load_prompt(RC.teacher_prompt)
    assert template.name == "rc/teacher"
    text = assert_rendered(
        template.render(
            skill=RC,
            instruction=instruction,
            user_message=RC.user_message(instruction),
            checks=RC.skill_checks_brief(instruction),
        )
    )
    assert RC.user_message(instruction) in text
    assert "one option letter (A, B, C, D, E)" in text
    assert "the letter of the correct option only" in text and '"not answerable"' in text
    assert "why each other option is wrong" in text
    assert "Answer key" not in text and "(B)" in text  # the options are shown, the key is not


def test_teacher_prompt_for_non_mcq_and_essay() -> None:
    number = plain_instruction("counting", "How many patients?", "1200")
    essay = plain_instruction("evaluative_comprehension", "Evaluate the argument in two paragraphs.", "points")
    template = load_prompt("rc/teacher")
    number_text = user_text(
        template.render(skill=RC, instruction=number, user_message=RC.user_message(number), checks=[])
    )
    assert "the number only" in number_text and "why each other option" not in number_text
    essay_text = user_text(template.render(skill=RC, instruction=essay, user_message=RC.user_message(essay), checks=[]))
    assert "the complete essay" in essay_text and "not answerable" not in essay_text


@pytest.mark.parametrize(
    ("raw", "final"),
    [
        ("C", "Answer: (C)"),
        ("(c)", "Answer: (C)"),
        ("The answer is D because the passage says so.", "Answer: (D)"),
        (MCQ_OPTIONS[1], "Answer: (B)"),
        ("(B) The passage does not state every cause.", "Answer: (B)"),
        ("not answerable", f"Answer: {UNANSWERABLE_TEXT}"),
        ("The passage does not provide enough information.", f"Answer: {UNANSWERABLE_TEXT}"),
    ],
)
def test_render_answer_mcq_final_line(raw: str, final: str) -> None:
    text = RC.render_answer(mcq_instruction(), TeacherAnswer(reasoning="Step 1: read.\nAnswer: A", answer=raw))
    assert text == f"Step 1: read.\n\n{final}"


def test_render_answer_non_mcq_and_essay() -> None:
    short = plain_instruction("multi_span_extraction", "Which two things?", "water; less red meat")
    text = RC.render_answer(short, TeacherAnswer(reasoning="The passage lists them.", answer="water\nless red meat"))
    assert text.endswith("\n\nAnswer: water; less red meat")
    essay = plain_instruction("evaluative_comprehension", "Evaluate.", "points")
    assert RC.render_answer(essay, TeacherAnswer(reasoning="plan", answer="The essay.")) == "The essay."


# ----
# Refinement
# ----
def test_refine_prompts_render_in_full() -> None:
    instruction = mcq_instruction()
    suggest_text = assert_rendered(
        load_prompt(RC.refine_suggest_prompt).render(
            skill=RC, item=instruction, user_message=RC.user_message(instruction), count=2
        )
    )
    assert RC.user_message(instruction) in suggest_text and "Answer key: B" in suggest_text
    for goal in (HARDER, FLIP, UNANSWERABLE):
        assert f"- {goal}:" in suggest_text
    essay = plain_instruction("evaluative_comprehension", "Evaluate the argument.", "points")
    essay_text = user_text(
        load_prompt("rc/refine_suggest").render(skill=RC, item=essay, user_message=RC.user_message(essay), count=2)
    )
    assert f"- {HARDER}:" in essay_text and f"- {FLIP}:" not in essay_text

    for goal, marker in (
        (HARDER, "Keep the passage as it is"),
        (FLIP, "correct answer becomes a different one"),
        (UNANSWERABLE, '"answer": "not answerable"'),
    ):
        text = assert_rendered(RC.render_edit(instruction, goal, "SUGGESTION-TEXT"))
        assert PASSAGE in text and instruction.instruction in text and "SUGGESTION-TEXT" in text
        assert f"Goal: {goal}" in text and marker in text and "Answer key: B" in text
        for letter, option in zip(LETTERS, MCQ_OPTIONS, strict=True):
            assert f"({letter}) {option}" in text


def test_flip_keeps_options_and_changes_the_key() -> None:
    instruction = mcq_instruction("B")
    edited = RCEditedItem(passage=PASSAGE + " All patients ate the same diet.", question="", options=[], answer="(A)")
    draft = RC.apply_rc_edit(instruction, edited, FLIP)
    assert draft.answer_key == "A" and draft.data["options"] == MCQ_OPTIONS
    assert draft.context.endswith("same diet.") and draft.instruction == instruction.instruction
    assert draft.data["previous_key"] == "B" and draft.data["refinement_goal"] == FLIP


def test_flip_with_reordered_options_compares_option_texts() -> None:
    instruction = mcq_instruction("B")
    reordered = [MCQ_OPTIONS[1], MCQ_OPTIONS[0], *MCQ_OPTIONS[2:]]
    same = RCEditedItem(passage=PASSAGE + " x.", question="Q?", options=reordered, answer="A")
    with pytest.raises(ValueError, match="kept the same correct answer"):
        RC.apply_rc_edit(instruction, same, FLIP)
    unchanged = RCEditedItem(passage=PASSAGE, question="Q?", options=[], answer="C")
    with pytest.raises(ValueError, match="did not change the passage"):
        RC.apply_rc_edit(instruction, unchanged, FLIP)


def test_unanswerable_edit_marks_the_item() -> None:
    edited = RCEditedItem(passage="Dr. Ruiz has opinions about diet.", question="", options=[], answer="")
    draft = RC.apply_rc_edit(mcq_instruction(), edited, UNANSWERABLE)
    assert draft.answer_key == UNANSWERABLE_KEY
    assert draft.data["answerable"] is False and draft.data["options"] == MCQ_OPTIONS


def test_harder_edit_keeps_the_passage_and_rederives_the_key() -> None:
    new_options = [f"({letter}) {text}" for letter, text in zip(LETTERS, reversed(MCQ_OPTIONS), strict=True)]
    edited = RCEditedItem(
        passage="a mangled copy",
        question="Suppose a new study appears. Which weakens it?",
        options=new_options,
        answer=MCQ_OPTIONS[1],
    )
    draft = RC.apply_rc_edit(mcq_instruction(), edited, HARDER)
    assert draft.context == PASSAGE
    assert draft.data["options"] == list(reversed(MCQ_OPTIONS))
    assert draft.answer_key == "D"
    with pytest.raises(ValueError, match="returned no options"):
        RC.apply_rc_edit(mcq_instruction(), RCEditedItem(passage="", question="Q?", options=[], answer="A"), HARDER)
    with pytest.raises(ValueError, match="made the question unanswerable"):
        RC.apply_rc_edit(
            mcq_instruction(), RCEditedItem(passage="", question="Q2?", options=MCQ_OPTIONS, answer="none"), HARDER
        )


def test_generic_editor_answer_is_kept_coherent_too() -> None:
    from agentinstruct.skills.base import EditedItem

    lines = "\n".join(f"({letter}) {text}" for letter, text in zip(LETTERS, MCQ_OPTIONS, strict=True))
    edited = EditedItem(context=PASSAGE, instruction=f"Harder: which weakens it?\n{lines}", answer="E")
    draft = RC.apply_edit(mcq_instruction(), edited, HARDER)
    assert draft.instruction == "Harder: which weakens it?"
    assert draft.data["options"] == MCQ_OPTIONS and draft.answer_key == "E"


def test_unanswerable_suggestions_are_kept_rarely_and_deterministically() -> None:
    kept = [RC.accept_suggestion(mcq_instruction(ident=f"i-{n}"), UNANSWERABLE, 0) for n in range(3000)]
    share = sum(kept) / len(kept)
    assert abs(share - UNANSWERABLE_KEEP_RATE) < 0.04
    again = [RC.accept_suggestion(mcq_instruction(ident=f"i-{n}"), UNANSWERABLE, 0) for n in range(3000)]
    assert kept == again
    assert all(RC.accept_suggestion(mcq_instruction(ident=f"i-{n}"), HARDER, 1) for n in range(50))


def test_goals_depend_on_the_item() -> None:
    closed = plain_instruction("sequencing_events", "Order these: 1. a 2. b", "2, 1")
    essay = plain_instruction("evaluative_comprehension", "Evaluate the argument.", "points")
    assert [g.name for g in RC.goals_for(mcq_instruction())] == [HARDER, FLIP, UNANSWERABLE]
    assert [g.name for g in RC.goals_for(closed)] == [HARDER, FLIP]
    assert [g.name for g in RC.goals_for(essay)] == [HARDER]
    assert RC.goals_for(mcq_instruction(answerable=False)) == []
    assert not RC.accept_suggestion(essay, FLIP, 0)
    assert not RC.accept_suggestion(mcq_instruction(answerable=False), HARDER, 0)


def refine_llm(**overrides: Any) -> FakeLLM:
    replies: dict[str, Any] = {
        "rc/refine_suggest": {
            "suggestions": [
                {"goal": "HARDER", "suggestion": "Reverse the options and add a hypothetical."},
                {"goal": "FLIP", "suggestion": "State that all patients ate the same diet."},
            ]
        },
        "rc/refine_edit": [
            {
                "passage": "",
                "question": "Suppose a new study appears. Which weakens the argument?",
                "options": list(reversed(MCQ_OPTIONS)),
                "answer": "D",
            },
            {"passage": PASSAGE + " All patients ate the same diet.", "question": "", "options": [], "answer": "C"},
        ],
        "rc/teacher": {"reasoning": "The passage says red meat raised the level.", "answer": "B"},
        "common/critique": {"flaws": [], "verdict": "ok"},
    }
    replies.update(overrides)
    return FakeLLM(replies=replies)


async def test_refine_and_answer_keeps_seed_and_coherent_edits() -> None:
    llm = refine_llm()
    ctx = StageContext(llm=llm, config=FlowConfig(suggestions_per_round=2))
    result = await refine_and_answer(mcq_instruction("B"), SKILL, ctx)
    assert not result.rejections, result.rejections
    by_path = {tuple(c.lineage.refinement_path): c for c in result.outputs}
    assert set(by_path) == {(), (HARDER,), (FLIP,)}
    harder = by_path[(HARDER,)].instruction
    assert harder.context == PASSAGE and harder.answer_key == "D"
    assert harder.data["options"] == list(reversed(MCQ_OPTIONS))
    flip = by_path[(FLIP,)].instruction
    assert flip.answer_key == "C" and flip.context.endswith("same diet.")
    assert "rc/refine_edit" in flip.lineage.prompt_versions and "rc/refine_suggest" in flip.lineage.prompt_versions
    seed_candidate = by_path[()]
    assert [m.role for m in seed_candidate.messages] == ["system", "user", "assistant"]
    assert seed_candidate.messages[1].content == RC.user_message(mcq_instruction("B"))
    assert seed_candidate.messages[2].content.endswith("\n\nAnswer: (B)")
    teacher_calls = [c for c in llm.calls if c.prompt.startswith("rc/teacher")]
    assert len(teacher_calls) == 3 and all(c.role is Role.TEACHER for c in teacher_calls)


async def test_refine_filters_unanswerable_by_rate_without_calling_the_editor() -> None:
    dropped = next(
        f"i-{n}" for n in range(200) if not RC.accept_suggestion(mcq_instruction(ident=f"i-{n}"), UNANSWERABLE, 0)
    )
    llm = refine_llm(
        **{"rc/refine_suggest": {"suggestions": [{"goal": "UNANSWERABLE", "suggestion": "remove the study"}]}}
    )
    ctx = StageContext(llm=llm, config=FlowConfig(suggestions_per_round=1))
    result = await refine_and_answer(mcq_instruction(ident=dropped), SKILL, ctx)
    assert [tuple(c.lineage.refinement_path) for c in result.outputs] == [()]
    assert "rc/refine_edit" not in llm.prompts_called()

    kept = next(f"i-{n}" for n in range(200) if RC.accept_suggestion(mcq_instruction(ident=f"i-{n}"), UNANSWERABLE, 0))
    edit = {"passage": "Dr. Ruiz has views on diet.", "question": "", "options": [], "answer": "not answerable"}
    llm = refine_llm(
        **{
            "rc/refine_suggest": {"suggestions": [{"goal": "UNANSWERABLE", "suggestion": "remove the study"}]},
            "rc/refine_edit": edit,
            "rc/teacher": [
                {"reasoning": "Red meat raised the level.", "answer": "B"},
                {"reasoning": "The passage gives no study.", "answer": "not answerable"},
            ],
        }
    )
    result = await refine_and_answer(mcq_instruction(ident=kept), SKILL, StageContext(llm=llm))
    unanswerable = next(c for c in result.outputs if c.lineage.refinement_path == [UNANSWERABLE])
    assert unanswerable.instruction.answer_key == UNANSWERABLE_KEY
    assert unanswerable.messages[-1].content.endswith(f"Answer: {UNANSWERABLE_TEXT}")


@pytest.mark.parametrize("raw", [MALFORMED, '{"passage": "", "question": "Supp'], ids=["malformed", "truncated"])
async def test_editor_bad_json_is_a_schema_rejection_and_seed_is_kept(raw: str) -> None:
    llm = refine_llm(**{"rc/refine_edit": raw})
    result = await refine_and_answer(mcq_instruction(), SKILL, StageContext(llm=llm))
    assert [c.lineage.refinement_path for c in result.outputs] == [[]]
    assert len(result.rejections) == 2
    assert {r.reason for r in result.rejections} == {"llm.schema_invalid"}
    assert all(r.stage == "refine" and "editor" in r.detail for r in result.rejections)


@pytest.mark.parametrize(
    ("prompt", "raw"),
    [
        ("rc/refine_suggest", MALFORMED),
        ("rc/refine_suggest", '{"suggestions": [{"goal": "HAR'),
        ("rc/teacher", MALFORMED),
        ("rc/teacher", '{"reasoning": "The passage'),
    ],
)
async def test_suggester_and_teacher_bad_json_are_schema_rejections(prompt: str, raw: str) -> None:
    llm = refine_llm(**{prompt: raw})
    result = await refine_and_answer(mcq_instruction(), SKILL, StageContext(llm=llm))
    assert result.rejections
    assert all(r.reason == "llm.schema_invalid" for r in result.rejections)
    if prompt == "rc/teacher":
        assert result.outputs == [] and all("teacher" in r.detail for r in result.rejections)
    else:
        assert len(result.outputs) == 1


# ----
# Checks (through the validate stage)
# ----
def reasoned(final: str) -> str:
    return f"The passage says red meat raised the level, but not for everyone.\n\n{final}"


def validate_llm(reanswer: Any) -> FakeLLM:
    return FakeLLM(replies={"rc/reanswer": reanswer, "common/judge": {"score": 4, "reason": "correct"}})


def test_reanswer_prompt_renders_without_key_or_first_answer() -> None:
    instruction = mcq_instruction("B")
    text = assert_rendered(RC.render_reanswer(instruction))
    assert RC.user_message(instruction) in text
    assert '"answerable"' in text and "a single letter" in text
    assert "Answer key" not in text and "Answer: (" not in text


async def test_check_accepts_when_key_answer_and_reanswer_agree() -> None:
    llm = validate_llm({"reasoning": "Some patients have it anyway.", "answerable": True, "answer": "(B)"})
    outcome = await validate_candidate(
        candidate(mcq_instruction("B"), reasoned("Answer: (B)")), SKILL, StageContext(llm=llm), MemoryDedup()
    )
    assert isinstance(outcome, Pair), outcome
    names = {c.name: c for c in outcome.checks}
    for name in (
        "skill.mcq_key",
        "skill.answer_line",
        "skill.answer_matches_key",
        "skill.reanswer_agrees_key",
        "skill.reanswer_agrees_answer",
    ):
        assert names[name].passed, name
    [reanswer_call] = [c for c in llm.calls if c.prompt.startswith("rc/reanswer")]
    assert reanswer_call.role is Role.TEACHER
    text = user_text(reanswer_call.messages)
    assert "The passage says red meat raised the level" not in text and "Answer: (B)" not in text
    assert "rc/reanswer" in outcome.lineage.prompt_versions


async def test_check_rejects_a_disagreeing_reanswer() -> None:
    llm = validate_llm({"reasoning": "Option D follows.", "answerable": True, "answer": "D"})
    outcome = await validate_candidate(
        candidate(mcq_instruction("B"), reasoned("Answer: (B)")), SKILL, StageContext(llm=llm), MemoryDedup()
    )
    assert isinstance(outcome, Rejection)
    assert outcome.reason == "skill.reanswer_agrees_key"
    assert "B vs D" in outcome.detail
    assert "common/judge" not in llm.prompts_called()


async def test_check_rejects_an_answer_that_misses_the_key_before_reanswering() -> None:
    llm = validate_llm({"reasoning": "x", "answerable": True, "answer": "B"})
    outcome = await validate_candidate(
        candidate(mcq_instruction("B"), reasoned("Answer: (A)")), SKILL, StageContext(llm=llm), MemoryDedup()
    )
    assert isinstance(outcome, Rejection) and outcome.reason == "skill.answer_matches_key"
    assert llm.calls == []


@pytest.mark.parametrize(
    ("instruction", "answer", "reason"),
    [
        (mcq_instruction("B"), "The answer is B.", "skill.answer_line"),
        (mcq_instruction("B"), reasoned("Answer: maybe the second one"), "skill.answer_line"),
        (mcq_instruction("B", options=MCQ_OPTIONS[:3]), reasoned("Answer: (B)"), "skill.mcq_key"),
        (mcq_instruction("E", options=MCQ_OPTIONS[:4]), reasoned("Answer: (E)"), "skill.mcq_key"),
        (mcq_instruction("B"), reasoned(f"Answer: {UNANSWERABLE_TEXT}"), "skill.answer_matches_key"),
    ],
)
async def test_structural_rc_checks(instruction: Instruction, answer: str, reason: str) -> None:
    llm = validate_llm({"reasoning": "x", "answerable": True, "answer": "B"})
    outcome = await validate_candidate(candidate(instruction, answer), SKILL, StageContext(llm=llm), MemoryDedup())
    assert isinstance(outcome, Rejection)
    assert outcome.reason == reason
    assert "rc/reanswer" not in llm.prompts_called()


@pytest.mark.parametrize(
    ("reanswer", "expected"),
    [
        ({"reasoning": "The study is gone.", "answerable": False, "answer": ""}, None),
        ({"reasoning": "Nothing supports any option.", "answerable": True, "answer": "cannot be determined"}, None),
        ({"reasoning": "B follows.", "answerable": True, "answer": "B"}, "skill.reanswer_agrees_key"),
    ],
)
async def test_unanswerable_items_need_a_reanswer_that_declines(reanswer: dict[str, Any], expected: str | None) -> None:
    instruction = mcq_instruction(UNANSWERABLE_KEY, answerable=False)
    llm = validate_llm(reanswer)
    outcome = await validate_candidate(
        candidate(instruction, reasoned(f"Answer: {UNANSWERABLE_TEXT}")), SKILL, StageContext(llm=llm), MemoryDedup()
    )
    if expected is None:
        assert isinstance(outcome, Pair), outcome
    else:
        assert isinstance(outcome, Rejection) and outcome.reason == expected


async def test_unanswerable_item_answered_with_a_letter_is_rejected() -> None:
    instruction = mcq_instruction(UNANSWERABLE_KEY, answerable=False)
    llm = validate_llm({"reasoning": "x", "answerable": False, "answer": ""})
    outcome = await validate_candidate(
        candidate(instruction, reasoned("Answer: (B)")), SKILL, StageContext(llm=llm), MemoryDedup()
    )
    assert isinstance(outcome, Rejection) and outcome.reason == "skill.answer_matches_key"


async def test_answerable_item_with_a_declining_reanswer_is_rejected() -> None:
    llm = validate_llm({"reasoning": "Not in the passage.", "answerable": False, "answer": ""})
    outcome = await validate_candidate(
        candidate(mcq_instruction("B"), reasoned("Answer: (B)")), SKILL, StageContext(llm=llm), MemoryDedup()
    )
    assert isinstance(outcome, Rejection) and outcome.reason == "skill.reanswer_agrees_key"
    assert "not answerable" in outcome.detail


@pytest.mark.parametrize(
    ("itype", "key", "final", "reanswer", "passes"),
    [
        ("counting", "1200", "Answer: 1,200 patients", "1200", True),
        ("counting", "1200", "Answer: 1200", "1100", False),
        ("sequencing_events", "2, 1, 3", "Answer: 2, 1, 3", "2,1,3", True),
        ("sequencing_events", "2, 1, 3", "Answer: 2, 1, 3", "1, 2, 3", False),
        ("relationship_matching", "1-B, 2-A", "Answer: 1-B, 2-A", "2-A, 1-B", True),
        ("relationship_matching", "1-B, 2-A", "Answer: 1-B, 2-A", "1-A, 2-B", False),
        ("critical_comprehension", "True, False", "Answer: True, False", "true, false", True),
        ("critical_comprehension", "True, False", "Answer: True, False", "False, True", False),
        ("literal_comprehension", "a clinic in Leeds", "Answer: the Leeds clinic", "in Leeds", True),
        ("literal_comprehension", "a clinic in Leeds", "Answer: Leeds", "Manchester", False),
    ],
)
async def test_non_mcq_agreement(itype: str, key: str, final: str, reanswer: str, passes: bool) -> None:
    instruction = plain_instruction(itype, "A question about the passage?", key)
    llm = validate_llm({"reasoning": "r", "answerable": True, "answer": reanswer})
    outcome = await validate_candidate(
        candidate(instruction, reasoned(final)), SKILL, StageContext(llm=llm), MemoryDedup()
    )
    assert isinstance(outcome, Pair) is passes, outcome
    if not passes:
        assert isinstance(outcome, Rejection) and outcome.reason == "skill.reanswer_agrees_key"


async def test_essay_and_open_types_skip_the_agreement_check() -> None:
    essay = plain_instruction("evaluative_comprehension", "Evaluate the argument.", "points")
    llm = validate_llm({"reasoning": "r", "answerable": True, "answer": "x"})
    outcome = await validate_candidate(
        candidate(essay, "The argument relies on one clinic's data. " * 12), SKILL, StageContext(llm=llm), MemoryDedup()
    )
    assert isinstance(outcome, Pair), outcome
    skipped = next(c for c in outcome.checks if c.name == "skill.answer_matches_key")
    assert skipped.passed and "skipped" in skipped.detail
    assert "rc/reanswer" not in llm.prompts_called()
    short = await validate_candidate(candidate(essay, "Too short."), SKILL, StageContext(llm=llm), MemoryDedup())
    assert isinstance(short, Rejection) and short.reason == "skill.answer_line"

    summary = plain_instruction("summary", "Summarize the passage.", "Ruiz blames red meat.", ident="s-1")
    outcome = await validate_candidate(
        candidate(summary, reasoned("Answer: Ruiz links diet to uric acid.")),
        SKILL,
        StageContext(llm=llm),
        MemoryDedup(),
    )
    assert isinstance(outcome, Pair)
    assert "rc/reanswer" not in llm.prompts_called()


@pytest.mark.parametrize("raw", [MALFORMED, '{"reasoning": "The pass'], ids=["malformed", "truncated"])
async def test_reanswer_bad_json_becomes_a_rejection_with_its_reason(raw: str) -> None:
    llm = validate_llm(raw)
    outcome = await validate_candidate(
        candidate(mcq_instruction("B"), reasoned("Answer: (B)")), SKILL, StageContext(llm=llm), MemoryDedup()
    )
    assert isinstance(outcome, Rejection)
    assert outcome.reason == "skill.error"
    error = next(c for c in outcome.checks if c.name == "skill.error")
    assert error.detail.startswith("llm.schema_invalid")


async def test_reanswer_llm_truncation_error_is_reported() -> None:
    llm = validate_llm(LLMError(ErrorKind.TRUNCATED, "finish_reason=length"))
    outcome = await validate_candidate(
        candidate(mcq_instruction("B"), reasoned("Answer: (B)")), SKILL, StageContext(llm=llm), MemoryDedup()
    )
    assert isinstance(outcome, Rejection) and outcome.reason == "skill.error"
    assert next(c for c in outcome.checks if c.name == "skill.error").detail.startswith("llm.truncated")


# ----
# Parsing helpers
# ----
@pytest.mark.parametrize(
    ("text", "letter"),
    [
        ("C", "C"),
        ("(d)", "D"),
        ("B) because", "B"),
        ("Option E", "E"),
        ("The answer is a bird", None),
        ("The correct answer is (A).", "A"),
        (MCQ_OPTIONS[2], "C"),
        ("F", None),
        ("", None),
    ],
)
def test_parse_letter(text: str, letter: str | None) -> None:
    assert parse_letter(text, MCQ_OPTIONS) == letter


def test_parse_helpers() -> None:
    assert clean_options(["(A) one", "B. two", "[c] three", "  ", "A study found"]) == [
        "one",
        "two",
        "three",
        "A study found",
    ]
    assert says_unanswerable("The passage does not provide enough information.")
    assert says_unanswerable("None")
    assert not says_unanswerable("None of the patients were tested twice, so B")
    assert final_answer_line("reasoning\n\nAnswer: (C)\n") == "(C)"
    assert final_answer_line("Answer: (C)\nmore text") is None
    assert answers_agree(AnswerKind.NUMBER, "14%", "14 percent")[0]
    assert not answers_agree(AnswerKind.SHORT, "Leeds", "")[0]


# ----
# Mock responders: a run against them yields passing pairs and visible failures
# ----
async def test_mock_responders_produce_passing_pairs_and_visible_failures() -> None:
    from agentinstruct.testing.mock_server import RESPONDERS, ChatRequest
    from agentinstruct.testing.responders import rc as rc_responders

    assert rc_responders.teacher is RESPONDERS["rc/teacher"]
    for name in [f"rc/transform_{n}" for n in LLM_AGENTS] + ["rc/suggest", "rc/reanswer", "rc/refine_edit"]:
        assert name in RESPONDERS, name

    def script(role: Role, messages: list[dict[str, Any]], prompt: str) -> dict[str, Any] | str:
        name = prompt.split("@", 1)[0]
        if name == "common/critique":
            return {"flaws": [], "verdict": "ok"}
        if name == "common/judge":
            return {"score": 4, "reason": "fine"}
        request = ChatRequest.from_body({"model": "m", "messages": messages}, prompt)
        return RESPONDERS[name](request, random.Random(json.dumps(messages)))

    ctx = StageContext(llm=FakeLLM(script=script))
    dedup = MemoryDedup()
    pairs: list[Pair] = []
    reasons: Counter[str] = Counter()
    agents: set[str] = set()
    unanswerable = 0
    candidates = 0
    for index in range(24):
        text = SEED_TEXT + f" The follow-up visit number {index} took place in spring."
        seed = Seed(id=f"mock-{index}", text=text, source=SeedSource(uri="m.txt"))
        for item in (await transform_seed(seed, [SKILL], ctx)).outputs:
            agents.add(item.lineage.transform_agent or "")
            suggested = await suggest_instructions(item, SKILL, ctx)
            reasons.update(r.reason for r in suggested.rejections)
            for instruction in suggested.outputs:
                refined = await refine_and_answer(instruction, SKILL, ctx)
                reasons.update(r.reason for r in refined.rejections)
                for cand in refined.outputs:
                    candidates += 1
                    unanswerable += not cand.instruction.data["answerable"]
                    outcome = await validate_candidate(cand, SKILL, ctx, dedup)
                    if isinstance(outcome, Pair):
                        pairs.append(outcome)
                    else:
                        reasons[outcome.reason] += 1
    assert len(agents) >= 6
    assert len(pairs) >= 50
    assert any(r.startswith("skill.") for r in reasons), reasons
    assert all(reason for reason in reasons)
    mcq_pairs = [p for p in pairs if (final_answer_line(p.messages[-1].content) or "")[1:2] in tuple(LETTERS)]
    assert mcq_pairs, "some multiple-choice pairs pass"
    assert all(final_answer_line(p.messages[-1].content) or p.subcategory == "evaluative_comprehension" for p in pairs)
    assert 0 < unanswerable < 0.15 * candidates, (unanswerable, candidates)
