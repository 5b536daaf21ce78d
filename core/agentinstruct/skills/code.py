"""Coding (`code_`): code seeds become programming tasks whose answers are run against generated tests.

Based on the method doc §8.5 (a [GUESS] section: the paper gives no coding taxonomy) and the paper's mention of a
code interpreter among the agents' tools (§1.1).

Flow:
  transform  -> one agent per seed (deterministic by seed id). Python seeds: a unit of the file is chosen with
                `extract_code_units` (deterministic by seed id) and turned into a self-contained function
                (`extract_unit`), a problem statement with an input/output spec (`problem_statement`), a
                bug-injected variant with the list of its bugs (`bug_injection`), a function with a test suite
                that is run in the sandbox (`test_suite`), a translation into another language that keeps the
                Python original as reference (`translation_target`), API documentation (`api_docs`), or the
                seed unchanged (`identity`). Seeds in other languages only get `extract_unit` and `identity`.
  suggest    -> the transformation agent and the content's language decide which task types may run
                (`TYPES_BY_AGENT`, `CodeType.languages`). Executable types (implement, complete, debug,
                refactor, optimize, translate to Python, regex, write unit tests) come with a reference solution
                and assert tests; the reference is run against the tests in the sandbox, tests it fails are
                dropped, and the task is rejected when none remain. A debugging task also keeps its buggy code,
                which must fail at least one kept test. Output prediction and error explanation run their
                program in the sandbox, so the expected output and the error message are real, never invented.
  refine     -> goals: a second interacting requirement, edge cases and constraints, invalid-input handling,
                tests with the implementation (executable types), and more depth (the others). The Editor of an
                executable task returns the new reference and tests, which are validated in the sandbox again.
  teacher    -> explanation + one fenced code block (`CodeAnswer`, rendered as markdown). Before each critique,
                the answer's code is run in the sandbox against the item's tests (the flow's own use of the code
                interpreter), and the failures are given to the critique and revise prompts.
  check      -> the last code block is present and compiles; executable types: every test passes in the
                sandbox, a debugging task's buggy code fails, written tests pass on the reference and catch its
                bug; output prediction matches the real output; a fixed program runs; documentation edits leave
                the code unchanged; prose answers are not trivial.

Languages other than Python are never run: their seeds only get explain_code, code_review, add_documentation and
translate_to_python (whose Python answer is tested; the source code is not executed). No generated code is ever
executed in this process: it is only parsed (`compile`, `ast`) here and run in `agentinstruct.tools.sandbox`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import PurePosixPath
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from agentinstruct.checks import code_tests as ct
from agentinstruct.llm.base import Role
from agentinstruct.prompts import load_prompt
from agentinstruct.skills.base import (
    AgentOutputError,
    Calls,
    Critique,
    Draft,
    EditedItem,
    FlowConfig,
    InstructionType,
    RefinementGoal,
    Skill,
    StageContext,
    TeacherAnswer,
    TeacherOutput,
    TransformAgent,
    TransformOutput,
    rng_for,
)
from agentinstruct.skills.registry import register
from agentinstruct.tools.search import WHOLE_FILE, extract_code_units
from agentinstruct_schemas import Candidate, CheckResult, Instruction, Seed, Transformed

# ----
# Languages
# ----
PYTHON = "python"
UNKNOWN = "unknown"

_LANGUAGE_ALIASES: Mapping[str, str] = {
    "python": PYTHON, "py": PYTHON, "python3": PYTHON, "pyi": PYTHON, "py3": PYTHON,
    "javascript": "javascript", "js": "javascript", "jsx": "javascript", "mjs": "javascript",
    "cjs": "javascript", "node": "javascript",
    "typescript": "typescript", "ts": "typescript", "tsx": "typescript",
    "go": "go", "golang": "go",
    "rust": "rust", "rs": "rust",
    "java": "java",
    "c": "c", "h": "c",
    "cpp": "cpp", "c++": "cpp", "cc": "cpp", "cxx": "cpp", "hpp": "cpp", "hh": "cpp", "hxx": "cpp",
    "csharp": "csharp", "c#": "csharp", "cs": "csharp",
    "ruby": "ruby", "rb": "ruby",
    "php": "php",
    "kotlin": "kotlin", "kt": "kotlin", "kts": "kotlin",
    "swift": "swift",
    "scala": "scala",
    "bash": "bash", "sh": "bash", "shell": "bash", "zsh": "bash",
    "sql": "sql",
    "lua": "lua",
    "r": "r",
    "dart": "dart",
    "perl": "perl", "pl": "perl",
    "haskell": "haskell", "hs": "haskell",
}  # fmt: skip

LANGUAGE_NAMES: Mapping[str, str] = {
    PYTHON: "Python",
    "javascript": "JavaScript",
    "typescript": "TypeScript",
    "go": "Go",
    "rust": "Rust",
    "java": "Java",
    "c": "C",
    "cpp": "C++",
    "csharp": "C#",
    "ruby": "Ruby",
    "php": "PHP",
    "kotlin": "Kotlin",
    "swift": "Swift",
    "scala": "Scala",
    "bash": "Bash",
    "sql": "SQL",
    "lua": "Lua",
    "r": "R",
    "dart": "Dart",
    "perl": "Perl",
    "haskell": "Haskell",
    UNKNOWN: "the same language",
}

# Targets of the translation agent and of the translate_from_python task.
TARGET_LANGUAGES: tuple[str, ...] = ("javascript", "typescript", "go", "rust", "java", "cpp", "csharp")


def normalize_language(name: str | None) -> str | None:
    """A canonical language id (`python`, `javascript`, `cpp`...) for a name, tag or file extension."""
    if not name:
        return None
    key = name.strip().lower().lstrip(".")
    if key in _LANGUAGE_ALIASES:
        return _LANGUAGE_ALIASES[key]
    return next((lang for lang, display in LANGUAGE_NAMES.items() if display.lower() == key), None)


def seed_language(seed: Seed) -> str:
    """The seed's language: its declared language, else its file extension, else `python` if it parses as
    Python and defines something, else `unknown`."""
    declared = normalize_language(seed.source.language)
    if declared:
        return declared
    suffix = PurePosixPath(seed.source.uri.split("?", 1)[0]).suffix
    by_extension = normalize_language(suffix)
    if by_extension:
        return by_extension
    if ct.compile_error(seed.text) is None and re.search(r"^\s*(?:async\s+)?(?:def|class)\s", seed.text, re.M):
        return PYTHON
    return UNKNOWN


def language_name(language: str) -> str:
    return LANGUAGE_NAMES.get(language, language)


def fence_tag(language: str) -> str:
    return "" if language == UNKNOWN else language


def fenced(code: str, language: str) -> str:
    """`code` in a markdown fence tagged with `language`; a longer fence when the code holds one itself."""
    ticks = "````" if "```" in code else "```"
    return f"{ticks}{fence_tag(language)}\n{code.rstrip()}\n{ticks}"


# ----
# Taxonomy
# ----
class Group(StrEnum):
    """How a task is checked."""

    TESTED = "tested"  # the student writes a function; generated tests run in the sandbox
    TEST_WRITING = "test_writing"  # the student writes tests; they must pass on the reference and catch a bug
    TRACE = "trace"  # the student predicts a program's output; the key is the sandbox's real output
    ERROR = "error"  # the student explains a real error message; the fixed program must run
    READ = "read"  # explain, review, document, translate out of Python: static checks only


EXECUTABLE_GROUPS = frozenset({Group.TESTED, Group.TEST_WRITING})


class Block(StrEnum):
    """Which code block ends the answer."""

    PYTHON = "python"  # a Python block, required
    OUTPUT = "output"  # a text block with the program's output, required
    TARGET = "target"  # a block in the task's target language, required
    CONTENT = "content"  # a block in the language of the code shown, required
    OPTIONAL = "optional"  # prose; a block in the code's language is optional


@dataclass(frozen=True, slots=True)
class CodeType(InstructionType):
    """A task type: its brief, the student's answer format, how it is checked and which code it applies to.

    `languages`: `python` (Python content only), `foreign` (content in another language), or `any`.
    `shown_code`: what the task writer puts in the `code` field (the code shown to the student).
    `needs_code`: whether the task is unusable without shown code.
    """

    group: Group = Group.READ
    languages: str = PYTHON
    block: Block = Block.PYTHON
    shown_code: str = ""
    needs_code: bool = False

    @property
    def executable(self) -> bool:
        return self.group in EXECUTABLE_GROUPS

    def fits(self, language: str) -> bool:
        if self.languages == "any":
            return True
        if self.languages == PYTHON:
            return language == PYTHON
        return language != PYTHON


BUG_KINDS: tuple[str, ...] = (
    "an off-by-one error in a loop bound or an index",
    "a wrong comparison operator",
    "a wrong initial value of an accumulator",
    "a missing edge case (for example empty input)",
    "the wrong variable used in an expression",
    "a wrong value returned in one branch",
)

CODE_TYPES: tuple[CodeType, ...] = (
    CodeType(
        name="implement_from_spec",
        description="Implement a Python function from a specification in words (inputs, output, rules, edge "
        "cases) based on what the source material does; the student writes the whole function.",
        answer_format="a short explanation of the approach and its complexity, then one ```python block with the "
        "complete function",
        params={"difficulty": ("easy", "medium", "hard")},
        example="Write a function `merge_intervals(intervals)` that merges overlapping [start, end] intervals and "
        "returns them sorted by start.",
        group=Group.TESTED,
        shown_code="empty, or a stub with the signature and a docstring and `pass` as body",
    ),
    CodeType(
        name="complete_partial_code",
        description="Show a function with one part removed and marked with a `# TODO` comment; the student "
        "completes the code so that the function works.",
        answer_format="what the missing part must do, then one ```python block with the complete function",
        params={
            "missing": (
                "the body of the main loop",
                "the final return logic",
                "the handling of edge cases",
                "a helper function it calls",
            )
        },
        example="Complete `parse_duration(text)` below: the loop that reads each number and unit is missing.",
        group=Group.TESTED,
        shown_code="the solution with the missing part removed and replaced by a `# TODO` comment",
        needs_code=True,
    ),
    CodeType(
        name="debug_fix",
        description="Show a version of a function with planted bugs (without saying where they are) and say "
        "what it should do; the student finds, explains and fixes the bugs.",
        answer_format="each bug: where it is, why it is wrong and the fix; then one ```python block with the "
        "corrected function",
        params={"bug_kind": BUG_KINDS, "bugs": ("1", "2")},
        example="`moving_average(values, k)` should return the averages of each window of k values, but its "
        "output is wrong. Find and fix the bugs.",
        group=Group.TESTED,
        shown_code="a copy of the solution with the planted bug(s), with no comment pointing at them",
        needs_code=True,
    ),
    CodeType(
        name="explain_code",
        description="Ask for an explanation of what a piece of code does and how it works.",
        answer_format="a clear explanation in prose, referring to the names and lines of the code; a short code "
        "example only if it helps",
        params={
            "audience": ("a beginner", "a colleague who reviews the code", "a student preparing for an exam"),
            "focus": ("line by line", "the overall algorithm and its complexity", "the role of each variable"),
        },
        group=Group.READ,
        languages="any",
        block=Block.OPTIONAL,
        shown_code="the code to explain (all of the source code, or a self-contained part of it)",
    ),
    CodeType(
        name="predict_output",
        description="Show a short, deterministic Python program that prints a few lines and ask exactly what it "
        "prints; the student traces it step by step.",
        answer_format="a step-by-step trace, then one ```text block with exactly what the program prints",
        params={
            "trace": (
                "a loop with an accumulator",
                "nested function calls",
                "string manipulation",
                "a branch taken on an edge-case input",
                "a list or dict modified while it is built",
            )
        },
        example="What does this program print?",
        group=Group.TRACE,
        block=Block.OUTPUT,
    ),
    CodeType(
        name="write_unit_tests",
        description="Show a function and ask for unit tests of it: typical cases, boundaries and edge cases.",
        answer_format="what the tests cover, then one ```python block of test functions named test_... using "
        "plain assert statements",
        params={"focus": ("edge cases", "typical and boundary inputs", "error handling and unusual inputs")},
        example="Write unit tests for `slugify(title)` that cover empty titles, punctuation and repeated spaces.",
        group=Group.TEST_WRITING,
        shown_code="the complete, correct function to test",
        needs_code=True,
    ),
    CodeType(
        name="refactor",
        description="Show a working but hard-to-read function and ask for a refactored version with exactly the "
        "same behaviour.",
        answer_format="what was changed and why, then one ```python block with the refactored function",
        params={
            "goal": (
                "readability with clearer names",
                "removing duplicated code",
                "smaller helper functions",
                "more idiomatic Python",
            )
        },
        group=Group.TESTED,
        shown_code="a working but hard-to-read version of the function for the student to refactor",
        needs_code=True,
    ),
    CodeType(
        name="optimize_complexity",
        description="Show a correct but slow function and ask for a faster version with the same results, "
        "stating the old and new time complexity.",
        answer_format="the old and new complexity and the idea, then one ```python block with the optimized function",
        params={"target": ("better time complexity", "less memory", "fewer passes over the data")},
        group=Group.TESTED,
        shown_code="a correct but slow version (for example quadratic) for the student to optimize",
        needs_code=True,
    ),
    CodeType(
        name="translate_to_python",
        description="Show code written in another language and ask for an equivalent, idiomatic Python version.",
        answer_format="notes on how the constructs map to Python, then one ```python block with the translation",
        params={"style": ("idiomatic Python", "a close line-by-line translation")},
        group=Group.TESTED,
        languages="foreign",
        shown_code="the code to translate, copied from the source material (all of it or a self-contained part)",
        needs_code=True,
    ),
    CodeType(
        name="translate_from_python",
        description="Show Python code and ask for an equivalent, idiomatic version in another language.",
        answer_format="notes on how the constructs map, then one code block in the target language",
        params={"target": tuple(LANGUAGE_NAMES[lang] for lang in TARGET_LANGUAGES)},
        group=Group.READ,
        block=Block.TARGET,
        shown_code="the Python code to translate (all of the source code, or a self-contained part of it)",
    ),
    CodeType(
        name="add_documentation",
        description="Show code and ask to add documentation (docstrings or doc comments) and, for Python, type "
        "hints, without changing what the code does.",
        answer_format="a short note on the documentation added, then one code block with the complete documented code",
        params={"kind": ("docstrings", "docstrings and type hints", "type hints")},
        group=Group.READ,
        languages="any",
        block=Block.CONTENT,
        shown_code="the code to document (all of the source code, or a self-contained part of it), without "
        "documentation",
    ),
    CodeType(
        name="code_review",
        description="Ask for a code review: concrete problems (bugs, edge cases, naming, performance, security) "
        "with the lines they concern and suggested fixes.",
        answer_format="a list of findings, most important first, each with the line it concerns and a fix; an "
        "optional code block with the improved code",
        params={
            "focus": (
                "correctness and edge cases",
                "readability and naming",
                "performance",
                "security and input validation",
            )
        },
        group=Group.READ,
        languages="any",
        block=Block.OPTIONAL,
        shown_code="the code to review (all of the source code, or a self-contained part of it)",
    ),
    CodeType(
        name="write_regex",
        description="Ask for a Python function that uses a regular expression (module re) to validate, extract, "
        "split or replace text in a format related to the source material.",
        answer_format="the pattern explained part by part, then one ```python block with the function",
        params={
            "operation": (
                "validate that a whole string has a format",
                "extract every match of a pattern from a text",
                "split or replace text with a pattern",
            )
        },
        example="Write `is_semver(text)` that returns True only for versions like 1.2.3 (no leading zeros).",
        group=Group.TESTED,
        shown_code="empty",
    ),
    CodeType(
        name="explain_error",
        description="Show a short Python program together with the real error message it stops with, and ask "
        "what the message means, why it happens and how to fix the program.",
        answer_format="what the error means, which line causes it and why, then one ```python block with the "
        "corrected program",
        params={
            "error": (
                "TypeError",
                "IndexError",
                "KeyError",
                "AttributeError",
                "ValueError",
                "NameError",
                "ZeroDivisionError",
                "UnboundLocalError",
            )
        },
        group=Group.ERROR,
    ),
)

_TYPES_BY_NAME: Mapping[str, CodeType] = {t.name: t for t in CODE_TYPES}
EXECUTABLE_TYPES: tuple[str, ...] = tuple(t.name for t in CODE_TYPES if t.executable)
NON_PYTHON_TYPES: tuple[str, ...] = tuple(t.name for t in CODE_TYPES if t.fits("javascript"))

# Which task types each transformation agent's output supports (None: every type that fits the language).
TYPES_BY_AGENT: Mapping[str, tuple[str, ...] | None] = {
    "extract_unit": None,
    "identity": None,
    "problem_statement": ("implement_from_spec", "complete_partial_code", "write_unit_tests"),
    "bug_injection": ("debug_fix", "code_review", "explain_error"),
    "test_suite": ("implement_from_spec", "write_unit_tests", "refactor", "explain_code"),
    "translation_target": ("translate_to_python", "explain_code", "code_review", "add_documentation"),
    "api_docs": ("implement_from_spec", "write_unit_tests", "complete_partial_code"),
}

# ----
# Limits
# ----
MAX_UNIT_CHARS = 4000
MIN_UNIT_LINES = 3
MAX_UNIT_LINES = 120
MAX_PROMPT_CODE_CHARS = 12_000
MAX_SHOWN_CODE_CHARS = 12_000
MAX_TESTS = 12
MAX_TEST_CHARS = 600
MAX_OUTPUT_CHARS = 1500
MAX_OUTPUT_LINES = 30
MAX_ERROR_LINES = 20
MIN_EXPLANATION_WORDS = 25
NONDETERMINISTIC_MODULES = frozenset(
    {"random", "time", "datetime", "uuid", "secrets", "os", "threading", "multiprocessing", "asyncio", "tempfile"}
)
_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")
_IMPORT_LINE = re.compile(r"^\s*(?:import|from|#include|using|use|require|package)\b.*$", re.M)


# ----
# LLM output models
# ----
class ExtractedUnit(BaseModel):
    name: str = Field(description="the name of the main function or class")
    code: str = Field(description="the complete self-contained code, without markdown fences")
    summary: str = Field(description="one sentence: what the code does")


class ProblemStatement(BaseModel):
    title: str = Field(description="a short title for the problem")
    function_name: str = Field(description="the snake_case name of the function to write")
    signature: str = Field(description="the Python signature, e.g. def merge(a: list[int], b: list[int]) -> list[int]")
    statement: str = Field(description="the full problem statement with Input, Output and Examples parts")


class BugInjection(BaseModel):
    function_name: str = Field(description="the name of the function")
    correct_code: str = Field(description="the correct self-contained Python function, without markdown fences")
    buggy_code: str = Field(description="a copy of correct_code with the planted bugs, without markdown fences")
    bugs: list[str] = Field(min_length=1, max_length=3, description="one line per bug: where it is, what it breaks")


class TestSuite(BaseModel):
    __test__: ClassVar[bool] = False  # not a pytest test class

    function_name: str = Field(description="the name of the function")
    code: str = Field(description="the self-contained Python function, without markdown fences")
    tests: list[str] = Field(
        min_length=1, max_length=MAX_TESTS, description="one-line assert statements that call the function"
    )


class TranslatedUnit(BaseModel):
    function_name: str = Field(description="the name of the Python function")
    python_code: str = Field(description="the self-contained Python function, without markdown fences")
    translated_code: str = Field(description="the same function in the target language, without markdown fences")


class ApiDoc(BaseModel):
    function_name: str = Field(description="the name of the documented Python function")
    title: str = Field(description="a short title")
    documentation: str = Field(description="the documentation in markdown, without the implementation")


class CodeTask(BaseModel):
    instruction: str = Field(
        description="the task for the student: self-contained, names the function to write and says what it "
        "takes and returns"
    )
    function_name: str = Field(description="the exact name of the function (or class) the student must define")
    code: str = Field(description="the code shown to the student with the task, without markdown fences; or empty")
    solution: str = Field(
        description="a complete, correct reference solution in Python (standard library only), no markdown fences"
    )
    tests: list[str] = Field(
        min_length=1,
        max_length=MAX_TESTS,
        description="one-line assert statements that call the function by name and check the exact result",
    )


class CodeTaskBatch(BaseModel):
    tasks: list[CodeTask] = Field(min_length=1, max_length=3, description="the programming tasks, one per item")


class TestWritingTask(BaseModel):
    __test__: ClassVar[bool] = False  # not a pytest test class

    instruction: str = Field(description="the task for the student: which function to test and what to cover")
    function_name: str = Field(description="the exact name of the function to test")
    code: str = Field(description="the complete, correct Python function to test, without markdown fences")
    buggy_code: str = Field(description="a copy of code with one subtle bug, without markdown fences")
    tests: list[str] = Field(
        min_length=1, max_length=MAX_TESTS, description="one-line assert statements that hold for code"
    )


class TestWritingBatch(BaseModel):
    __test__: ClassVar[bool] = False  # not a pytest test class

    tasks: list[TestWritingTask] = Field(min_length=1, max_length=3, description="the test-writing tasks, one per item")


class TraceTask(BaseModel):
    instruction: str = Field(description="the question for the student, e.g. what the program prints")
    program: str = Field(
        description="a short, complete, deterministic Python program that prints a few lines, no markdown fences"
    )


class TraceBatch(BaseModel):
    tasks: list[TraceTask] = Field(min_length=1, max_length=3, description="the output-prediction tasks, one per item")


class ErrorTask(BaseModel):
    instruction: str = Field(description="the request of the student, who ran the program and got the error")
    program: str = Field(description="a short, complete Python program that stops with the error, no markdown fences")
    cause: str = Field(description="one or two sentences: why the error happens and how to fix it")


class ErrorBatch(BaseModel):
    tasks: list[ErrorTask] = Field(min_length=1, max_length=3, description="the error-explanation tasks, one per item")


class ReadTask(BaseModel):
    instruction: str = Field(description="the task for the student")
    code: str = Field(description="the code the task is about, without markdown fences; empty to use all the code")
    answer: str = Field(description="the key points a correct answer must contain")


class ReadBatch(BaseModel):
    tasks: list[ReadTask] = Field(min_length=1, max_length=3, description="the tasks, one per item")


class ExecEdit(BaseModel):
    instruction: str = Field(description="the rewritten task")
    code: str = Field(description="the code shown to the student with the new task, without fences; or empty")
    solution: str = Field(description="a correct reference solution of the new task, in Python, without fences")
    tests: list[str] = Field(
        min_length=1, max_length=MAX_TESTS, description="one-line assert statements for the new task"
    )


class TextEdit(BaseModel):
    instruction: str = Field(description="the rewritten task")
    answer: str = Field(description="the key points a correct answer to the new task must contain")


class ProgramEdit(BaseModel):
    instruction: str = Field(description="the rewritten question")
    program: str = Field(description="the new complete Python program, without markdown fences")


class CodeAnswer(BaseModel):
    explanation: str = Field(description="the text of the answer, before the code block; no code block in it")
    code: str = Field(description="the content of the one code block that ends the answer, without fences")


# ----
# Seed units
# ----
@dataclass(frozen=True, slots=True)
class SeedView:
    """What a transformation agent sees of a seed: one unit of it, the file's imports and other names."""

    language: str
    unit_name: str
    unit: str
    imports: list[str]
    other_names: list[str]


