"""Coding skill: prompts rendered in full, outputs parsed and validated in the sandbox, stage-level failures,
refinement with re-validated tests, the teacher's sandboxed reflection, the checks, and a run on the mock."""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from typing import Any

import pytest
from pydantic import BaseModel

from agentinstruct.llm.base import LLMResult, Role, T
from agentinstruct.prompts import load_prompt
from agentinstruct.skills import get_skill
from agentinstruct.skills.base import Calls, FlowConfig, StageContext, TeacherAnswer
from agentinstruct.skills.code import (
    CODE_AGENTS,
    CODE_TYPES,
    EXECUTABLE_TYPES,
    NON_PYTHON_TYPES,
    TYPES_BY_AGENT,
    CodeAnswer,
    CodeType,
    CodingSkill,
    Group,
    choose_unit,
    clean_identifier,
    clean_tests,
    language_name,
    normalize_language,
    seed_language,
)
from agentinstruct.stages import (
    MemoryDedup,
    refine_and_answer,
    suggest_instructions,
    transform_seed,
    validate_candidate,
)
from agentinstruct.testing.fake_llm import FakeLLM
from agentinstruct.testing.mock_server import RESPONDERS, ChatRequest, generate_json
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

SKILL = get_skill("code")
assert isinstance(SKILL, CodingSkill)
CODE: CodingSkill = SKILL
TYPES = {t.name: t for t in CODE_TYPES}

MALFORMED = "this is not JSON at all"
TRUNCATED = '{"name": "word_frequencies", "code": "def word_frequencies(text'

SEED_TEXT = '''import logging

import requests

log = logging.getLogger(__name__)


def word_frequencies(text, min_len=1):
    """Count the words of a text."""
    counts = {}
    for word in text.lower().split():
        word = word.strip(".,!?")
        if len(word) >= min_len:
            counts[word] = counts.get(word, 0) + 1
    log.debug("counted %d words", len(counts))
    return counts
'''
JS_SEED_TEXT = """function wordFrequencies(text) {
  const counts = {};
  for (const word of text.toLowerCase().split(/\\s+/)) {
    if (word) counts[word] = (counts[word] || 0) + 1;
  }
  return counts;
}
"""

# A self-contained version of the seed's unit, the reference of most tasks below.
WF = (
    "def word_frequencies(text, min_len=1):\n"
    "    counts = {}\n"
    "    for word in text.lower().split():\n"
    '        word = word.strip(".,!?")\n'
    "        if len(word) >= min_len:\n"
    "            counts[word] = counts.get(word, 0) + 1\n"
    "    return counts\n"
)
WF_BUGGY = WF.replace("text.lower().split()", "text.split()")
WF_VALIDATED = WF.replace(
    "    counts = {}\n",
    '    if not isinstance(text, str):\n        raise ValueError("text must be a string")\n    counts = {}\n',
)
WF_TESTS = [
    'assert word_frequencies("a b a") == {"a": 2, "b": 1}',
    'assert word_frequencies("") == {}',
    'assert word_frequencies("Hi, hi!") == {"hi": 2}',
]
WRONG_TEST = 'assert word_frequencies("a") == {"a": 2}'
INVALID_TEST = (
    "try:\n    word_frequencies(None)\nexcept ValueError:\n    pass\nelse:\n    raise AssertionError('no ValueError')"
)
WF_TEST_FUNCTIONS = "\n\n".join(f"def test_case_{i}():\n    {t}" for i, t in enumerate(WF_TESTS)) + "\n"
JS_TRANSLATION = (
    "function wordFrequencies(text, minLen = 1) {\n  const counts = {};\n"
    "  for (let word of text.toLowerCase().split(/\\s+/)) {\n    word = word.replace(/[.,!?]/g, '');\n"
    "    if (word.length >= minLen) counts[word] = (counts[word] || 0) + 1;\n  }\n  return counts;\n}\n"
)
EXPLANATION = (
    "The function lower-cases the text, splits it on whitespace, strips punctuation from the ends of each "
    "word and counts how often each word of at least min_len characters occurs, using a dictionary that maps "
    "each word to its count. It runs in linear time in the length of the text."
)


# ----
# Builders
# ----
def make_seed(index: int, text: str = SEED_TEXT, uri: str = "pkg/words.py", language: str | None = "python") -> Seed:
    return Seed(id=f"seed-{index}", text=text, source=SeedSource(uri=uri, kind="code", language=language))


def seed_for_agent(
    name: str, text: str = SEED_TEXT, uri: str = "pkg/words.py", language: str | None = "python"
) -> Seed:
    for index in range(2000):
        seed = make_seed(index, text, uri, language)
        if CODE.pick_transform_agents(seed)[0].name == name:
            return seed
    raise AssertionError(f"no seed picks {name}")


def lineage(agent: str = "extract_unit", itype: str | None = None, uri: str = "pkg/words.py") -> Lineage:
    return Lineage(
        seed_id="seed-0",
        source=SeedSource(uri=uri, kind="code", language="python" if uri.endswith(".py") else None),
        skill="code",
        split="code_",
        transform_agent=agent,
        instruction_type=itype,
    )


def python_item(agent: str = "extract_unit", content: str = WF, **data: Any) -> Transformed:
    return Transformed(
        id=f"t-{agent}",
        lineage=lineage(agent),
        content=content,
        data={"language": "python", "content_kind": "code", "function_name": "word_frequencies", **data},
    )


def js_item() -> Transformed:
    return Transformed(
        id="t-translation_target",
        lineage=lineage("translation_target"),
        content=JS_TRANSLATION,
        data={
            "language": "javascript",
            "content_kind": "code",
            "function_name": "word_frequencies",
            "python_code": WF,
        },
    )


def instruction(
    itype: str,
    text: str,
    *,
    context: str = "",
    key: str | None = None,
    ident: str = "inst-1",
    **data: Any,
) -> Instruction:
    group = TYPES[itype].group.value
    return Instruction(
        id=ident,
        parent_id="t-extract_unit",
        lineage=lineage("extract_unit", itype),
        context=context,
        instruction=text,
        answer_key=key,
        data={"params": {}, "type": itype, "group": group, **data},
    )


def implement_item(ident: str = "inst-impl", **extra: Any) -> Instruction:
    data: dict[str, Any] = {
        "function_name": "word_frequencies",
        "code": "",
        "code_language": "python",
        "tests": list(WF_TESTS),
        "answer_language": "python",
        "with_tests": False,
        **extra,
    }
    return instruction(
        "implement_from_spec",
        "Write a Python function `word_frequencies(text, min_len=1)` that counts the case-insensitive words of "
        "a text (punctuation stripped from both ends), keeping words of at least min_len characters.",
        key=WF,
        ident=ident,
        **data,
    )


def debug_item(buggy: str = WF_BUGGY) -> Instruction:
    return instruction(
        "debug_fix",
        "The function `word_frequencies` below should count words case-insensitively, but some counts are "
        "wrong. Find and fix the bug.",
        context=f"```python\n{buggy}```",
        key=WF,
        function_name="word_frequencies",
        code=buggy,
        code_language="python",
        buggy_code=buggy,
        tests=list(WF_TESTS),
        answer_language="python",
        with_tests=False,
    )


def unit_test_task(mutant: str | None = WF_BUGGY) -> Instruction:
    return instruction(
        "write_unit_tests",
        "Write unit tests for `word_frequencies` below, covering case and punctuation.",
        context=f"```python\n{WF}```",
        key="\n".join(WF_TESTS),
        function_name="word_frequencies",
        code=WF,
        code_language="python",
        reference=WF,
        mutant=mutant,
        tests=list(WF_TESTS),
        answer_language="python",
    )


TRACE_PROGRAM = WF + '\nprint(word_frequencies("b a b"))\nprint(len(word_frequencies("x y")))\n'
TRACE_OUTPUT = "{'b': 2, 'a': 1}\n2"
ERROR_PROGRAM = WF + "\nprint(word_frequencies(None))\n"
ERROR_FIXED = WF + '\nprint(word_frequencies(""))\n'


def trace_item() -> Instruction:
    return instruction(
        "predict_output",
        "What does this program print?",
        context=f"```python\n{TRACE_PROGRAM}```",
        key=TRACE_OUTPUT,
        code=TRACE_PROGRAM,
        code_language="python",
        expected_output=TRACE_OUTPUT,
        answer_language="text",
    )


def error_item() -> Instruction:
    return instruction(
        "explain_error",
        "My program stops with the error below. What does it mean and how do I fix the program?",
        context=f"```python\n{ERROR_PROGRAM}```\n\nError output:\n```text\nAttributeError: 'NoneType' object has "
        "no attribute 'lower'\n```",
        key="None has no lower method.",
        code=ERROR_PROGRAM,
        code_language="python",
        error="AttributeError: 'NoneType' object has no attribute 'lower'",
        exception="AttributeError",
        answer_language="python",
    )


def read_item(itype: str = "explain_code", language: str = "python", **params: str) -> Instruction:
    code = WF if language == "python" else JS_TRANSLATION
    answer_language = normalize_language(params.get("target")) if "target" in params else language
    item = instruction(
        itype,
        "Explain what the code below does and when it would give surprising counts.",
        context=f"```{language}\n{code}```",
        key="Counts words case-insensitively.",
        code=code,
        code_language=language,
        answer_language=answer_language,
    )
    item.data["params"] = dict(params)
    return item


def candidate(item: Instruction, answer: str) -> Candidate:
    return Candidate(
        id=f"cand-{item.id}",
        instruction=item,
        messages=[
            ChatMessage(role="system", content=""),
            ChatMessage(role="user", content=CODE.user_message(item)),
            ChatMessage(role="assistant", content=answer),
        ],
    )


def answer_md(explanation: str, code: str, tag: str = "python") -> str:
    return f"{explanation}\n\n```{tag}\n{code.rstrip()}\n```"


def user_text(messages: list[dict[str, Any]]) -> str:
    return "\n".join(str(m["content"]) for m in messages)


def assert_rendered(messages: list[dict[str, str]]) -> str:
    text = user_text(messages)
    assert messages[-1]["role"] == "user"
    assert "{{" not in text and "}}" not in text and "{%" not in text and "%}" not in text
    return text


JUDGE_OK = {"score": 5, "reason": "correct and clear"}


# ----
# Description, languages, taxonomy
# ----
AGENTS = [
    "extract_unit",
    "problem_statement",
    "bug_injection",
    "test_suite",
    "translation_target",
    "api_docs",
    "identity",
]
TAXONOMY = [
    "implement_from_spec",
    "complete_partial_code",
    "debug_fix",
    "explain_code",
    "predict_output",
    "write_unit_tests",
    "refactor",
    "optimize_complexity",
    "translate_to_python",
    "translate_from_python",
    "add_documentation",
    "code_review",
    "write_regex",
    "explain_error",
]


def test_describe_lists_agents_types_languages_and_goals() -> None:
    info = get_skill("code").describe()
    assert info["name"] == "code" and info["split"] == "code_" and info["seed_kinds"] == ["code"]
    assert info["transformation_agents"] == AGENTS
    assert info["subcategories"] == TAXONOMY
    assert info["refinement_goals"] == ["second_requirement", "edge_cases", "invalid_input", "with_tests", "deeper"]
    assert set(info["executable_types"]) == {
        "implement_from_spec",
        "complete_partial_code",
        "debug_fix",
        "write_unit_tests",
        "refactor",
        "optimize_complexity",
        "translate_to_python",
        "write_regex",
    }
    assert info["languages"]["other"] == ["explain_code", "translate_to_python", "add_documentation", "code_review"]
    assert "never run" in info["language_note"]
    assert set(info["transform_contracts"]) == set(AGENTS) - {"identity"}


def test_every_type_is_reachable_and_has_a_brief() -> None:
    reachable = {name for names in TYPES_BY_AGENT.values() if names for name in names}
    reachable |= {t.name for t in CODE_TYPES}  # extract_unit and identity allow every type of their language
    assert reachable == set(TAXONOMY)
    for itype in CODE_TYPES:
        assert len(itype.description) > 40 and itype.answer_format and itype.params
        if itype.group is Group.TESTED:
            assert itype.shown_code, itype.name
    assert set(EXECUTABLE_TYPES) == {t.name for t in CODE_TYPES if t.group in (Group.TESTED, Group.TEST_WRITING)}


@pytest.mark.parametrize(
    ("language", "uri", "text", "expected"),
    [
        ("python", "x.txt", "x = 1", "python"),
        (None, "src/app.ts", "let x = 1;", "typescript"),
        (None, "lib/core.rs", "fn main() {}", "rust"),
        (None, "noext", "def f():\n    return 1\n", "python"),
        (None, "noext", "just some words", "unknown"),
        ("C++", "a", "int main() {}", "cpp"),
    ],
)
def test_seed_language(language: str | None, uri: str, text: str, expected: str) -> None:
    assert seed_language(make_seed(0, text, uri, language)) == expected


def test_non_python_seeds_get_two_agents_and_four_types() -> None:
    picked = Counter(CODE.pick_transform_agents(make_seed(i, JS_SEED_TEXT, "a.js", None))[0].name for i in range(60))
    assert set(picked) == {"extract_unit", "identity"}
    item = Transformed(
        id="t-js",
        lineage=lineage("identity", uri="a.js"),
        content=JS_SEED_TEXT,
        data={"language": "javascript", "content_kind": "code"},
    )
    assert [t.name for t in CODE.candidate_types(item)] == list(NON_PYTHON_TYPES)
    for itype, params in CODE.pick_instruction_types(item, FlowConfig(max_instruction_types=4)):
        if itype.name == "add_documentation":
            assert params["kind"] == "doc comments"
    python_picks = Counter(CODE.pick_transform_agents(make_seed(i))[0].name for i in range(300))
    assert set(python_picks) == set(AGENTS)


def test_types_follow_the_agent_and_the_language() -> None:
    assert [t.name for t in CODE.candidate_types(python_item("bug_injection"))] == [
        "debug_fix",
        "code_review",
        "explain_error",
    ]
    foreign = [t.name for t in CODE.candidate_types(js_item())]
    assert foreign == ["explain_code", "translate_to_python", "add_documentation", "code_review"]
    python = {t.name for t in CODE.candidate_types(python_item("extract_unit"))}
    assert "translate_to_python" not in python and "predict_output" in python and len(python) == 13