def _truncate_lines(code: str, limit: int) -> str:
    if len(code) <= limit:
        return code
    cut = code.rfind("\n", 0, limit)
    return code[: cut if cut > 0 else limit]


def choose_unit(seed: Seed, language: str) -> tuple[str, str]:
    """One unit of the seed, chosen deterministically by seed id among units of a workable size."""
    units = extract_code_units(seed.text, None if language == UNKNOWN else language)
    workable = [
        (name, code)
        for name, code in units
        if name != WHOLE_FILE
        and MIN_UNIT_LINES <= len(code.strip().splitlines()) <= MAX_UNIT_LINES
        and len(code) <= MAX_UNIT_CHARS
    ]
    if workable:
        return rng_for(seed.id, "code", "unit").choice(workable)
    if units:
        name, code = units[0]
        return name, _truncate_lines(code, MAX_UNIT_CHARS)
    return WHOLE_FILE, _truncate_lines(seed.text, MAX_UNIT_CHARS)


def view_of(seed: Seed) -> SeedView:
    language = seed_language(seed)
    unit_name, unit = choose_unit(seed, language)
    imports = [line.strip() for line in _IMPORT_LINE.findall(seed.text)][:15]
    names = [name for name, _ in extract_code_units(seed.text, None if language == UNKNOWN else language)]
    others = [n for n in dict.fromkeys(names) if n not in (unit_name, WHOLE_FILE)][:30]
    return SeedView(language=language, unit_name=unit_name, unit=unit, imports=imports, other_names=others)