def test_non_code_seeds_do_not_apply() -> None:
    assert CODE.applies_to(make_seed(0))
    text_seed = Seed(id="t", text="Plain prose.", source=SeedSource(uri="a.txt", kind="text"))
    assert not CODE.applies_to(text_seed)
    unknown = Seed(id="u", text="key: value\nother: 2\n", source=SeedSource(uri="conf", kind="code"))
    assert not CODE.applies_to(unknown)


def test_unit_choice_is_deterministic_and_sized() -> None:
    helpers = "\n\n".join(f"def helper_{i}(x):\n    y = x + {i}\n    z = y * 2\n    return z\n" for i in range(6))
    seed_text = f"def tiny():\n    pass\n\n{helpers}"
    choices = {choose_unit(make_seed(i, seed_text), "python")[0] for i in range(40)}
    assert choices <= {f"helper_{i}" for i in range(6)} and len(choices) > 2
    assert choose_unit(make_seed(7, seed_text), "python") == choose_unit(make_seed(7, seed_text), "python")


def test_identifier_and_test_cleaning() -> None:
    assert clean_identifier("`word_frequencies(text)`") == "word_frequencies"
    assert clean_identifier("Counter.most_common") == "most_common"
    assert clean_identifier("not a name") is None
    raw = [
        "```python\nassert word_frequencies('a') == {'a': 1}\n```",
        "assert word_frequencies('a') == {'a': 1}",
        "assert other('a')",
        "assert word_frequencies(",
    ]
    assert clean_tests(raw, "word_frequencies") == ["assert word_frequencies('a') == {'a': 1}"]


# ----
# Transformation agents
# ----
def realistic_transform(name: str) -> dict[str, Any]:
    replies: dict[str, dict[str, Any]] = {
        "extract_unit": {"name": "word_frequencies", "code": WF, "summary": "Counts the words of a text."},
        "problem_statement": {
            "title": "Word frequencies",
            "function_name": "word_frequencies",
            "signature": "def word_frequencies(text: str, min_len: int = 1) -> dict[str, int]",
            "statement": "Count how often each word occurs in a text, ignoring case and the punctuation at the ends "
            "of words.\n\nInput: text, a string; min_len, the minimum length of a counted word.\nOutput: a dict "
            'from each word to its count.\nExamples:\n- word_frequencies("a b a") returns {"a": 2, "b": 1}\n'
            '- word_frequencies("") returns {}',
        },
        "bug_injection": {
            "function_name": "word_frequencies",
            "correct_code": WF,
            "buggy_code": WF_BUGGY,
            "bugs": ["the text is not lower-cased, so 'Hi' and 'hi' are counted apart"],
        },
        "test_suite": {"function_name": "word_frequencies", "code": WF, "tests": [*WF_TESTS, WRONG_TEST]},
        "translation_target": {
            "function_name": "word_frequencies",
            "python_code": WF,
            "translated_code": JS_TRANSLATION,
        },
        "api_docs": {
            "function_name": "word_frequencies",
            "title": "word_frequencies",
            "documentation": "`word_frequencies(text, min_len=1)` counts the words of a text, case-insensitively.\n\n"
            "Parameters:\n- text (str): the text.\n- min_len (int): shortest word counted.\n\nReturns:\n- dict[str, "
            "int]: each word and its count.\n\nExample: word_frequencies('a b a') gives {'a': 2, 'b': 1}.",
        },
    }
    return replies[name]


LLM_AGENTS = [agent.name for agent in CODE_AGENTS]


@pytest.mark.parametrize("name", LLM_AGENTS)
def test_transform_prompt_renders_in_full(name: str) -> None:
    seed = seed_for_agent(name)
    agent = CODE.agent(name)
    text = assert_rendered(agent.render(seed, CODE))  # type: ignore[attr-defined]
    unit = SEED_TEXT[SEED_TEXT.index("def word_frequencies") :].rstrip()
    assert unit in text
    assert "the unit `word_frequencies`" in text and "pkg/words.py" in text and "Python code" in text
    assert 'Return "' in text
    params = agent.choose_params(seed)  # type: ignore[attr-defined]
    for value in params.values():
        assert (language_name(value) if name == "translation_target" else value) in text
    if name == "extract_unit":
        assert "import requests" in text and "standard library" in text


@pytest.mark.parametrize("name", LLM_AGENTS)
async def test_transform_stage_parses_a_realistic_output(name: str) -> None:
    seed = seed_for_agent(name)
    llm = FakeLLM(replies={f"code/transform_{name}": realistic_transform(name)})
    result = await transform_seed(seed, [CODE], StageContext(llm=llm))
    assert result.rejections == []
    [out] = result.outputs
    assert out.lineage.transform_agent == name and out.lineage.split == "code_"
    assert out.data["function_name"] == "word_frequencies"
    assert out.data["unit"] == "word_frequencies" and "params" in out.data
    assert llm.calls[0].role is Role.TRANSFORM
    if name == "test_suite":
        assert out.data["tests"] == WF_TESTS and out.data["tests_dropped"] == 1
        assert WRONG_TEST not in out.content and "# Tests" in out.content
    elif name == "bug_injection":
        assert out.content == WF_BUGGY.rstrip() and out.data["correct_code"] == WF.rstrip()
    elif name == "translation_target":
        assert out.data["language"] in ("javascript", "typescript", "go", "rust", "java", "cpp", "csharp")
        assert out.data["python_code"] == WF.rstrip()
    elif name in ("problem_statement", "api_docs"):
        assert out.data["content_kind"] == "text" and "word_frequencies" in out.content


async def test_identity_passes_the_seed_through_with_its_language() -> None:
    seed = seed_for_agent("identity")
    result = await transform_seed(seed, [CODE], StageContext(llm=FakeLLM()))
    [out] = result.outputs
    assert out.content == SEED_TEXT and out.data["language"] == "python"


@pytest.mark.parametrize(
    ("name", "reply", "fragment"),
    [
        ("extract_unit", {"name": "word_frequencies", "code": "import numpy\n" + WF, "summary": "s"}, "numpy"),
        ("extract_unit", {"name": "word_frequencies", "code": "def other():\n    pass\n", "summary": "s"}, "define"),
        ("extract_unit", {"name": "not valid", "code": WF, "summary": "s"}, "invalid unit name"),
        (
            "bug_injection",
            {"function_name": "word_frequencies", "correct_code": WF, "buggy_code": WF, "bugs": ["x"]},
            "the same",
        ),
        (
            "test_suite",
            {"function_name": "word_frequencies", "code": WF, "tests": [WRONG_TEST]},
            "no test passes the extracted code",
        ),
        (
            "translation_target",
            {"function_name": "word_frequencies", "python_code": WF, "translated_code": WF},
            "still Python",
        ),
        (
            "problem_statement",
            {
                "title": "t",
                "function_name": "word_frequencies",
                "signature": "s",
                "statement": "word_frequencies " * 20,
            },
            "no input, output, example part",
        ),
        (
            "api_docs",
            {"function_name": "word_frequencies", "title": "t", "documentation": "Too short."},
            "fewer than 150",
        ),
    ],
)
async def test_transform_contract_violations_are_rejected(name: str, reply: dict[str, Any], fragment: str) -> None:
    seed = seed_for_agent(name)
    result = await transform_seed(seed, [CODE], StageContext(llm=FakeLLM(replies={f"code/transform_{name}": reply})))
    assert result.outputs == []
    [rejection] = result.rejections
    assert rejection.reason == "agent.unusable_output"
    assert fragment in rejection.detail and rejection.lineage.transform_agent == name


@pytest.mark.parametrize("name", LLM_AGENTS)
@pytest.mark.parametrize("raw", [MALFORMED, TRUNCATED], ids=["malformed", "truncated"])
async def test_transform_bad_json_becomes_a_schema_rejection(name: str, raw: str) -> None:
    seed = seed_for_agent(name)
    result = await transform_seed(seed, [CODE], StageContext(llm=FakeLLM(replies={f"code/transform_{name}": raw})))
    assert result.outputs == []
    [rejection] = result.rejections
    assert rejection.reason == "llm.schema_invalid" and rejection.item["raw_output"] == raw


# ----
# Task writers (one per type)
# ----
def realistic_task(itype: CodeType) -> dict[str, Any]:
    tests = [*WF_TESTS, WRONG_TEST]
    tested: dict[str, dict[str, Any]] = {
        "implement_from_spec": {"code": ""},
        "complete_partial_code": {
            "code": "def word_frequencies(text, min_len=1):\n    counts = {}\n    # TODO\n    return counts\n"
        },
        "debug_fix": {"code": WF_BUGGY},
        "refactor": {"code": WF.replace("counts", "c")},
        "optimize_complexity": {"code": WF},
        "translate_to_python": {"code": ""},
    }
    if itype.name == "write_regex":
        solution = 'import re\n\n\ndef find_words(text):\n    return re.findall(r"[a-z]+", text.lower())\n'
        return {
            "instruction": "Write `find_words(text)` that uses re to return the lower-cased words of a text.",
            "function_name": "find_words",
            "code": "",
            "solution": solution,
            "tests": ['assert find_words("Hi, you") == ["hi", "you"]', "assert find_words('') == []"],
        }
    if itype.group is Group.TESTED:
        return {
            "instruction": f"Task for {itype.name}: write `word_frequencies(text, min_len=1)` counting words.",
            "function_name": "word_frequencies",
            "solution": WF,
            "tests": tests,
            **tested[itype.name],
        }
    if itype.group is Group.TEST_WRITING:
        return {
            "instruction": "Write unit tests for `word_frequencies` below, covering case and punctuation.",
            "function_name": "word_frequencies",
            "code": WF,
            "buggy_code": WF_BUGGY,
            "tests": tests,
        }
    if itype.group is Group.TRACE:
        return {"instruction": "What does this program print?", "program": TRACE_PROGRAM}
    if itype.group is Group.ERROR:
        return {
            "instruction": "I ran this program and it crashed. What does the error mean and how do I fix it?",
            "program": ERROR_PROGRAM,
            "cause": "None has no lower() method; pass a string.",
        }
    return {"instruction": f"Task for {itype.name} about the code below.", "code": "", "answer": "Key points."}


@pytest.mark.parametrize("itype", CODE_TYPES, ids=lambda t: t.name)
async def test_each_type_prompt_renders_and_its_output_is_validated(itype: CodeType) -> None:
    item = js_item() if itype.languages == "foreign" else python_item()
    params = itype.fill_params(random.Random(itype.name))
    text = assert_rendered(CODE.render_suggest(item, itype, params, 2))
    assert item.content.rstrip() in text
    assert f"Task type: {itype.name}" in text
    assert itype.description in text and itype.answer_format in text
    for key, value in params.items():
        assert f"- {key}: {value}" in text
    if itype.example:
        assert itype.example in text
    if itype.group in (Group.TESTED, Group.TEST_WRITING):
        assert '"tests"' in text and "`word_frequencies`" in text
    if itype.name == "translate_to_python":
        assert "correct reference solution" in text and WF.rstrip() in text  # the note for the task writer

    llm = FakeLLM(replies={"code/suggest": {"tasks": [realistic_task(itype)]}})
    calls = Calls()
    [draft] = await CODE.suggest(item, itype, params, StageContext(llm=llm), calls)
    assert len(calls.records) == 1 and llm.calls[0].role is Role.SUGGEST
    assert draft.data["params"] == params and draft.data["type"] == itype.name
    assert draft.data["group"] == itype.group.value
    if itype.group is Group.TESTED:
        assert WRONG_TEST not in draft.data["tests"] and draft.data["tests"]
        assert draft.answer_key and draft.data["answer_language"] == "python"
        if itype.name != "write_regex":
            assert draft.data["tests"] == WF_TESTS and draft.data["tests_dropped"] == 1
    if itype.name == "debug_fix":
        assert draft.data["buggy_code"] == WF_BUGGY.rstrip() and WF_BUGGY.rstrip() in draft.context
    if itype.name == "translate_to_python":
        assert draft.context.startswith("```javascript") and draft.answer_key == WF.rstrip()
    if itype.group is Group.TEST_WRITING:
        assert draft.data["mutant"] == WF_BUGGY.rstrip() and draft.data["reference"] == WF.rstrip()
        assert draft.answer_key == "\n".join(WF_TESTS)
    if itype.group is Group.TRACE:
        assert draft.answer_key == TRACE_OUTPUT and draft.data["answer_language"] == "text"
    if itype.group is Group.ERROR:
        assert "AttributeError" in draft.data["error"] and "Error output:" in draft.context
        assert draft.data["exception"] == "AttributeError" and draft.answer_key
    if itype.group is Group.READ:
        assert draft.context.startswith("```") and draft.answer_key == "Key points."