# ----
# Validation helpers (static, or through the sandbox)
# ----
def clean_identifier(name: str) -> str | None:
    """The identifier in `name` (`foo`, `` `foo(a, b)` ``, `module.foo` -> `foo`), or None."""
    text = name.strip().strip("`").strip()
    text = text.split("(", 1)[0].strip()
    text = text.rsplit(".", 1)[-1]
    return text if _IDENTIFIER.fullmatch(text) else None


def clean_code(code: str) -> str:
    return ct.strip_fences(code).strip("\n").rstrip()


def require_python(code: str, what: str, *, name: str | None = None, stdlib: bool = True) -> None:
    """`AgentOutputError` unless `code` compiles, defines `name` (if given) and imports only the stdlib."""
    if not code.strip():
        raise AgentOutputError(f"{what} is empty")
    error = ct.compile_error(code)
    if error is not None:
        raise AgentOutputError(f"{what} does not compile: {error}")
    if name is not None and not ct.defines(code, name):
        raise AgentOutputError(f"{what} does not define {name}")
    if stdlib:
        extra = ct.non_stdlib_imports(code)
        if extra:
            raise AgentOutputError(f"{what} imports modules outside the standard library: {', '.join(extra)}")


def clean_tests(tests: Sequence[str], function_name: str) -> list[str]:
    """The usable test snippets: fences removed, deduplicated, compiling, and calling `function_name`."""
    kept: list[str] = []
    for raw in tests:
        test = clean_code(raw).strip()
        if not test or len(test) > MAX_TEST_CHARS or test in kept:
            continue
        if ct.compile_error(test, "<test>") is not None:
            continue
        if not ct.calls_name(test, function_name):
            continue
        kept.append(test)
    return kept[:MAX_TESTS]


_COMMENT_STARTS = ("//", "/*", "*", "#", "--", '"""', "'''", ";", "<!--")


def comment_lines(code: str) -> int:
    """How many lines of `code` are comments or doc comments (any common syntax)."""
    return sum(1 for line in code.splitlines() if line.strip().startswith(_COMMENT_STARTS))


async def passing_tests(solution: str, tests: Sequence[str], ctx: StageContext) -> list[str]:
    """The tests the reference solution passes in the sandbox; `AgentOutputError` when none does."""
    run = await ct.run_against_tests(solution, tests, timeout_s=ctx.config.sandbox_timeout_s)
    if run.setup_error is not None:
        raise AgentOutputError(f"the reference solution does not load: {run.setup_error}")
    kept = [test for test, outcome in zip(tests, run.outcomes, strict=True) if outcome.passed]
    if not kept:
        raise AgentOutputError("no test passes the reference solution")
    return kept


def _imports_nondeterministic(code: str) -> list[str]:
    modules = re.findall(r"^\s*(?:import|from)\s+([A-Za-z_]\w*)", code, re.M)
    return sorted({m for m in modules if m in NONDETERMINISTIC_MODULES})


async def program_output(program: str, ctx: StageContext) -> str:
    """What a deterministic program prints, from a sandbox run; `AgentOutputError` when it is unusable."""
    require_python(program, "the program")
    risky = _imports_nondeterministic(program)
    if risky:
        raise AgentOutputError(f"the program may not be deterministic: it imports {', '.join(risky)}")
    result = await ct.run_program(program, timeout_s=ctx.config.sandbox_timeout_s)
    if not result.ok:
        why = result.killed_reason or f"exit code {result.exit_code}"
        raise AgentOutputError(f"the program does not run cleanly ({why}): {ct.stderr_excerpt(result)}")
    output = ct.normalize_output(result.stdout)
    if not output:
        raise AgentOutputError("the program prints nothing")
    if len(output) > MAX_OUTPUT_CHARS or output.count("\n") >= MAX_OUTPUT_LINES:
        raise AgentOutputError(f"the program prints too much ({len(output)} characters)")
    return output


_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning))\b(?::\s?(.*))?$")


async def program_error(program: str, ctx: StageContext) -> tuple[str, str]:
    """(error output, exception name) of a program that must stop with an uncaught exception."""
    if not program.strip():
        raise AgentOutputError("the program is empty")
    extra = ct.non_stdlib_imports(program)
    if extra:
        raise AgentOutputError(f"the program imports modules outside the standard library: {', '.join(extra)}")
    result = await ct.run_program(program, timeout_s=ctx.config.sandbox_timeout_s)
    if result.ok:
        raise AgentOutputError("the program runs without an error")
    if result.killed_reason is not None:
        raise AgentOutputError(f"the program was stopped by the sandbox ({result.killed_reason}), not by an error")
    lines = [line.rstrip() for line in result.stderr.strip().splitlines() if line.strip()]
    last = lines[-1].strip() if lines else ""
    match = _EXCEPTION_LINE.match(last)
    if match is None:
        raise AgentOutputError(f"the program's error output does not end with an exception: {last[:200]!r}")
    if len(lines) > MAX_ERROR_LINES:
        lines = [lines[0], "  ...", *lines[-(MAX_ERROR_LINES - 2) :]]
    return "\n".join(lines), match.group(1).rsplit(".", 1)[-1]