@pytest.mark.parametrize(
    ("itype", "task", "fragment"),
    [
        (
            "implement_from_spec",
            {"function_name": "word_frequencies", "code": "", "solution": WF, "tests": [WRONG_TEST]},
            "no test passes the reference solution",
        ),
        (
            "implement_from_spec",
            {"function_name": "word_frequencies", "code": "", "solution": "import numpy\n" + WF, "tests": WF_TESTS},
            "outside the standard library",
        ),
        (
            "implement_from_spec",
            {
                "function_name": "word_frequencies",
                "code": "",
                "solution": "raise RuntimeError('x')\n" + WF,
                "tests": WF_TESTS,
            },
            "does not load",
        ),
        (
            "debug_fix",
            {
                "function_name": "word_frequencies",
                "code": WF.replace("{}", "dict()"),
                "solution": WF,
                "tests": WF_TESTS,
            },
            "the buggy code passes every test",
        ),
        (
            "debug_fix",
            {"function_name": "word_frequencies", "code": "", "solution": WF, "tests": WF_TESTS},
            "needs the code shown",
        ),
        (
            "implement_from_spec",
            {"function_name": "word_frequencies", "code": "", "solution": WF, "tests": ["assert other(1)"]},
            "no test compiles and calls",
        ),
    ],
)
async def test_suggest_rejects_unverifiable_tasks(itype: str, task: dict[str, Any], fragment: str) -> None:
    reply = {"tasks": [{"instruction": "Write `word_frequencies(text)` that counts the words.", **task}]}
    llm = FakeLLM(replies={"code/suggest": reply})
    with pytest.raises(Exception) as info:
        await CODE.suggest(python_item(), TYPES[itype], {}, StageContext(llm=llm), Calls())
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("itype", "task", "fragment"),
    [
        ("predict_output", {"program": "import random\nprint(random.random())\n"}, "may not be deterministic"),
        ("predict_output", {"program": "x = 1\n"}, "prints nothing"),
        ("predict_output", {"program": "print(1 / 0)\n"}, "does not run cleanly"),
        ("explain_error", {"program": "print('fine')\n", "cause": "c"}, "runs without an error"),
        ("explain_error", {"program": "while True:\n    pass\n", "cause": "c"}, "stopped by the sandbox"),
    ],
)
async def test_programs_are_run_in_the_sandbox_at_suggest_time(itype: str, task: dict[str, Any], fragment: str) -> None:
    reply = {"tasks": [{"instruction": "What happens when this program runs?", **task}]}
    llm = FakeLLM(replies={"code/suggest": reply})
    ctx = StageContext(llm=llm, config=FlowConfig(sandbox_timeout_s=1.0))
    with pytest.raises(Exception) as info:
        await CODE.suggest(python_item(), TYPES[itype], {}, ctx, Calls())
    assert fragment in str(info.value)


def suggest_script(role: Role, messages: list[dict[str, Any]], prompt: str) -> dict[str, Any]:
    text = user_text(messages)
    name = text.split("Task type: ", 1)[1].split("\n", 1)[0]
    return {"tasks": [realistic_task(TYPES[name])]}


async def test_suggest_stage_builds_validated_instructions() -> None:
    item = python_item()
    ctx = StageContext(llm=FakeLLM(script=suggest_script), config=FlowConfig(max_instruction_types=3))
    result = await suggest_instructions(item, CODE, ctx)
    assert result.rejections == [] and len(result.outputs) == 3
    for inst in result.outputs:
        assert inst.lineage.instruction_type == inst.data["type"]
        assert inst.lineage.prompt_versions["code/suggest"] == load_prompt("code/suggest").ref


async def test_suggest_stage_turns_an_unverifiable_task_into_a_reasoned_rejection() -> None:
    reply = {
        "tasks": [
            {
                "instruction": "Write `word_frequencies(text)` that counts the words.",
                "function_name": "word_frequencies",
                "code": "",
                "solution": WF,
                "tests": [WRONG_TEST],
            }
        ]
    }
    item = python_item("problem_statement", content="Count words.", content_kind="text")
    ctx = StageContext(llm=FakeLLM(replies={"code/suggest": reply}), config=FlowConfig(max_instruction_types=1))
    result = await suggest_instructions(item, CODE, ctx)
    [rejection] = result.rejections
    assert rejection.reason == "agent.unusable_output"
    assert rejection.detail.endswith("no test passes the reference solution")


@pytest.mark.parametrize("raw", [MALFORMED, '{"tasks": [{"instruction": "Write a fun'], ids=["malformed", "truncated"])
async def test_suggest_stage_bad_json_becomes_schema_rejections(raw: str) -> None:
    ctx = StageContext(llm=FakeLLM(replies={"code/suggest": raw}))
    result = await suggest_instructions(python_item(), CODE, ctx)
    assert result.outputs == [] and len(result.rejections) == 3
    assert {r.reason for r in result.rejections} == {"llm.schema_invalid"}
    assert all(r.subcategory for r in result.rejections)


# ----
# Refinement
# ----
def test_refine_prompts_render_in_full() -> None:
    item = implement_item()
    suggester = load_prompt(CODE.refine_suggest_prompt)
    text = assert_rendered(suggester.render(skill=CODE, item=item, user_message=CODE.user_message(item), count=2))
    assert item.instruction in text and "implement_from_spec" in text and "Propose 2 suggestion" in text
    for goal in ("second_requirement", "edge_cases", "invalid_input", "with_tests"):
        assert f"- {goal}:" in text
    assert "- deeper:" not in text and WF.strip() not in text  # the suggester does not see the reference

    edit = assert_rendered(CODE.render_edit(item, "invalid_input", "Raise ValueError for non-strings."))
    assert "Raise ValueError for non-strings." in edit and "Goal: invalid_input" in edit
    assert WF.rstrip() in edit and all(test in edit for test in WF_TESTS)
    assert "Keep the function name `word_frequencies`" in edit and '"tests"' in edit

    read = read_item()
    read_text = assert_rendered(suggester.render(skill=CODE, item=read, user_message=CODE.user_message(read), count=1))
    assert "- deeper:" in read_text and "- invalid_input:" not in read_text
    read_edit = assert_rendered(CODE.render_edit(read, "deeper", "Ask for the complexity."))
    assert '"answer"' in read_edit and "Reference solution" not in read_edit

    trace_edit = assert_rendered(CODE.render_edit(trace_item(), "deeper", "Add a call."))
    assert '"program"' in trace_edit and "deterministic" in trace_edit


def test_goals_depend_on_the_group() -> None:
    assert [g.name for g in CODE.goals_for(implement_item())] == [
        "second_requirement",
        "edge_cases",
        "invalid_input",
        "with_tests",
    ]
    assert [g.name for g in CODE.goals_for(implement_item(with_tests=True))] == [
        "second_requirement",
        "edge_cases",
        "invalid_input",
    ]
    assert [g.name for g in CODE.goals_for(trace_item())] == ["deeper"]
    assert not CODE.accept_suggestion(read_item(), "invalid_input", 0)
    assert CODE.accept_suggestion(read_item(), "deeper", 1)


async def test_exec_edit_is_revalidated_in_the_sandbox() -> None:
    reply = {
        "instruction": "Write `word_frequencies(text, min_len=1)`; raise ValueError when text is not a string.",
        "code": "",
        "solution": WF_VALIDATED,
        "tests": [*WF_TESTS, INVALID_TEST, WRONG_TEST],
    }
    llm = FakeLLM(replies={"code/refine_edit": reply})
    draft = await CODE.edit(implement_item(), "invalid_input", "Raise ValueError.", StageContext(llm=llm), Calls())
    assert draft.data["tests"] == [*WF_TESTS, INVALID_TEST] and draft.data["tests_dropped"] == 1
    assert draft.answer_key == WF_VALIDATED.rstrip() and draft.data["refinement_goal"] == "invalid_input"
    assert llm.calls[0].role is Role.EDIT and llm.calls[0].schema == "ExecEdit"


@pytest.mark.parametrize(
    ("goal", "reply", "fragment"),
    [
        (
            "invalid_input",
            {"instruction": "Also raise ValueError for bad input.", "code": "", "solution": WF, "tests": WF_TESTS},
            "adds no passing test for the new requirement",
        ),
        (
            "edge_cases",
            {"instruction": "Also handle huge inputs quickly.", "code": "", "solution": WF, "tests": [WRONG_TEST]},
            "no test passes the reference solution",
        ),
        (
            "edge_cases",
            {"instruction": implement_item().instruction, "code": "", "solution": WF, "tests": WF_TESTS},
            "did not change the task",
        ),
    ],
)
async def test_exec_edits_that_cannot_be_verified_are_rejected(goal: str, reply: dict[str, Any], fragment: str) -> None:
    llm = FakeLLM(replies={"code/refine_edit": reply})
    with pytest.raises(Exception) as info:
        await CODE.edit(implement_item(), goal, "a suggestion", StageContext(llm=llm), Calls())
    assert fragment in str(info.value)


async def test_debug_edit_must_keep_a_failing_buggy_version() -> None:
    reply = {
        "instruction": "Fix the function; it must also skip empty words.",
        "code": WF,
        "solution": WF,
        "tests": WF_TESTS,
    }
    llm = FakeLLM(replies={"code/refine_edit": reply})
    with pytest.raises(Exception, match="the buggy code passes every test"):
        await CODE.edit(debug_item(), "edge_cases", "Skip empty words.", StageContext(llm=llm), Calls())


async def test_trace_edit_recomputes_the_output_in_the_sandbox() -> None:
    program = TRACE_PROGRAM + 'print(word_frequencies("z z z"))\n'
    llm = FakeLLM(
        replies={"code/refine_edit": {"instruction": "What does this longer program print?", "program": program}}
    )
    draft = await CODE.edit(trace_item(), "deeper", "Add a call.", StageContext(llm=llm), Calls())
    assert draft.answer_key == TRACE_OUTPUT + "\n{'z': 3}" and draft.data["expected_output"] == draft.answer_key


def good_answer(code: str = WF, explanation: str = EXPLANATION) -> dict[str, str]:
    return {"explanation": explanation, "code": code}


async def test_refine_and_answer_keeps_seed_and_verified_edits_without_showing_the_reference() -> None:
    edits: list[Any] = [
        {
            "instruction": "Write `word_frequencies(text, min_len=1)`; raise ValueError when text is not a string.",
            "code": "",
            "solution": WF_VALIDATED,
            "tests": [*WF_TESTS, INVALID_TEST],
        },
        {
            "instruction": "Write `word_frequencies(text, min_len=1)` and also unit tests as test_ functions.",
            "code": "",
            "solution": WF,
            "tests": WF_TESTS,
        },
    ]

    def teacher(role: Role, messages: list[dict[str, Any]], prompt: str) -> dict[str, Any]:
        text = user_text(messages)
        if prompt.startswith("code/critique"):
            return {"flaws": [], "verdict": "ok"}
        code = WF_VALIDATED if "ValueError" in text else WF
        if "test functions named test_" in text:
            code += "\n\n" + WF_TEST_FUNCTIONS
        return good_answer(code)

    llm = FakeLLM(
        replies={
            "code/refine_suggest": {
                "suggestions": [
                    {"goal": "invalid_input", "suggestion": "Raise ValueError for non-strings."},
                    {"goal": "with_tests", "suggestion": "Ask for tests."},
                ]
            },
            "code/refine_edit": edits,
        },
        script=teacher,
    )
    result = await refine_and_answer(implement_item(), CODE, StageContext(llm=llm))
    assert result.rejections == []
    assert len(result.outputs) == 3
    paths = sorted(tuple(c.lineage.refinement_path) for c in result.outputs)
    assert paths == [(), ("invalid_input",), ("with_tests",)]
    with_tests = next(c for c in result.outputs if c.lineage.refinement_path == ["with_tests"])
    assert with_tests.instruction.data["with_tests"] is True
    for call in llm.calls:
        if call.role is Role.TEACHER:
            text = user_text(call.messages)
            assert "counts[word] = counts.get(word, 0) + 1" not in text.split("Answer to review:")[0]
    for cand in result.outputs:
        checks = await CODE.check(cand, StageContext(llm=llm), Calls())
        assert all(c.passed for c in checks), checks


async def test_editor_bad_json_is_a_schema_rejection_and_the_seed_is_kept() -> None:
    llm = FakeLLM(
        replies={
            "code/refine_suggest": {"suggestions": [{"goal": "edge_cases", "suggestion": "Handle empty text."}]},
            "code/refine_edit": MALFORMED,
            "code/critique": {"flaws": [], "verdict": "ok"},
            "code/teacher": good_answer(),
        }
    )
    result = await refine_and_answer(implement_item(), CODE, StageContext(llm=llm))
    assert len(result.outputs) == 1
    [rejection] = result.rejections
    assert rejection.reason == "llm.schema_invalid" and rejection.stage == "refine"


@pytest.mark.parametrize(
    ("prompt", "raw"),
    [
        ("code/refine_suggest", MALFORMED),
        ("code/teacher", MALFORMED),
        ("code/teacher", '{"explanation": "The function", "code": "def word_'),
        ("code/critique", MALFORMED),
    ],
)
async def test_suggester_teacher_and_critic_bad_json_are_schema_rejections(prompt: str, raw: str) -> None:
    replies: dict[str, Any] = {
        "code/refine_suggest": {"suggestions": [{"goal": "edge_cases", "suggestion": "x"}]},
        "code/refine_edit": {"instruction": "Also handle empty text.", "code": "", "solution": WF, "tests": WF_TESTS},
        "code/teacher": good_answer(),
        "code/critique": {"flaws": [], "verdict": "ok"},
    }
    replies[prompt] = raw
    result = await refine_and_answer(implement_item(), CODE, StageContext(llm=FakeLLM(replies=replies)))
    assert result.rejections and {r.reason for r in result.rejections} == {"llm.schema_invalid"}
    assert all(r.lineage.skill == "code" for r in result.rejections)


# ----
# Teacher
# ----
def test_teacher_prompt_renders_in_full_without_the_reference() -> None:
    item = implement_item()
    text = assert_rendered(CODE.render_teacher(item))
    assert item.instruction in text and "Task type: implement_from_spec" in text
    assert TYPES["implement_from_spec"].answer_format in text
    assert "defines `word_frequencies`" in text and "Hidden unit tests" in text
    assert '"explanation"' in text and '"code"' in text
    assert WF.strip() not in text and WF_TESTS[0] not in text

    trace = assert_rendered(CODE.render_teacher(trace_item()))
    assert TRACE_PROGRAM.strip() in trace and "exactly what the program prints" in trace
    assert TRACE_OUTPUT not in trace

    writing = assert_rendered(CODE.render_teacher(unit_test_task()))
    assert "already defined" in writing and WF_BUGGY.strip() not in writing

    js = assert_rendered(CODE.render_teacher(read_item("translate_from_python", target="Go")))
    assert "complete Go translation" in js


def test_render_code_answer_is_markdown_with_one_block() -> None:
    item = implement_item()
    md = CODE.render_answer(item, CodeAnswer(explanation=" Why. ", code="```python\nx = 1\n```"))
    assert md == "Why.\n\n```python\nx = 1\n```"
    assert CODE.render_answer(trace_item(), CodeAnswer(explanation="Trace.", code="1\n2")).endswith(
        "```text\n1\n2\n```"
    )
    assert CODE.render_answer(item, CodeAnswer(explanation="Only prose.", code="  ")) == "Only prose."
    generic = CODE.render_answer(item, TeacherAnswer(reasoning="Because.", answer="x = 1"))
    assert generic == "Because.\n\n```python\nx = 1\n```"
    assert "````python" in CODE.render_answer(item, CodeAnswer(explanation="e", code='s = """```"""'))