# ----
# Transformation agents
# ----
@dataclass(frozen=True, slots=True)
class CodeAgent:
    """A transformation agent with its own prompt (`code/transform_<name>`), parameters and output contract.

    Subclasses set `schema` and implement `build`, which checks the contract (`AgentOutputError` when missed).
    """

    name: str
    description: str
    contract: str
    python_only: bool = True
    params: Mapping[str, Sequence[str]] = field(default_factory=dict)

    schema: ClassVar[type[BaseModel]] = BaseModel

    @property
    def prompt(self) -> str:
        return f"code/transform_{self.name}"

    @property
    def prompt_version(self) -> str:
        return load_prompt(self.prompt).ref

    def choose_params(self, seed: Seed) -> dict[str, str]:
        rng = rng_for(seed.id, "code", self.name, "params")
        return {slot: rng.choice(list(choices)) for slot, choices in self.params.items()}

    def render(self, seed: Seed, skill: Skill, view: SeedView | None = None) -> list[dict[str, str]]:
        view = view or view_of(seed)
        params = self.choose_params(seed)
        target = params.get("target", "")
        return load_prompt(self.prompt).render(
            skill=skill,
            agent=self,
            uri=seed.source.uri,
            language=view.language,
            language_name=language_name(view.language),
            fence=fence_tag(view.language),
            python=view.language == PYTHON,
            unit_name=view.unit_name,
            unit=view.unit.rstrip(),
            imports=view.imports,
            other_names=view.other_names,
            params=params,
            target_name=language_name(target) if target else "",
        )

    async def run(self, seed: Seed, skill: Skill, ctx: StageContext, calls: Calls) -> list[TransformOutput]:
        template = load_prompt(self.prompt)
        view = view_of(seed)
        params = self.choose_params(seed)
        result = await ctx.llm.generate(
            Role.TRANSFORM, self.render(seed, skill, view), self.schema, prompt=template.ref
        )
        calls.add(result.record)
        output = await self.build(view, params, result.parsed, ctx)
        output.data.setdefault("params", params)
        output.data.setdefault("unit", view.unit_name)
        return [output]

    async def build(self, view: SeedView, params: dict[str, str], parsed: Any, ctx: StageContext) -> TransformOutput:
        raise NotImplementedError


def _name_or_fail(raw: str, what: str = "function name") -> str:
    name = clean_identifier(raw)
    if name is None:
        raise AgentOutputError(f"invalid {what}: {raw!r}")
    return name


@dataclass(frozen=True, slots=True)
class ExtractUnitAgent(CodeAgent):
    schema: ClassVar[type[BaseModel]] = ExtractedUnit

    async def build(self, view: SeedView, params: dict[str, str], parsed: Any, ctx: StageContext) -> TransformOutput:
        assert isinstance(parsed, ExtractedUnit)
        name = _name_or_fail(parsed.name, "unit name")
        code = clean_code(parsed.code)
        if len(code.splitlines()) < 2:
            raise AgentOutputError(f"{self.name} returned {len(code.splitlines())} line(s) of code")
        if view.language == PYTHON:
            require_python(code, "the extracted code", name=name)
        elif name not in code:
            raise AgentOutputError(f"the extracted code does not mention {name}")
        return TransformOutput(
            content=code,
            data={
                "language": view.language,
                "content_kind": "code",
                "function_name": name,
                "summary": parsed.summary.strip(),
            },
        )


@dataclass(frozen=True, slots=True)
class ProblemStatementAgent(CodeAgent):
    schema: ClassVar[type[BaseModel]] = ProblemStatement

    async def build(self, view: SeedView, params: dict[str, str], parsed: Any, ctx: StageContext) -> TransformOutput:
        assert isinstance(parsed, ProblemStatement)
        name = _name_or_fail(parsed.function_name)
        statement = parsed.statement.strip()
        if len(statement) < 150:
            raise AgentOutputError(f"the problem statement has {len(statement)} characters, fewer than 150")
        lowered = statement.lower()
        missing = [part for part in ("input", "output", "example") if part not in lowered]
        if missing:
            raise AgentOutputError(f"the problem statement has no {', '.join(missing)} part")
        signature = parsed.signature.strip().strip("`")
        if name not in statement and name not in signature:
            raise AgentOutputError(f"the problem statement never names {name}")
        title = parsed.title.strip()
        content = "\n\n".join(part for part in (title, statement, f"Function signature: {signature}") if part)
        return TransformOutput(
            content=content,
            data={
                "language": PYTHON,
                "content_kind": "text",
                "function_name": name,
                "signature": signature,
                "source_code": view.unit,
            },
        )


@dataclass(frozen=True, slots=True)
class BugInjectionAgent(CodeAgent):
    schema: ClassVar[type[BaseModel]] = BugInjection

    async def build(self, view: SeedView, params: dict[str, str], parsed: Any, ctx: StageContext) -> TransformOutput:
        assert isinstance(parsed, BugInjection)
        name = _name_or_fail(parsed.function_name)
        correct = clean_code(parsed.correct_code)
        buggy = clean_code(parsed.buggy_code)
        require_python(correct, "the correct code", name=name)
        require_python(buggy, "the buggy code", name=name)
        if ct.same_code_ignoring_docs(correct, buggy):
            raise AgentOutputError("the buggy code is the same as the correct code")
        bugs = [bug.strip() for bug in parsed.bugs if bug.strip()]
        if not bugs:
            raise AgentOutputError("the list of injected bugs is empty")
        return TransformOutput(
            content=buggy,
            data={
                "language": PYTHON,
                "content_kind": "code",
                "function_name": name,
                "correct_code": correct,
                "bugs": bugs,
            },
        )


@dataclass(frozen=True, slots=True)
class TestSuiteAgent(CodeAgent):
    __test__: ClassVar[bool] = False  # not a pytest test class
    schema: ClassVar[type[BaseModel]] = TestSuite

    async def build(self, view: SeedView, params: dict[str, str], parsed: Any, ctx: StageContext) -> TransformOutput:
        assert isinstance(parsed, TestSuite)
        name = _name_or_fail(parsed.function_name)
        code = clean_code(parsed.code)
        require_python(code, "the code", name=name)
        tests = clean_tests(parsed.tests, name)
        if not tests:
            raise AgentOutputError(f"no test compiles and calls {name}")
        run = await ct.run_against_tests(code, tests, timeout_s=ctx.config.sandbox_timeout_s)
        if run.setup_error is not None:
            raise AgentOutputError(f"the code does not load: {run.setup_error}")
        kept = [test for test, outcome in zip(tests, run.outcomes, strict=True) if outcome.passed]
        if not kept:
            raise AgentOutputError("no test passes the extracted code")
        content = f"{code}\n\n\n# Tests\n" + "\n".join(kept)
        return TransformOutput(
            content=content,
            data={
                "language": PYTHON,
                "content_kind": "code",
                "function_name": name,
                "code": code,
                "tests": kept,
                "tests_dropped": len(parsed.tests) - len(kept),
            },
        )


@dataclass(frozen=True, slots=True)
class TranslationTargetAgent(CodeAgent):
    schema: ClassVar[type[BaseModel]] = TranslatedUnit

    async def build(self, view: SeedView, params: dict[str, str], parsed: Any, ctx: StageContext) -> TransformOutput:
        assert isinstance(parsed, TranslatedUnit)
        name = _name_or_fail(parsed.function_name)
        python_code = clean_code(parsed.python_code)
        require_python(python_code, "the Python version", name=name)
        translated = clean_code(parsed.translated_code)
        target = params["target"]
        if len(translated.splitlines()) < 2:
            raise AgentOutputError(f"the {language_name(target)} translation has fewer than 2 lines")
        if ct.compile_error(translated) is None:
            raise AgentOutputError(f"the {language_name(target)} translation is still Python code")
        return TransformOutput(
            content=translated,
            data={
                "language": target,
                "content_kind": "code",
                "function_name": name,
                "python_code": python_code,
            },
        )


@dataclass(frozen=True, slots=True)
class ApiDocsAgent(CodeAgent):
    schema: ClassVar[type[BaseModel]] = ApiDoc

    async def build(self, view: SeedView, params: dict[str, str], parsed: Any, ctx: StageContext) -> TransformOutput:
        assert isinstance(parsed, ApiDoc)
        name = _name_or_fail(parsed.function_name)
        doc = parsed.documentation.strip()
        if len(doc) < 150:
            raise AgentOutputError(f"the documentation has {len(doc)} characters, fewer than 150")
        if name not in doc:
            raise AgentOutputError(f"the documentation never names {name}")
        if re.search(r"^\s*def\s+" + re.escape(name) + r"\s*\(.*\n(?:\s+.*\n){3,}", doc, re.M):
            raise AgentOutputError("the documentation contains the implementation")
        title = parsed.title.strip()
        return TransformOutput(
            content=f"# {title}\n\n{doc}" if title else doc,
            data={"language": PYTHON, "content_kind": "text", "function_name": name, "source_code": view.unit},
        )


@dataclass(frozen=True, slots=True)
class CodeIdentityAgent:
    """Passes the seed unchanged (the paper's Identity agent), recording its language."""

    name: str = "identity"
    prompt_version: str = "identity@1"
    description: str = "the seed file unchanged"

    async def run(self, seed: Seed, skill: Skill, ctx: StageContext, calls: Calls) -> list[TransformOutput]:
        return [TransformOutput(content=seed.text, data={"language": seed_language(seed), "content_kind": "code"})]


CODE_AGENTS: tuple[CodeAgent, ...] = (
    ExtractUnitAgent(
        name="extract_unit",
        description="one function or class of the file, made self-contained (dependencies stripped)",
        contract="code in the seed's language that defines the named unit; Python: compiles, standard library only",
        python_only=False,
    ),
    ProblemStatementAgent(
        name="problem_statement",
        description="a problem statement with an input/output spec and examples, solved by the unit",
        contract="150+ characters with Input, Output and Examples parts naming the function; a Python signature",
        params={
            "style": (
                "a programming-course exercise",
                "a coding-interview problem",
                "a task description from a work ticket",
            )
        },
    ),
    BugInjectionAgent(
        name="bug_injection",
        description="a self-contained version of the unit and a copy with planted bugs, with the list of bugs",
        contract="correct and buggy versions both compile and define the function and differ; 1-3 bugs listed",
        params={"kind": BUG_KINDS, "bugs": ("1", "2")},
    ),
    TestSuiteAgent(
        name="test_suite",
        description="a self-contained version of the unit with assert tests, validated in the sandbox",
        contract="the function compiles; at least one of its tests passes in the sandbox (failing ones dropped)",
        params={"count": ("5", "6", "8")},
    ),
    TranslationTargetAgent(
        name="translation_target",
        description="the unit translated into another language, keeping a self-contained Python reference",
        contract="a Python version that compiles and defines the function, and a translation that is not Python",
        params={"target": TARGET_LANGUAGES},
    ),
    ApiDocsAgent(
        name="api_docs",
        description="API documentation of the unit (parameters, returns, raises, example), without its code",
        contract="150+ characters of markdown naming the function, without its implementation",
        params={"style": ("reference documentation", "a README section", "a docstring-style API page")},
    ),
)
IDENTITY = CodeIdentityAgent()