async def test_teacher_runs_the_code_before_critique_and_feeds_the_failures() -> None:
    llm = FakeLLM(
        replies={
            "code/teacher": good_answer(WF_BUGGY),
            "code/critique": {"flaws": [], "verdict": "ok"},
            "code/revise": good_answer(WF),
        }
    )
    output = await CODE.answer(implement_item(), StageContext(llm=llm), calls := Calls())
    assert llm.prompts_called() == ["code/teacher", "code/critique", "code/revise"]
    assert len(calls.records) == 3
    critique = user_text(llm.calls[1].messages)
    assert "tests_pass: FAILED" in critique and "AssertionError" in critique and 'verdict is "revise"' in critique
    revise = user_text(llm.calls[2].messages)
    assert "Failures when the code was run in a sandbox" in revise and "tests_pass" in revise
    [turn] = output.turns
    assert turn["role"] == "assistant" and turn["content"].endswith(f"```python\n{WF.rstrip()}\n```")
    rounds = output.data["sandbox"]
    assert rounds[0]["checks"]["skill.tests_pass"] is False and rounds[-1]["round"] == "final"
    assert rounds[-1]["checks"]["skill.tests_pass"] is True and output.data["reflection"][0]["revised"] is True


async def test_a_passing_answer_is_kept_when_the_critic_agrees() -> None:
    llm = FakeLLM(replies={"code/teacher": good_answer(), "code/critique": {"flaws": [], "verdict": "ok"}})
    output = await CODE.answer(implement_item(), StageContext(llm=llm), Calls())
    assert llm.prompts_called() == ["code/teacher", "code/critique"]
    assert "tests_pass: passed" in user_text(llm.calls[1].messages)
    assert output.data["reflection"] == [{"flaws": [], "failures": [], "revised": False}]
    assert [r["round"] for r in output.data["sandbox"]] == [0]


async def test_trace_critique_does_not_see_the_expected_output() -> None:
    llm = FakeLLM(
        replies={
            "code/teacher": good_answer("{'b': 2, 'a': 1}\n3", "Trace: the first call counts b twice."),
            "code/critique": {"flaws": ["the second line is wrong"], "verdict": "revise"},
            "code/revise": good_answer(TRACE_OUTPUT, "Trace: the second call has two words."),
        }
    )
    output = await CODE.answer(trace_item(), StageContext(llm=llm), Calls())
    critique = user_text(llm.calls[1].messages)
    assert "output_block: passed" in critique and "output_matches" not in critique
    assert output.turns[0]["content"].endswith(f"```text\n{TRACE_OUTPUT}\n```")


# ----
# Checks (through the validate stage)
# ----
async def validate(item: Instruction, answer: str, judge: Any = JUDGE_OK) -> tuple[Pair | Rejection, FakeLLM]:
    llm = FakeLLM(replies={"common/judge": judge})
    outcome = await validate_candidate(candidate(item, answer), CODE, StageContext(llm=llm), MemoryDedup())
    return outcome, llm


async def test_a_passing_implementation_is_accepted() -> None:
    outcome, llm = await validate(implement_item(), answer_md(EXPLANATION, WF))
    assert isinstance(outcome, Pair), outcome
    names = [c.name for c in outcome.checks if c.name.startswith("skill.")]
    assert names == ["skill.code_block", "skill.code_compiles", "skill.defines_function", "skill.tests_pass"]
    assert outcome.split == "code_" and outcome.subcategory == "implement_from_spec"
    assert llm.prompts_called() == ["common/judge"]


@pytest.mark.parametrize(
    ("answer", "reason", "fragment"),
    [
        (answer_md(EXPLANATION, WF_BUGGY), "skill.tests_pass", "AssertionError"),
        (
            answer_md(EXPLANATION, "import sys\nsys.stderr.write('bad config\\n')\nraise RuntimeError('no')\n" + WF),
            "skill.tests_pass",
            "stderr: bad config",
        ),
        (answer_md(EXPLANATION, "def word_frequencies(text:\n    pass\n"), "skill.code_compiles", "SyntaxError"),
        (EXPLANATION, "skill.code_block", "missing"),
        (answer_md(EXPLANATION, "def count_words(text):\n    return {}\n"), "skill.defines_function", "not defined"),
    ],
)
async def test_failing_implementations_are_rejected_with_the_check_name(
    answer: str, reason: str, fragment: str
) -> None:
    outcome, llm = await validate(implement_item(), answer)
    assert isinstance(outcome, Rejection)
    assert outcome.reason == reason and fragment in outcome.detail
    assert "common/judge" not in llm.prompts_called()


async def test_debug_fix_needs_the_fix_to_pass_and_the_bug_to_fail() -> None:
    outcome, _llm = await validate(debug_item(), answer_md(EXPLANATION, WF))
    assert isinstance(outcome, Pair)
    assert next(c for c in outcome.checks if c.name == "skill.buggy_fails").passed
    harmless = WF.replace("{}", "dict()")
    outcome, _llm = await validate(debug_item(harmless), answer_md(EXPLANATION, WF))
    assert isinstance(outcome, Rejection) and outcome.reason == "skill.buggy_fails"
    assert "passes all 3 tests" in outcome.detail


async def test_items_refined_with_tests_need_the_answers_own_tests() -> None:
    item = implement_item(with_tests=True)
    outcome, _llm = await validate(item, answer_md(EXPLANATION, WF))
    assert isinstance(outcome, Rejection) and outcome.reason == "skill.own_tests"
    own_failing = WF + "\n\ndef test_wrong():\n    assert word_frequencies('a') == {}\n"
    outcome, _llm = await validate(item, answer_md(EXPLANATION, own_failing))
    assert isinstance(outcome, Rejection) and outcome.reason == "skill.tests_pass"
    outcome, _llm = await validate(item, answer_md(EXPLANATION, WF + "\n\n" + WF_TEST_FUNCTIONS))
    assert isinstance(outcome, Pair)


async def test_written_tests_must_pass_on_the_reference_and_catch_the_bug() -> None:
    outcome, _llm = await validate(unit_test_task(), answer_md("Tests for case and punctuation.", WF_TEST_FUNCTIONS))
    assert isinstance(outcome, Pair)
    assert next(c for c in outcome.checks if c.name == "skill.tests_catch_bug").passed
    weak = "def test_empty():\n    assert word_frequencies('') == {}\n"
    outcome, _llm = await validate(unit_test_task(), answer_md("Tests.", weak))
    assert isinstance(outcome, Rejection) and outcome.reason == "skill.tests_catch_bug"
    wrong = "def test_wrong():\n    assert word_frequencies('a a') == {'a': 1}\n"
    outcome, _llm = await validate(unit_test_task(), answer_md("Tests.", wrong))
    assert isinstance(outcome, Rejection) and outcome.reason == "skill.tests_pass"
    outcome, _llm = await validate(unit_test_task(), answer_md("Tests.", WF + "\n" + WF_TEST_FUNCTIONS))
    assert isinstance(outcome, Rejection) and outcome.reason == "skill.tests_use_reference"
    outcome, _llm = await validate(unit_test_task(), answer_md("Tests.", "x = 1\n"))
    assert isinstance(outcome, Rejection) and outcome.reason == "skill.has_tests"
    outcome, _llm = await validate(unit_test_task(mutant=None), answer_md("Tests.", weak))
    assert isinstance(outcome, Pair)


async def test_predicted_output_must_match_the_real_output() -> None:
    outcome, _llm = await validate(trace_item(), answer_md("Trace step by step.", TRACE_OUTPUT + "\n", "text"))
    assert isinstance(outcome, Pair)
    outcome, _llm = await validate(trace_item(), answer_md("Trace.", "{'b': 2, 'a': 1}\n3", "text"))
    assert isinstance(outcome, Rejection) and outcome.reason == "skill.output_matches"
    assert "expected" in outcome.detail
    outcome, _llm = await validate(trace_item(), "It prints two lines.")
    assert isinstance(outcome, Rejection) and outcome.reason == "skill.output_block"


async def test_explained_errors_need_a_fix_that_runs() -> None:
    outcome, _llm = await validate(error_item(), answer_md(EXPLANATION, ERROR_FIXED))
    assert isinstance(outcome, Pair)
    outcome, _llm = await validate(error_item(), answer_md(EXPLANATION, ERROR_PROGRAM))
    assert isinstance(outcome, Rejection) and outcome.reason == "skill.fix_runs"
    assert "AttributeError" in outcome.detail
    outcome, _llm = await validate(error_item(), answer_md("Pass a string.", ERROR_FIXED))
    assert isinstance(outcome, Rejection) and outcome.reason == "skill.answer_nontrivial"


async def test_read_tasks_static_checks() -> None:
    outcome, _llm = await validate(read_item(), EXPLANATION)
    assert isinstance(outcome, Pair)
    outcome, _llm = await validate(read_item(), "It counts words.")
    assert isinstance(outcome, Rejection) and outcome.reason == "skill.answer_nontrivial"
    outcome, _llm = await validate(read_item("code_review"), answer_md(EXPLANATION, "def broken(:\n"))
    assert isinstance(outcome, Rejection) and outcome.reason == "skill.code_compiles"
    go = read_item("translate_from_python", target="Go")
    outcome, _llm = await validate(
        go, answer_md(EXPLANATION, "func wordFrequencies(text string) map[string]int {\n\treturn nil\n}", "go")
    )
    assert isinstance(outcome, Pair)
    outcome, _llm = await validate(go, answer_md(EXPLANATION, WF, "go"))
    assert isinstance(outcome, Rejection) and outcome.reason == "skill.translated"
    outcome, _llm = await validate(go, EXPLANATION)
    assert isinstance(outcome, Rejection) and outcome.reason == "skill.code_block"


DOCUMENTED = (
    "def word_frequencies(text: str, min_len: int = 1) -> dict[str, int]:\n"
    '    """Count the words of `text` that have at least `min_len` characters."""\n' + WF.split(":\n", 1)[1]
)


@pytest.mark.parametrize(
    ("kind", "code", "reason"),
    [
        ("docstrings and type hints", DOCUMENTED, None),
        ("docstrings", WF, "skill.docs_added"),
        ("type hints", DOCUMENTED.replace("text: str", "text"), "skill.type_hints_added"),
        ("docstrings", DOCUMENTED.replace("+ 1", "+ 2"), "skill.behaviour_unchanged"),
    ],
)
async def test_documentation_must_not_change_the_code(kind: str, code: str, reason: str | None) -> None:
    item = read_item("add_documentation", kind=kind)
    outcome, _llm = await validate(item, answer_md(EXPLANATION, code))
    if reason is None:
        assert isinstance(outcome, Pair), outcome
    else:
        assert isinstance(outcome, Rejection) and outcome.reason == reason


async def test_foreign_documentation_must_add_comments() -> None:
    item = read_item("add_documentation", language="javascript", kind="doc comments")
    documented = "/** Counts the words of a text. */\n" + JS_TRANSLATION
    outcome, _llm = await validate(item, answer_md(EXPLANATION, documented, "javascript"))
    assert isinstance(outcome, Pair)
    outcome, _llm = await validate(item, answer_md(EXPLANATION, JS_TRANSLATION, "javascript"))
    assert isinstance(outcome, Rejection) and outcome.reason == "skill.docs_added"


# ----
# A run on the mock server's responders
# ----
class ResponderLLM(FakeLLM):
    """Answers every call like the mock server: the registered responder for the prompt, else schema-valid JSON."""

    async def generate(
        self,
        role: Role,
        messages: list[dict[str, Any]],
        schema: type[T],
        *,
        prompt: str,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> LLMResult[T]:
        body = {
            "messages": messages,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": schema.__name__, "schema": schema.model_json_schema()},
            },
        }
        chat = ChatRequest.from_body(body, prompt_ref=prompt)
        digest = hashlib.blake2b(json.dumps(body, sort_keys=True).encode(), digest_size=8).digest()
        rng = random.Random(int.from_bytes(digest, "big"))
        responder = RESPONDERS.get(prompt.split("@", 1)[0])
        reply = responder(chat, rng) if responder is not None else generate_json(chat.schema, rng, chat.words)
        self.replies = {prompt.split("@", 1)[0]: reply if not isinstance(reply, BaseModel) else reply.model_dump()}
        return await super().generate(role, messages, schema, prompt=prompt)


async def test_a_run_on_the_mock_responders_yields_passing_and_visibly_failing_pairs() -> None:
    import agentinstruct.testing.responders  # noqa: F401  (registers the responders)

    config = FlowConfig(max_instruction_types=3, max_instructions_per_type=1, suggestions_per_round=2)
    ctx = StageContext(llm=ResponderLLM(), config=config)
    dedup = MemoryDedup()
    pairs: list[Pair] = []
    rejections: list[Rejection] = []
    seeds = [seed_for_agent(name) for name in ("extract_unit", "bug_injection", "test_suite", "translation_target")]
    for seed in seeds:
        transformed = await transform_seed(seed, [CODE], ctx)
        rejections.extend(transformed.rejections)
        for item in transformed.outputs:
            suggested = await suggest_instructions(item, CODE, ctx)
            rejections.extend(suggested.rejections)
            for inst in suggested.outputs:
                answered = await refine_and_answer(inst, CODE, ctx)
                rejections.extend(answered.rejections)
                for cand in answered.outputs:
                    outcome = await validate_candidate(cand, CODE, ctx, dedup)
                    (pairs if isinstance(outcome, Pair) else rejections).append(outcome)  # type: ignore[arg-type]
    assert all(r.reason and r.detail for r in rejections)
    skill_checked = [p for p in pairs if any(c.name == "skill.tests_pass" and c.passed for c in p.checks)]
    assert skill_checked, Counter(r.reason for r in rejections)
    assert {p.split for p in pairs} == {"code_"}
    assert len({p.subcategory for p in pairs}) >= 2