# ----
# Refinement goals
# ----
SECOND_REQUIREMENT = "second_requirement"
EDGE_CASES = "edge_cases"
INVALID_INPUT = "invalid_input"
WITH_TESTS = "with_tests"
DEEPER = "deeper"

GOALS_BY_GROUP: Mapping[Group, tuple[str, ...]] = {
    Group.TESTED: (SECOND_REQUIREMENT, EDGE_CASES, INVALID_INPUT, WITH_TESTS),
    Group.TEST_WRITING: (SECOND_REQUIREMENT, EDGE_CASES),
    Group.TRACE: (DEEPER,),
    Group.ERROR: (DEEPER,),
    Group.READ: (SECOND_REQUIREMENT, DEEPER),
}
# Goals that change what the function must do: the edit must add a passing test for the new behaviour.
BEHAVIOUR_GOALS = frozenset({SECOND_REQUIREMENT, INVALID_INPUT})


# ----
# The skill
# ----
AddCheck = Callable[[str, bool, str], bool]


@dataclass(slots=True)
class AnswerReport:
    """The automatic checks of an answer, as run for reflection and for validation."""

    results: list[CheckResult]

    @property
    def failures(self) -> list[str]:
        return [f"{r.name.removeprefix('skill.')}: {r.detail}" for r in self.results if not r.passed]

    def summary(self) -> dict[str, Any]:
        return {"checks": {r.name: r.passed for r in self.results}, "failures": self.failures}


class CodingSkill(Skill):
    name: ClassVar[str] = "code"
    split: ClassVar[str] = "code_"
    title: ClassVar[str] = "Coding"
    description: ClassVar[str] = (
        "programming tasks from source code: implement, complete, debug, refactor, optimize, translate, test, "
        "explain, review and document code, predict output, write regexes and explain error messages; answers "
        "are run against generated tests in a sandbox"
    )
    seed_kinds: ClassVar[frozenset[str]] = frozenset({"code"})
    transform_agents: ClassVar[tuple[TransformAgent, ...]] = (*CODE_AGENTS, IDENTITY)
    transforms_per_seed: ClassVar[int] = 1
    instruction_types: ClassVar[tuple[InstructionType, ...]] = CODE_TYPES
    # SECOND_REQUIREMENT fits every group, so it comes first: an unrecognised goal tag falls back to it.
    refinement_goals: ClassVar[tuple[RefinementGoal, ...]] = (
        RefinementGoal(
            SECOND_REQUIREMENT,
            "add a second requirement that interacts with the first (a feature that changes how the first one "
            "behaves, or a follow-up question that builds on the first answer)",
        ),
        RefinementGoal(
            EDGE_CASES,
            "add edge cases and constraints: empty or extreme inputs, a time-complexity bound such as "
            "O(n log n), no external libraries",
        ),
        RefinementGoal(
            INVALID_INPUT,
            "require handling of invalid input: say exactly which inputs are invalid and what must happen (for "
            "example, raise ValueError with a message)",
        ),
        RefinementGoal(
            WITH_TESTS,
            "ask for unit tests (test_ functions with plain assert statements) together with the implementation",
        ),
        RefinementGoal(
            DEEPER,
            "demand more depth: a trickier program to trace, a subtler error, or an answer that must also cover "
            "complexity, edge cases or design trade-offs",
        ),
    )
    judge_rubric: ClassVar[str] = (
        "Coding. The task must be clear, self-contained and answerable. The response must be correct first: its "
        "code must do exactly what the task asks (the reference answer shows one correct behaviour), use only "
        "the standard library, handle the edge cases the task names, and run as is. The explanation must be "
        "accurate, specific to the code and concise. Output predictions must match the program's output "
        "exactly; reviews and explanations must not claim anything the code does not do."
    )
    suggest_prompt: ClassVar[str] = "code/suggest"
    teacher_prompt: ClassVar[str] = "code/teacher"
    refine_suggest_prompt: ClassVar[str] = "code/refine_suggest"
    edit_prompt: ClassVar[str] = "code/refine_edit"
    critique_prompt: ClassVar[str] = "code/critique"
    revise_prompt: ClassVar[str] = "code/revise"

    # ---- item helpers ------------------------------------------------------------------------------------------
    def code_type(self, name: str) -> CodeType:
        try:
            return _TYPES_BY_NAME[name]
        except KeyError:
            raise KeyError(f"skill code has no task type {name!r}") from None

    def type_of(self, instruction: Instruction) -> CodeType:
        name = instruction.data.get("type") or instruction.lineage.instruction_type or ""
        return _TYPES_BY_NAME.get(str(name), _TYPES_BY_NAME["explain_code"])

    def group_of(self, instruction: Instruction) -> Group:
        return self.type_of(instruction).group

    def tests_of(self, instruction: Instruction) -> list[str]:
        tests = instruction.data.get("tests")
        return [str(t) for t in tests] if isinstance(tests, list) else []

    def answer_language(self, instruction: Instruction) -> str:
        """The language tag of the code block that ends the answer (`text` for a program's output)."""
        value = instruction.data.get("answer_language")
        return value if isinstance(value, str) else PYTHON

    @staticmethod
    def _str(data: Mapping[str, Any], key: str) -> str:
        value = data.get(key)
        return value if isinstance(value, str) else ""

    def content_language(self, item: Transformed) -> str:
        declared = normalize_language(self._str(item.data, "language")) or normalize_language(
            item.lineage.source.language
        )
        if declared:
            return declared
        suffix = PurePosixPath(item.lineage.source.uri.split("?", 1)[0]).suffix
        return normalize_language(suffix) or (PYTHON if ct.compile_error(item.content) is None else UNKNOWN)

    def content_is_code(self, item: Transformed) -> bool:
        return self._str(item.data, "content_kind") != "text"

    # ---- transformation ----------------------------------------------------------------------------------------
    def applies_to(self, seed: Seed) -> bool:
        """Code seeds in a known language, or in which code units can be found."""
        if not super().applies_to(seed) or not seed.text.strip():
            return False
        if seed_language(seed) != UNKNOWN:
            return True
        return any(name != WHOLE_FILE for name, _ in extract_code_units(seed.text))

    def pick_transform_agents(self, seed: Seed) -> list[TransformAgent]:
        """`transforms_per_seed` agents at random (by seed id) among those for the seed's language."""
        python = seed_language(seed) == PYTHON
        agents: list[TransformAgent] = [a for a in CODE_AGENTS if python or not a.python_only]
        agents.append(IDENTITY)
        rng = rng_for(seed.id, self.name, "transform")
        return rng.sample(agents, k=min(self.transforms_per_seed, len(agents)))

    def pick_instruction_types(
        self, item: Transformed, config: FlowConfig
    ) -> list[tuple[InstructionType, dict[str, str]]]:
        """The default random pick; documentation of code in other languages asks for doc comments."""
        chosen = super().pick_instruction_types(item, config)
        if self.content_language(item) == PYTHON:
            return chosen
        return [
            (itype, {**params, "kind": "doc comments"} if itype.name == "add_documentation" else params)
            for itype, params in chosen
        ]

    def candidate_types(self, item: Transformed) -> Sequence[InstructionType]:
        names = TYPES_BY_AGENT.get(item.lineage.transform_agent or "")
        language = self.content_language(item)
        return [t for t in CODE_TYPES if (names is None or t.name in names) and t.fits(language)]

    # ---- seed instruction generation ---------------------------------------------------------------------------
    def suggest_notes(self, item: Transformed) -> list[str]:
        """What the task writer (not the student) should know about the content: the reference code it hides."""
        data = item.data
        notes: list[str] = []
        name = self._str(data, "function_name")
        agent = item.lineage.transform_agent or ""
        if agent == "bug_injection":
            bugs = data.get("bugs")
            listed = "; ".join(str(b) for b in bugs) if isinstance(bugs, list) else ""
            notes.append(f"Note for you, not for the student: the code above has planted bugs ({listed}).")
            notes.append(
                "The correct version, to use as the reference solution:\n"
                + fenced(self._str(data, "correct_code"), PYTHON)
            )
        elif agent == "translation_target":
            notes.append(
                "Note for you, not for the student: the code above is a translation of this Python function, "
                "a correct reference solution:\n" + fenced(self._str(data, "python_code"), PYTHON)
            )
        elif agent in ("problem_statement", "api_docs") and self._str(data, "source_code"):
            notes.append(
                "Note for you, not for the student: the text above was written from this code (it may depend "
                "on a larger project):\n" + fenced(self._str(data, "source_code"), PYTHON)
            )
        if name:
            notes.append(f"The main function or class of the material is `{name}`.")
        return notes

    def render_suggest(
        self, item: Transformed, itype: CodeType, params: dict[str, str], count: int
    ) -> list[dict[str, str]]:
        language = self.content_language(item)
        content = _truncate_lines(item.content.rstrip(), MAX_PROMPT_CODE_CHARS)
        if self.content_is_code(item):
            shown = fenced(content, language)
            kind = f"{language_name(language)} code" if language != UNKNOWN else "source code"
        else:
            shown, kind = content, "a text about code"
        return load_prompt(self.suggest_prompt).render(
            skill=self,
            itype=itype,
            group=itype.group.value,
            params=params,
            content=shown,
            source_kind=kind,
            notes=self.suggest_notes(item),
            function_name=self._str(item.data, "function_name"),
            language_name=language_name(language),
            count=count,
        )

    _BATCHES: ClassVar[Mapping[Group, type[BaseModel]]] = {
        Group.TESTED: CodeTaskBatch,
        Group.TEST_WRITING: TestWritingBatch,
        Group.TRACE: TraceBatch,
        Group.ERROR: ErrorBatch,
        Group.READ: ReadBatch,
    }

    async def suggest(
        self,
        item: Transformed,
        itype: InstructionType,
        params: dict[str, str],
        ctx: StageContext,
        calls: Calls,
    ) -> list[Draft]:
        ctype = self.code_type(itype.name)
        count = ctx.config.max_instructions_per_type
        template = load_prompt(self.suggest_prompt)
        result = await ctx.llm.generate(
            Role.SUGGEST,
            self.render_suggest(item, ctype, params, count),
            self._BATCHES[ctype.group],
            prompt=template.ref,
        )
        calls.add(result.record)
        tasks: list[Any] = list(getattr(result.parsed, "tasks", []))[:count]
        outcomes = await asyncio.gather(
            *(self.build_task(item, ctype, params, task, ctx) for task in tasks), return_exceptions=True
        )
        drafts: list[Draft] = []
        problems: list[str] = []
        for outcome in outcomes:
            if isinstance(outcome, Draft):
                drafts.append(outcome)
            elif isinstance(outcome, AgentOutputError):
                problems.append(str(outcome))
            else:
                raise outcome
        if not drafts:
            if len(set(problems)) == 1:
                raise AgentOutputError(problems[0])
            raise AgentOutputError(f"no usable {ctype.name} task: " + "; ".join(problems))
        if problems:
            for draft in drafts:
                draft.data["sibling_problems"] = problems
        return drafts

    async def build_task(
        self, item: Transformed, itype: CodeType, params: dict[str, str], task: Any, ctx: StageContext
    ) -> Draft:
        """A validated draft from one suggested task, or `AgentOutputError`."""
        instruction = str(getattr(task, "instruction", "")).strip()
        if len(instruction) < 15:
            raise AgentOutputError(f"the instruction is too short: {instruction!r}")
        base: dict[str, Any] = {"params": params, "type": itype.name, "group": itype.group.value}
        if isinstance(task, CodeTask):
            return await self._build_tested(item, itype, instruction, task, base, ctx)
        if isinstance(task, TestWritingTask):
            return await self._build_test_writing(item, instruction, task, base, ctx)
        if isinstance(task, TraceTask):
            return await self._build_trace(instruction, clean_code(task.program), base, ctx)
        if isinstance(task, ErrorTask):
            return await self._build_error(instruction, clean_code(task.program), task.cause.strip(), base, ctx)
        if isinstance(task, ReadTask):
            return self._build_read(item, itype, params, instruction, task, base)
        raise AgentOutputError(f"unexpected task model {type(task).__name__}")

    def _content_code(self, item: Transformed) -> str:
        if not self.content_is_code(item):
            raise AgentOutputError("the task needs code, and the material is not code")
        return item.content.strip("\n").rstrip()

    async def _build_tested(
        self,
        item: Transformed,
        itype: CodeType,
        instruction: str,
        task: CodeTask,
        base: dict[str, Any],
        ctx: StageContext,
    ) -> Draft:
        name = clean_identifier(task.function_name) or clean_identifier(self._str(item.data, "function_name"))
        if name is None:
            raise AgentOutputError(f"invalid function name: {task.function_name!r}")
        solution = clean_code(task.solution)
        require_python(solution, "the reference solution", name=name)
        code = clean_code(task.code)
        code_language = PYTHON
        if itype.name == "translate_to_python":
            code_language = self.content_language(item)
            code = code or self._content_code(item)
            if ct.compile_error(code) is None:
                raise AgentOutputError("the code to translate is already Python")
        elif itype.name in ("refactor", "optimize_complexity") and not code:
            code = self._content_code(item)
        if itype.needs_code and not code:
            raise AgentOutputError(f"a {itype.name} task needs the code shown to the student")
        if len(code) > MAX_SHOWN_CODE_CHARS:
            raise AgentOutputError(f"the code shown has {len(code)} characters, more than {MAX_SHOWN_CODE_CHARS}")
        if itype.name in ("debug_fix", "refactor", "optimize_complexity"):
            require_python(code, "the code shown", name=name, stdlib=False)
        if itype.name in ("debug_fix", "complete_partial_code") and ct.same_code_ignoring_docs(code, solution):
            raise AgentOutputError(f"the code shown in a {itype.name} task is already the solution")
        tests = clean_tests(task.tests, name)
        if not tests:
            raise AgentOutputError(f"no test compiles and calls {name}")
        kept = await passing_tests(solution, tests, ctx)
        data = {**base, "function_name": name, "code": code, "code_language": code_language}
        if itype.name == "debug_fix":
            await self._require_buggy_fails(code, kept, ctx)
            data["buggy_code"] = code
        elif itype.name in ("refactor", "optimize_complexity"):
            run = await ct.run_against_tests(code, kept, timeout_s=ctx.config.sandbox_timeout_s)
            kept = [t for t, o in zip(kept, run.outcomes, strict=True) if o.passed]
            if not kept:
                raise AgentOutputError("no test passes both the code shown and the reference solution")
        data.update(
            {
                "tests": kept,
                "tests_dropped": len(tests) - len(kept),
                "answer_language": PYTHON,
                "with_tests": False,
            }
        )
        return Draft(
            instruction=instruction,
            context=fenced(code, code_language) if code else "",
            answer_key=solution,
            data=data,
        )

    async def _require_buggy_fails(self, buggy: str, tests: Sequence[str], ctx: StageContext) -> None:
        run = await ct.run_against_tests(buggy, tests, timeout_s=ctx.config.sandbox_timeout_s)
        if run.all_passed:
            raise AgentOutputError("the buggy code passes every test")

    async def _build_test_writing(
        self, item: Transformed, instruction: str, task: TestWritingTask, base: dict[str, Any], ctx: StageContext
    ) -> Draft:
        name = clean_identifier(task.function_name) or clean_identifier(self._str(item.data, "function_name"))
        if name is None:
            raise AgentOutputError(f"invalid function name: {task.function_name!r}")
        code = clean_code(task.code)
        require_python(code, "the function to test", name=name)
        if len(code) > MAX_SHOWN_CODE_CHARS:
            raise AgentOutputError(f"the code shown has {len(code)} characters, more than {MAX_SHOWN_CODE_CHARS}")
        tests = clean_tests(task.tests, name)
        if not tests:
            raise AgentOutputError(f"no test compiles and calls {name}")
        kept = await passing_tests(code, tests, ctx)
        mutant: str | None = clean_code(task.buggy_code) or None
        mutant_note = ""
        if mutant is not None:
            if ct.compile_error(mutant) is not None or not ct.defines(mutant, name):
                mutant, mutant_note = None, "the buggy copy does not compile or define the function"
            elif ct.same_code_ignoring_docs(code, mutant):
                mutant, mutant_note = None, "the buggy copy is the same as the function"
            else:
                run = await ct.run_against_tests(mutant, kept, timeout_s=ctx.config.sandbox_timeout_s)
                if run.all_passed:
                    mutant, mutant_note = None, "the buggy copy passes every reference test"
        return Draft(
            instruction=instruction,
            context=fenced(code, PYTHON),
            answer_key="\n".join(kept),
            data={
                **base,
                "function_name": name,
                "code": code,
                "code_language": PYTHON,
                "reference": code,
                "mutant": mutant,
                "mutant_note": mutant_note,
                "tests": kept,
                "tests_dropped": len(tests) - len(kept),
                "answer_language": PYTHON,
            },
        )

    async def _build_trace(self, instruction: str, program: str, base: dict[str, Any], ctx: StageContext) -> Draft:
        output = await program_output(program, ctx)
        return Draft(
            instruction=instruction,
            context=fenced(program, PYTHON),
            answer_key=output,
            data={
                **base,
                "code": program,
                "code_language": PYTHON,
                "expected_output": output,
                "answer_language": "text",
            },
        )

    async def _build_error(
        self, instruction: str, program: str, cause: str, base: dict[str, Any], ctx: StageContext
    ) -> Draft:
        error, exception = await program_error(program, ctx)
        context = f"{fenced(program, PYTHON)}\n\nError output:\n{fenced(error, 'text')}"
        return Draft(
            instruction=instruction,
            context=context,
            answer_key=cause or None,
            data={
                **base,
                "code": program,
                "code_language": PYTHON,
                "error": error,
                "exception": exception,
                "answer_language": PYTHON,
            },
        )

    def _build_read(
        self,
        item: Transformed,
        itype: CodeType,
        params: dict[str, str],
        instruction: str,
        task: ReadTask,
        base: dict[str, Any],
    ) -> Draft:
        language = self.content_language(item)
        code = clean_code(task.code) or self._content_code(item)
        if len(code) > MAX_SHOWN_CODE_CHARS:
            raise AgentOutputError(f"the code shown has {len(code)} characters, more than {MAX_SHOWN_CODE_CHARS}")
        if language == PYTHON:
            error = ct.compile_error(code)
            if error is not None:
                raise AgentOutputError(f"the code shown does not compile: {error}")
        if itype.block is Block.TARGET:
            target = normalize_language(params.get("target")) or "javascript"
            answer_language = target
        elif itype.block is Block.OPTIONAL and language == UNKNOWN:
            answer_language = ""
        else:
            answer_language = fence_tag(language)
        return Draft(
            instruction=instruction,
            context=fenced(code, language),
            answer_key=task.answer.strip() or None,
            data={**base, "code": code, "code_language": language, "answer_language": answer_language},
        )

    # ---- refinement --------------------------------------------------------------------------------------------
    def goals_for(self, instruction: Instruction) -> list[RefinementGoal]:
        allowed = set(GOALS_BY_GROUP[self.group_of(instruction)])
        if instruction.data.get("with_tests"):
            allowed.discard(WITH_TESTS)
        return [goal for goal in self.refinement_goals if goal.name in allowed]

    def accept_suggestion(self, instruction: Instruction, goal: str, index: int) -> bool:
        return goal in {g.name for g in self.goals_for(instruction)}

    def render_edit(self, instruction: Instruction, goal: str, suggestion: str) -> list[dict[str, str]]:
        itype = self.type_of(instruction)
        return load_prompt(self.edit_prompt).render(
            skill=self,
            item=instruction,
            itype=itype,
            group=itype.group.value,
            user_message=self.user_message(instruction),
            goal=goal,
            goal_description=next((g.description for g in self.refinement_goals if g.name == goal), goal),
            suggestion=suggestion,
            function_name=self._str(instruction.data, "function_name"),
            tests=self.tests_of(instruction),
        )

    _EDITS: ClassVar[Mapping[Group, type[BaseModel]]] = {
        Group.TESTED: ExecEdit,
        Group.TEST_WRITING: TextEdit,
        Group.TRACE: ProgramEdit,
        Group.ERROR: ProgramEdit,
        Group.READ: TextEdit,
    }

    async def edit(
        self, instruction: Instruction, goal: str, suggestion: str, ctx: StageContext, calls: Calls
    ) -> Draft:
        """The Editor: a structured edit per group; executable edits are validated in the sandbox again."""
        group = self.group_of(instruction)
        template = load_prompt(self.edit_prompt)
        result = await ctx.llm.generate(
            Role.EDIT, self.render_edit(instruction, goal, suggestion), self._EDITS[group], prompt=template.ref
        )
        calls.add(result.record)
        edited = result.parsed
        new_instruction = str(getattr(edited, "instruction", "")).strip()
        if len(new_instruction) < 15:
            raise AgentOutputError(f"the edited instruction is too short: {new_instruction!r}")
        if " ".join(new_instruction.split()) == " ".join(instruction.instruction.split()):
            raise AgentOutputError(f"the {goal} edit did not change the task")
        base = {**instruction.data, "refinement_goal": goal}
        if isinstance(edited, ExecEdit):
            return await self._apply_exec_edit(instruction, new_instruction, edited, goal, base, ctx)
        if isinstance(edited, ProgramEdit):
            program = clean_code(edited.program) or self._str(instruction.data, "code")
            if group is Group.TRACE:
                draft = await self._build_trace(new_instruction, program, base, ctx)
            else:
                draft = await self._build_error(new_instruction, program, "", base, ctx)
            return draft
        assert isinstance(edited, TextEdit)
        return Draft(
            instruction=new_instruction,
            context=instruction.context,
            answer_key=instruction.answer_key if group is Group.TEST_WRITING else edited.answer.strip() or None,
            data=base,
        )

    async def _apply_exec_edit(
        self,
        instruction: Instruction,
        new_instruction: str,
        edited: ExecEdit,
        goal: str,
        base: dict[str, Any],
        ctx: StageContext,
    ) -> Draft:
        itype = self.type_of(instruction)
        name = self._str(instruction.data, "function_name")
        solution = clean_code(edited.solution)
        require_python(solution, "the edited reference solution", name=name)
        code = clean_code(edited.code) or self._str(instruction.data, "code")
        code_language = self._str(instruction.data, "code_language") or PYTHON
        if itype.name == "debug_fix":
            require_python(code, "the edited buggy code", name=name, stdlib=False)
        tests = clean_tests(edited.tests, name)
        if not tests:
            raise AgentOutputError(f"no edited test compiles and calls {name}")
        kept = await passing_tests(solution, tests, ctx)
        old = {" ".join(t.split()) for t in self.tests_of(instruction)}
        new = [t for t in kept if " ".join(t.split()) not in old]
        if goal in BEHAVIOUR_GOALS and not new:
            raise AgentOutputError(f"the {goal} edit adds no passing test for the new requirement")
        if itype.name == "debug_fix":
            await self._require_buggy_fails(code, kept, ctx)
            base["buggy_code"] = code
        base.update(
            {
                "code": code,
                "tests": kept,
                "tests_dropped": len(tests) - len(kept),
                "with_tests": bool(instruction.data.get("with_tests")) or goal == WITH_TESTS,
            }
        )
        return Draft(
            instruction=new_instruction,
            context=fenced(code, code_language) if code else "",
            answer_key=solution,
            data=base,
        )

    def apply_edit(self, instruction: Instruction, edited: EditedItem, goal: str) -> Draft:
        """A generic editor's answer can only change the wording of tasks without tests or programs."""
        if self.group_of(instruction) not in (Group.READ, Group.TEST_WRITING):
            raise AgentOutputError("an edit of an executable task must come with its solution and tests")
        return Draft(
            instruction=edited.instruction.strip(),
            context=instruction.context,
            answer_key=edited.answer.strip() or instruction.answer_key,
            data={**instruction.data, "refinement_goal": goal},
        )

    # ---- teacher -----------------------------------------------------------------------------------------------
    def skill_checks_brief(self, instruction: Instruction) -> list[str]:
        itype = self.type_of(instruction)
        name = self._str(instruction.data, "function_name")
        group = itype.group
        if group is Group.TESTED:
            checks = [
                f"The code defines `{name}` with exactly this name, as the task asks.",
                "The code uses only the Python standard library and runs as is; it does not read input or print.",
                f"Hidden unit tests will call `{name}`; they must all pass, edge cases included.",
            ]
            if instruction.data.get("with_tests"):
                checks.append(
                    "After the implementation, the code also has test functions named test_... with plain "
                    "assert statements, and they pass."
                )
            return checks
        if group is Group.TEST_WRITING:
            return [
                "The code is test functions named test_... that use plain assert statements (no pytest, no "
                "unittest classes).",
                f"`{name}` is already defined: do not import it and do not define it again.",
                f"Every test passes on a correct `{name}`, and together they catch a subtly wrong one.",
            ]
        if group is Group.TRACE:
            return [
                "The trace follows the program step by step.",
                "The code block holds exactly what the program prints, line by line, and nothing else.",
            ]
        if group is Group.ERROR:
            return [
                "The explanation says what the error message means and which line raises it, and why.",
                "The corrected program is complete and runs without an error.",
            ]
        checks = ["Every statement about the code is accurate and refers to its names and lines."]
        if itype.name == "add_documentation":
            checks.append("The code's behaviour stays exactly the same: only documentation or type hints are added.")
        if itype.block is Block.TARGET:
            target = language_name(self.answer_language(instruction))
            checks.append(f"The code block is a complete, idiomatic {target} translation with the same behaviour.")
        return checks

    def teacher_hints(self, instruction: Instruction) -> tuple[str, str]:
        """What the `explanation` and `code` fields of the teacher's answer must hold for this item."""
        itype = self.type_of(instruction)
        name = self._str(instruction.data, "function_name")
        lang = language_name(self.answer_language(instruction)) if self.answer_language(instruction) else "code"
        explanation = {
            "implement_from_spec": "the approach, the edge cases it handles and its time complexity",
            "complete_partial_code": "what the missing part must do and how your completion does it",
            "debug_fix": "each bug: where it is, why it is wrong, and the fix",
            "explain_code": "the explanation the task asks for",
            "predict_output": "a step-by-step trace of the program, with the values of the variables",
            "write_unit_tests": "what the tests cover and why",
            "refactor": "what you changed and why the behaviour stays the same",
            "optimize_complexity": "the old and new time complexity, and the idea of the optimization",
            "translate_to_python": "how the constructs of the original map to Python",
            "translate_from_python": f"how the Python constructs map to {lang}",
            "add_documentation": "a short note on the documentation you added",
            "code_review": "the findings, most important first, each with the line it concerns and a fix",
            "write_regex": "the pattern, explained part by part",
            "explain_error": "what the error message means, which line raises it and why, and how to fix it",
        }[itype.name]
        if itype.group is Group.TESTED:
            code = f"the complete Python code defining `{name}`, standard library only, with no prints or example calls"
            if instruction.data.get("with_tests"):
                code += ", followed by test functions named test_... with plain assert statements"
        elif itype.group is Group.TEST_WRITING:
            code = f"only the test functions named test_..., with plain assert statements; `{name}` is already defined"
        elif itype.group is Group.TRACE:
            code = "exactly what the program prints, line by line, and nothing else"
        elif itype.group is Group.ERROR:
            code = "the complete corrected program"
        elif itype.name == "add_documentation":
            code = f"the complete {lang} code with the documentation added, otherwise unchanged"
        elif itype.block is Block.TARGET:
            code = f"the complete {lang} translation"
        else:
            code = f"an improved or example version in {lang} if it helps, otherwise an empty string"
        return explanation, code

    def render_teacher(self, instruction: Instruction) -> list[dict[str, str]]:
        explanation_hint, code_hint = self.teacher_hints(instruction)
        itype = self.type_of(instruction)
        return load_prompt(self.teacher_prompt).render(
            skill=self,
            instruction=instruction,
            itype=itype,
            user_message=self.user_message(instruction),
            checks=self.skill_checks_brief(instruction),
            explanation_hint=explanation_hint,
            code_hint=code_hint,
        )

    def render_code_answer(self, instruction: Instruction, answer: CodeAnswer) -> str:
        """The explanation, a blank line, then one fenced block (tagged with the answer's language)."""
        explanation = answer.explanation.strip()
        code = clean_code(answer.code)
        if not code.strip():
            return explanation
        block = fenced(code, self.answer_language(instruction) or UNKNOWN)
        return f"{explanation}\n\n{block}" if explanation else block

    def render_answer(self, instruction: Instruction, answer: TeacherAnswer | CodeAnswer) -> str:
        """Markdown for the assistant turn; a generic `TeacherAnswer` is taken as explanation plus code."""
        if isinstance(answer, CodeAnswer):
            return self.render_code_answer(instruction, answer)
        text = answer.answer.strip()
        if ct.code_blocks(text):
            return text
        return self.render_code_answer(instruction, CodeAnswer(explanation=answer.reasoning, code=text))

    def render_critique(self, instruction: Instruction, rendered: str, report: AnswerReport) -> list[dict[str, str]]:
        return load_prompt(self.critique_prompt).render(
            skill=self,
            itype=self.type_of(instruction),
            user_message=self.user_message(instruction),
            answer=rendered,
            checks=self.skill_checks_brief(instruction),
            results=report.results,
            failures=report.failures,
        )

    def render_revise(
        self, instruction: Instruction, rendered: str, flaws: Sequence[str], failures: Sequence[str]
    ) -> list[dict[str, str]]:
        explanation_hint, code_hint = self.teacher_hints(instruction)
        return load_prompt(self.revise_prompt).render(
            skill=self,
            itype=self.type_of(instruction),
            user_message=self.user_message(instruction),
            answer=rendered,
            checks=self.skill_checks_brief(instruction),
            flaws=list(flaws),
            failures=list(failures),
            explanation_hint=explanation_hint,
            code_hint=code_hint,
        )

    async def answer(self, instruction: Instruction, ctx: StageContext, calls: Calls) -> TeacherOutput:
        """Teacher, then reflection: the answer's code is run in the sandbox (tests, the fixed program) before
        each critique, and the failures go to the critique and revise prompts."""
        teacher = load_prompt(self.teacher_prompt)
        first = await ctx.llm.generate(Role.TEACHER, self.render_teacher(instruction), CodeAnswer, prompt=teacher.ref)
        calls.add(first.record)
        current = first.parsed
        history: list[dict[str, Any]] = []
        sandbox: list[dict[str, Any]] = []
        revised = False
        for round_index in range(ctx.config.reflection_rounds):
            rendered = self.render_code_answer(instruction, current)
            report = AnswerReport(await self.evaluate(instruction, rendered, ctx, for_feedback=True))
            sandbox.append({"round": round_index, **report.summary()})
            critique = await ctx.llm.generate(
                Role.TEACHER,
                self.render_critique(instruction, rendered, report),
                Critique,
                prompt=load_prompt(self.critique_prompt).ref,
            )
            calls.add(critique.record)
            flaws = [flaw.strip() for flaw in critique.parsed.flaws if flaw.strip()]
            ok = critique.parsed.verdict.strip().lower().startswith("ok")
            if ok and not flaws and not report.failures:
                history.append({"flaws": [], "failures": [], "revised": False})
                revised = False
                break
            if not flaws and not report.failures:
                flaws = ["the reviewer asked for a revision without naming a flaw"]
            new = await ctx.llm.generate(
                Role.TEACHER,
                self.render_revise(instruction, rendered, flaws, report.failures),
                CodeAnswer,
                prompt=load_prompt(self.revise_prompt).ref,
            )
            calls.add(new.record)
            current = new.parsed
            revised = True
            history.append({"flaws": flaws, "failures": report.failures, "revised": True})
        final_text = self.render_code_answer(instruction, current)
        if revised and self.runs_code(instruction):
            final = AnswerReport(await self.evaluate(instruction, final_text, ctx, for_feedback=True))
            sandbox.append({"round": "final", **final.summary()})
        return TeacherOutput(
            turns=[{"role": "assistant", "content": final_text}],
            data={"reflection": history, "sandbox": sandbox, "explanation": current.explanation},
        )

    def runs_code(self, instruction: Instruction) -> bool:
        return self.group_of(instruction) in (Group.TESTED, Group.TEST_WRITING, Group.ERROR)

    # ---- validation --------------------------------------------------------------------------------------------
    async def check(self, candidate: Candidate, ctx: StageContext, calls: Calls) -> list[CheckResult]:
        final = candidate.messages[-1].content if candidate.messages else ""
        return await self.evaluate(candidate.instruction, final, ctx)

    async def evaluate(
        self, instruction: Instruction, answer: str, ctx: StageContext, *, for_feedback: bool = False
    ) -> list[CheckResult]:
        """The skill's checks of one answer (markdown), stopping at the first failure that blocks the rest.

        With `for_feedback`, the checks whose detail would give the answer away (the expected output of a
        program) are left out: their results go to the teacher's critique.
        """
        results: list[CheckResult] = []

        def add(name: str, passed: bool, detail: str) -> bool:
            results.append(CheckResult(name=f"skill.{name}", passed=passed, detail=detail))
            return passed

        group = self.group_of(instruction)
        itype = self.type_of(instruction)
        sandbox_s = ctx.config.sandbox_timeout_s
        if group in (Group.TESTED, Group.TEST_WRITING, Group.ERROR):
            code = ct.last_python_block(answer)
            if not add("code_block", code is not None, "a ```python block" + (" found" if code else " is missing")):
                return results
            assert code is not None
            error = ct.compile_error(code)
            if not add("code_compiles", error is None, error or "compiles"):
                return results
            if group is Group.TESTED:
                await self._check_tested(instruction, code, sandbox_s, add, results)
            elif group is Group.TEST_WRITING:
                await self._check_test_writing(instruction, code, sandbox_s, add, results)
            else:
                check, _run = await ct.check_program_runs(code, timeout_s=sandbox_s)
                results.append(check)
                if check.passed:
                    self._check_explanation(answer, add)
            return results
        if group is Group.TRACE:
            block = ct.last_block(answer)
            if not add(
                "output_block",
                block is not None,
                "a code block with the output" + (" found" if block else " is missing"),
            ):
                return results
            assert block is not None
            if for_feedback:
                return results
            expected = ct.normalize_output(self._str(instruction.data, "expected_output"))
            given = ct.normalize_output(block)
            add(
                "output_matches",
                given == expected,
                "matches the program's output"
                if given == expected
                else f"expected {expected[:300]!r}, got {given[:300]!r}",
            )
            return results
        self._check_read(instruction, itype, answer, add)
        return results

    async def _check_tested(
        self, instruction: Instruction, code: str, sandbox_s: float, add: AddCheck, results: list[CheckResult]
    ) -> None:
        name = self._str(instruction.data, "function_name")
        if not add(
            "defines_function",
            ct.defines(code, name),
            f"`{name}` is" + (" defined" if ct.defines(code, name) else " not defined"),
        ):
            return
        tests = self.tests_of(instruction)
        own: list[str] = []
        if instruction.data.get("with_tests"):
            names = ct.student_test_functions(code)
            if not add("own_tests", bool(names), f"{len(names)} test functions in the answer"):
                return
            own = [f"{n}()" for n in names]
        check, _run = await ct.check_tests_pass(code, [*tests, *own], timeout_s=sandbox_s)
        results.append(check)
        if not check.passed:
            return
        buggy = self._str(instruction.data, "buggy_code")
        if self.type_of(instruction).name == "debug_fix" and buggy:
            bug_check, _bug_run = await ct.check_buggy_fails(buggy, tests, timeout_s=sandbox_s)
            results.append(bug_check)

    async def _check_test_writing(
        self, instruction: Instruction, code: str, sandbox_s: float, add: AddCheck, results: list[CheckResult]
    ) -> None:
        name = self._str(instruction.data, "function_name")
        snippets = ct.student_test_snippets(code)
        if not add("has_tests", bool(snippets), f"{len(snippets)} runnable tests"):
            return
        if not add(
            "tests_use_reference",
            not ct.defines(code, name),
            f"the answer defines its own `{name}`" if ct.defines(code, name) else f"`{name}` is not redefined",
        ):
            return
        reference = self._str(instruction.data, "reference")
        check, _run = await ct.check_tests_pass(reference, snippets, timeout_s=sandbox_s)
        results.append(check)
        if not check.passed:
            return
        mutant = self._str(instruction.data, "mutant")
        if mutant:
            caught, _caught_run = await ct.check_tests_catch_bug(mutant, snippets, timeout_s=sandbox_s)
            results.append(caught)

    def _check_explanation(self, answer: str, add: AddCheck) -> bool:
        prose = re.sub(r"(`{3,}|~{3,}).*?\1", " ", answer, flags=re.S)
        words = len(prose.split())
        return bool(
            add("answer_nontrivial", words >= MIN_EXPLANATION_WORDS, f"{words} words of explanation besides the code")
        )

    def _check_read(self, instruction: Instruction, itype: CodeType, answer: str, add: AddCheck) -> None:
        if not self._check_explanation(answer, add):
            return
        language = self.answer_language(instruction)
        if itype.block in (Block.TARGET, Block.CONTENT):
            tags = ct.PYTHON_TAGS | {""} if language == PYTHON else {language, ""}
            block = ct.last_block(answer, tags)
            if not add(
                "code_block",
                block is not None and bool(block.strip()),
                f"a ```{language} block" + (" found" if block else " is missing"),
            ):
                return
            assert block is not None
            if itype.block is Block.TARGET and ct.compile_error(block) is None and len(block.splitlines()) > 1:
                add("translated", False, f"the {language_name(language)} block is Python code")
                return
            if itype.name == "add_documentation":
                if language == PYTHON:
                    self._check_documentation(instruction, block, add)
                else:
                    before = comment_lines(self._str(instruction.data, "code"))
                    after = comment_lines(block)
                    add("docs_added", after > before, f"{after} comment lines, {before} in the original code")
            return
        if language == PYTHON:
            block = ct.last_block(answer, ct.PYTHON_TAGS)
            if block is not None:
                error = ct.compile_error(block)
                add("code_compiles", error is None, error or "compiles")

    def _check_documentation(self, instruction: Instruction, code: str, add: AddCheck) -> None:
        error = ct.compile_error(code)
        if not add("code_compiles", error is None, error or "compiles"):
            return
        kind = str(instruction.data.get("params", {}).get("kind", "docstrings"))
        if "docstring" in kind:
            gaps = ct.docstring_gaps(code)
            add(
                "docs_added",
                gaps == [],
                "every function and class has a docstring" if gaps == [] else f"no docstring: {gaps}",
            )
        if "type hint" in kind:
            hint_gaps = ct.type_hint_gaps(code)
            add("type_hints_added", hint_gaps == [], "fully annotated" if hint_gaps == [] else f"missing: {hint_gaps}")
        same = ct.same_code_ignoring_docs(self._str(instruction.data, "code"), code)
        add(
            "behaviour_unchanged", same is True, "only documentation changed" if same else "the code itself was changed"
        )

    # ---- description -------------------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info["transform_contracts"] = {agent.name: agent.contract for agent in CODE_AGENTS}
        info["python_only_agents"] = [agent.name for agent in CODE_AGENTS if agent.python_only]
        info["types_by_agent"] = {
            agent: list(names) if names is not None else "all types that fit the language"
            for agent, names in TYPES_BY_AGENT.items()
        }
        info["groups"] = {t.name: t.group.value for t in CODE_TYPES}
        info["executable_types"] = list(EXECUTABLE_TYPES)
        info["sandbox_run_types"] = [t.name for t in CODE_TYPES if t.group in (Group.TRACE, Group.ERROR)]
        info["languages"] = {
            "python": [t.name for t in CODE_TYPES if t.fits(PYTHON)],
            "other": list(NON_PYTHON_TYPES),
        }
        info["language_note"] = (
            "Seeds in languages other than Python only get explain_code, code_review, add_documentation and "
            "translate_to_python; their code is never run (a Python translation is tested)."
        )
        info["goals_by_group"] = {group.value: list(goals) for group, goals in GOALS_BY_GROUP.items()}
        return info


register(CodingSkill())
