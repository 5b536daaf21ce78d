"""Mock-server answers for the coding prompts, read from the rendered prompt text.

The task writer emits tasks from a small catalogue of simple function families (`add_numbers(a, b)` returns
the sum, `count_vowels(s)`, `factorial(n)`, a hex-colour regex...), each with its reference solution, tests, a
buggy copy, a JavaScript translation, calls to trace and a call that raises. The teacher never sees the
reference: it recognises the family from the function name in the task and writes the family's solution
(or, for a task asking for it, the variant that validates input or takes the second requirement), its
tests, the trace of the printed calls (computed by the family's own Python implementation here, never by
running the program), or the program with the failing call fixed.

So a run against the mock yields pairs that pass the coding checks, and some that fail for visible reasons:
the teacher sometimes slips and writes the buggy copy (`skill.tests_pass`, usually fixed by the reflection
round, which sees the failing tests), the task writer sometimes adds a wrong test (dropped in the sandbox) or
writes a broken reference (`agent.unusable_output`: no test passes the reference solution), some refinement
goals cannot be met for a family (`agent.unusable_output`: no passing test for the new requirement), type
hints are never added by the mock teacher (`skill.type_hints_added`), and extracted units that import
third-party modules are rejected.
"""

from __future__ import annotations

import ast
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agentinstruct.skills.code import CODE_TYPES, Group
from agentinstruct.testing.mock_server import ChatRequest, register_responder

_TYPES = {t.name: t for t in CODE_TYPES}


@dataclass(frozen=True, slots=True)
class Family:
    """A simple function with everything the mock agents need to write and answer tasks about it."""

    name: str
    params: str
    does: str
    solution: str
    buggy: str
    bug: str
    tests: tuple[str, ...]
    wrong_test: str
    edge_test: str
    js: str
    calls: tuple[str, ...]
    impl: Callable[..., Any]
    error_call: str
    fixed_call: str
    cause: str
    regex: bool = False
    validated: str = ""
    invalid_test: str = ""
    second_marker: str = ""
    second_solution: str = ""
    second_test: str = ""


def _invalid(call: str) -> str:
    return f"try:\n    {call}\nexcept ValueError:\n    pass\nelse:\n    raise AssertionError('no ValueError')"


def _is_palindrome(s: str) -> bool:
    cleaned = [ch.lower() for ch in s if ch.isalnum()]
    return cleaned == cleaned[::-1]


def _remove_duplicates(items: list[Any]) -> list[Any]:
    seen: set[Any] = set()
    out = []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


def _factorial(n: int) -> int:
    result = 1
    for i in range(2, n + 1):
        result *= i
    return result


FAMILIES: tuple[Family, ...] = (
    Family(
        name="add_numbers",
        params="a, b",
        does="returns the sum of the numbers a and b",
        solution="def add_numbers(a, b):\n    return a + b\n",
        buggy="def add_numbers(a, b):\n    return a - b\n",
        bug="it subtracts b instead of adding it",
        tests=(
            "assert add_numbers(2, 3) == 5",
            "assert add_numbers(-1, 1) == 0",
            "assert add_numbers(0, 0) == 0",
            "assert add_numbers(10, 32) == 42",
        ),
        wrong_test="assert add_numbers(2, 2) == 5",
        edge_test="assert add_numbers(-5, -7) == -12",
        js="function addNumbers(a, b) {\n  return a + b;\n}\n",
        calls=("add_numbers(2, 3)", "add_numbers(-4, 10)"),
        impl=lambda a, b: a + b,
        error_call='print(add_numbers("1", 2))',
        fixed_call="print(add_numbers(1, 2))",
        cause="A string and an integer cannot be added; pass two numbers.",
        validated=(
            "def add_numbers(a, b):\n"
            "    for value in (a, b):\n"
            "        if isinstance(value, bool) or not isinstance(value, (int, float)):\n"
            '            raise ValueError("a and b must be numbers")\n'
            "    return a + b\n"
        ),
        invalid_test=_invalid('add_numbers("1", 2)'),
        second_marker="optional third number c",
        second_solution="def add_numbers(a, b, c=0):\n    return a + b + c\n",
        second_test="assert add_numbers(1, 2, 3) == 6",
    ),
    Family(
        name="reverse_string",
        params="s",
        does="returns the string s reversed",
        solution="def reverse_string(s):\n    return s[::-1]\n",
        buggy="def reverse_string(s):\n    return s[-2::-1]\n",
        bug="the slice starts at the second-to-last character, so the last character is lost",
        tests=(
            'assert reverse_string("abc") == "cba"',
            'assert reverse_string("") == ""',
            'assert reverse_string("a") == "a"',
            'assert reverse_string("racecar") == "racecar"',
        ),
        wrong_test='assert reverse_string("ab") == "ab"',
        edge_test='assert reverse_string("a b") == "b a"',
        js="function reverseString(s) {\n  return s.split('').reverse().join('');\n}\n",
        calls=('reverse_string("stressed")', 'reverse_string("level")'),
        impl=lambda s: s[::-1],
        error_call="print(reverse_string(12345))",
        fixed_call='print(reverse_string("12345"))',
        cause="An int cannot be sliced like a string; pass a string.",
        second_marker="reverse the order of the words",
        second_solution=(
            "def reverse_string(s, words=False):\n"
            "    if words:\n"
            '        return " ".join(reversed(s.split()))\n'
            "    return s[::-1]\n"
        ),
        second_test='assert reverse_string("a b c", words=True) == "c b a"',
    ),
    Family(
        name="count_vowels",
        params="s",
        does="returns how many vowels (a, e, i, o, u, in either case) the string s contains",
        solution='def count_vowels(s):\n    return sum(1 for ch in s.lower() if ch in "aeiou")\n',
        buggy='def count_vowels(s):\n    return sum(1 for ch in s if ch in "aeiou")\n',
        bug="upper-case vowels are not counted because the string is not lower-cased",
        tests=(
            'assert count_vowels("hello") == 2',
            'assert count_vowels("HELLO") == 2',
            'assert count_vowels("") == 0',
            'assert count_vowels("rhythm") == 0',
            'assert count_vowels("Programming") == 3',
        ),
        wrong_test='assert count_vowels("sky") == 1',
        edge_test='assert count_vowels("AEIOU aeiou") == 10',
        js="function countVowels(s) {\n  return [...s.toLowerCase()].filter((c) => 'aeiou'.includes(c)).length;\n}\n",
        calls=('count_vowels("Education")', 'count_vowels("xyz")'),
        impl=lambda s: sum(1 for ch in s.lower() if ch in "aeiou"),
        error_call="print(count_vowels(None))",
        fixed_call='print(count_vowels(""))',
        cause="None has no lower() method; pass a string.",
        second_marker="count y as a vowel",
        second_solution=(
            "def count_vowels(s, include_y=False):\n"
            '    vowels = "aeiouy" if include_y else "aeiou"\n'
            "    return sum(1 for ch in s.lower() if ch in vowels)\n"
        ),
        second_test='assert count_vowels("rhythm", include_y=True) == 1',
    ),
    Family(
        name="is_palindrome",
        params="s",
        does="returns True if s reads the same backwards, ignoring case and non-alphanumeric characters",
        solution=(
            "def is_palindrome(s):\n"
            "    cleaned = [ch.lower() for ch in s if ch.isalnum()]\n"
            "    return cleaned == cleaned[::-1]\n"
        ),
        buggy=(
            "def is_palindrome(s):\n"
            "    cleaned = [ch for ch in s if ch.isalnum()]\n"
            "    return cleaned == cleaned[::-1]\n"
        ),
        bug="the characters are not lower-cased, so 'Racecar' is not recognised",
        tests=(
            'assert is_palindrome("Racecar") is True',
            'assert is_palindrome("A man, a plan, a canal: Panama") is True',
            'assert is_palindrome("hello") is False',
            'assert is_palindrome("") is True',
        ),
        wrong_test='assert is_palindrome("ab") is True',
        edge_test='assert is_palindrome("No lemon, no melon") is True',
        js="function isPalindrome(s) {\n  const c = s.toLowerCase().replace(/[^a-z0-9]/g, '');\n"
        "  return c === [...c].reverse().join('');\n}\n",
        calls=('is_palindrome("Step on no pets")', 'is_palindrome("Python")'),
        impl=_is_palindrome,
        error_call="print(is_palindrome(121))",
        fixed_call='print(is_palindrome("121"))',
        cause="An int is not iterable; pass the number as a string.",
    ),
    Family(
        name="max_of_list",
        params="items",
        does="returns the largest number of the non-empty list items",
        solution=(
            "def max_of_list(items):\n"
            "    best = items[0]\n"
            "    for item in items[1:]:\n"
            "        if item > best:\n"
            "            best = item\n"
            "    return best\n"
        ),
        buggy=(
            "def max_of_list(items):\n"
            "    best = 0\n"
            "    for item in items:\n"
            "        if item > best:\n"
            "            best = item\n"
            "    return best\n"
        ),
        bug="best starts at 0, so a list of negative numbers gives 0",
        tests=(
            "assert max_of_list([3, 1, 2]) == 3",
            "assert max_of_list([-5, -2, -9]) == -2",
            "assert max_of_list([7]) == 7",
        ),
        wrong_test="assert max_of_list([1, 2]) == 1",
        edge_test="assert max_of_list([2, 2, 2]) == 2",
        js="function maxOfList(items) {\n  let best = items[0];\n  for (const x of items) {\n"
        "    if (x > best) best = x;\n  }\n  return best;\n}\n",
        calls=("max_of_list([4, 17, 9])", "max_of_list([-3, -8])"),
        impl=lambda items: max(items),
        error_call="print(max_of_list([]))",
        fixed_call="print(max_of_list([4, 9, 2]))",
        cause="An empty list has no first element; pass a non-empty list.",
        validated=(
            "def max_of_list(items):\n"
            "    if not items:\n"
            '        raise ValueError("items must not be empty")\n'
            "    best = items[0]\n"
            "    for item in items[1:]:\n"
            "        if item > best:\n"
            "            best = item\n"
            "    return best\n"
        ),
        invalid_test=_invalid("max_of_list([])"),
    ),
    Family(
        name="factorial",
        params="n",
        does="returns n! for a non-negative integer n",
        solution=(
            "def factorial(n):\n    result = 1\n    for i in range(2, n + 1):\n        result *= i\n    return result\n"
        ),
        buggy="def factorial(n):\n    result = 1\n    for i in range(2, n):\n        result *= i\n    return result\n",
        bug="the loop stops before n (off by one)",
        tests=(
            "assert factorial(0) == 1",
            "assert factorial(1) == 1",
            "assert factorial(5) == 120",
            "assert factorial(6) == 720",
        ),
        wrong_test="assert factorial(3) == 3",
        edge_test="assert factorial(10) == 3628800",
        js="function factorial(n) {\n  let result = 1;\n  for (let i = 2; i <= n; i++) result *= i;\n"
        "  return result;\n}\n",
        calls=("factorial(4)", "factorial(0)"),
        impl=_factorial,
        error_call='print(factorial("5"))',
        fixed_call="print(factorial(5))",
        cause="A string cannot be added to an int in range(2, n + 1); pass an int.",
        validated=(
            "def factorial(n):\n"
            "    if not isinstance(n, int) or n < 0:\n"
            '        raise ValueError("n must be a non-negative integer")\n'
            "    result = 1\n"
            "    for i in range(2, n + 1):\n"
            "        result *= i\n"
            "    return result\n"
        ),
        invalid_test=_invalid("factorial(-1)"),
    ),
    Family(
        name="sum_of_squares",
        params="n",
        does="returns 1*1 + 2*2 + ... + n*n",
        solution="def sum_of_squares(n):\n    return sum(i * i for i in range(1, n + 1))\n",
        buggy="def sum_of_squares(n):\n    return sum(i * i for i in range(n))\n",
        bug="range(n) stops at n - 1, so n*n is missing",
        tests=(
            "assert sum_of_squares(1) == 1",
            "assert sum_of_squares(3) == 14",
            "assert sum_of_squares(0) == 0",
            "assert sum_of_squares(10) == 385",
        ),
        wrong_test="assert sum_of_squares(2) == 4",
        edge_test="assert sum_of_squares(100) == 338350",
        js="function sumOfSquares(n) {\n  let total = 0;\n  for (let i = 1; i <= n; i++) total += i * i;\n"
        "  return total;\n}\n",
        calls=("sum_of_squares(4)", "sum_of_squares(2)"),
        impl=lambda n: sum(i * i for i in range(1, n + 1)),
        error_call="print(sum_of_squares(2.5))",
        fixed_call="print(sum_of_squares(3))",
        cause="range() needs an int, and 2.5 is a float.",
    ),
    Family(
        name="remove_duplicates",
        params="items",
        does="returns the items of the list without duplicates, keeping the first occurrence of each in order",
        solution=(
            "def remove_duplicates(items):\n"
            "    seen = set()\n"
            "    result = []\n"
            "    for item in items:\n"
            "        if item not in seen:\n"
            "            seen.add(item)\n"
            "            result.append(item)\n"
            "    return result\n"
        ),
        buggy="def remove_duplicates(items):\n    return sorted(set(items))\n",
        bug="a set loses the original order of the items",
        tests=(
            "assert remove_duplicates([3, 1, 3, 2]) == [3, 1, 2]",
            "assert remove_duplicates([]) == []",
            'assert remove_duplicates(["b", "a", "b"]) == ["b", "a"]',
        ),
        wrong_test="assert remove_duplicates([1, 1]) == [1, 1]",
        edge_test="assert remove_duplicates([5, 5, 5]) == [5]",
        js="function removeDuplicates(items) {\n  return [...new Set(items)];\n}\n",
        calls=("remove_duplicates([2, 2, 1, 2])", 'remove_duplicates(["x", "y", "x"])'),
        impl=_remove_duplicates,
        error_call="print(remove_duplicates(None))",
        fixed_call="print(remove_duplicates([1, 1, 2]))",
        cause="None is not iterable; pass a list.",
    ),
    Family(
        name="is_hex_color",
        params="s",
        does="returns True only if s is a colour like #fff or #A1B2C3 (# then 3 or 6 hexadecimal digits)",
        solution=(
            "import re\n\n\n"
            "def is_hex_color(s):\n"
            '    return re.fullmatch(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})", s) is not None\n'
        ),
        buggy=('import re\n\n\ndef is_hex_color(s):\n    return re.match(r"#[0-9a-fA-F]{3}", s) is not None\n'),
        bug="re.match without an end anchor accepts any string that only starts like a colour",
        tests=(
            'assert is_hex_color("#fff") is True',
            'assert is_hex_color("#A1B2C3") is True',
            'assert is_hex_color("#abcd") is False',
            'assert is_hex_color("fff") is False',
            'assert is_hex_color("#12345g") is False',
        ),
        wrong_test='assert is_hex_color("#ggg") is True',
        edge_test='assert is_hex_color("#000000") is True',
        js="function isHexColor(s) {\n  return /^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/.test(s);\n}\n",
        calls=('is_hex_color("#0f0")', 'is_hex_color("blue")'),
        impl=lambda s: re.fullmatch(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})", s) is not None,
        error_call="print(is_hex_color(255))",
        fixed_call='print(is_hex_color("#ff0000"))',
        cause="re.fullmatch needs a string; 255 is an int.",
        regex=True,
    ),
    Family(
        name="extract_numbers",
        params="text",
        does="returns every integer written in text (with an optional minus sign), as ints, in order",
        solution=(
            'import re\n\n\ndef extract_numbers(text):\n    return [int(m) for m in re.findall(r"-?\\d+", text)]\n'
        ),
        buggy='import re\n\n\ndef extract_numbers(text):\n    return [int(m) for m in re.findall(r"\\d", text)]\n',
        bug="the pattern matches single digits and ignores minus signs",
        tests=(
            'assert extract_numbers("a1b22c-3") == [1, 22, -3]',
            'assert extract_numbers("none") == []',
            'assert extract_numbers("10 and 20") == [10, 20]',
        ),
        wrong_test='assert extract_numbers("7") == []',
        edge_test='assert extract_numbers("-0") == [0]',
        js="function extractNumbers(text) {\n  return (text.match(/-?\\d+/g) || []).map(Number);\n}\n",
        calls=('extract_numbers("3 apples, 12 pears")', 'extract_numbers("x-5y")'),
        impl=lambda text: [int(m) for m in re.findall(r"-?\d+", text)],
        error_call="print(extract_numbers(42))",
        fixed_call='print(extract_numbers("a 42 b"))',
        cause="re.findall needs a string; 42 is an int.",
        regex=True,
    ),
)


_BY_NAME = {f.name: f for f in FAMILIES}
_PLAIN = tuple(f for f in FAMILIES if not f.regex)
_REGEX = tuple(f for f in FAMILIES if f.regex)


# ----
# Reading the prompt
# ----
_AFTER_MESSAGE = (
    r"(?=Task type:|Requirements:|Answer to review:|Previous answer:|Reference solution:|Goal:|Refinement goals)"
)


def _quoted(text: str) -> str:
    """The student's message quoted in a prompt (it may itself hold triple-quoted docstrings)."""
    match = re.search(r'"""\n(.*?)\n"""\n\n' + _AFTER_MESSAGE, text, re.S)
    if match is None:
        match = re.search(r'"""\n?(.*?)\n?"""', text, re.S)
    return match.group(1).strip() if match else text


def _blocks(text: str) -> list[tuple[str, str]]:
    return [(m.group(2).lower(), m.group(3)) for m in re.finditer(r"^(`{3,})(\w*)\n(.*?)^\1$", text, re.M | re.S)]


def _after(text: str, label: str) -> str:
    match = re.search(rf"^{re.escape(label)}\s*(.*)$", text, re.M)
    return match.group(1).strip() if match else ""


def _task_type(prompt: str) -> str:
    for pattern in (r"^Task type:\s*(\w+)", r"^Current task \((\w+)\)", r"^Task \((\w+)\):"):
        match = re.search(pattern, prompt, re.M)
        if match:
            return match.group(1)
    return ""


def _family_in(text: str) -> Family | None:
    """The family whose function name appears in `text` (first mention wins)."""
    found = [(m.start(), f) for f in FAMILIES if (m := re.search(rf"\b{f.name}\b", text))]
    return min(found, key=lambda pair: pair[0])[1] if found else None


def _pick(rng: random.Random, text: str, *, regex: bool = False) -> Family:
    family = _family_in(text)
    pool = _REGEX if regex else _PLAIN
    if family is not None and family in pool:
        return family
    return rng.choice(pool)


def _count(prompt: str) -> int:
    match = re.search(r"Write (\d+) different task", prompt)
    return max(1, min(int(match.group(1)), 3)) if match else 1


def _unit(prompt: str) -> tuple[str, str]:
    """(unit name, unit code) from a transformation prompt."""
    name = re.search(r"the unit `([^`]+)`", prompt)
    blocks = _blocks(prompt)
    return (name.group(1) if name else "unit"), (blocks[0][1] if blocks else "")


def _documented(code: str, python: bool = True) -> str:
    """`code` with a one-line docstring after every `def` or `class` line (the mock's documentation), or, in
    other languages, a `//` comment before every line that opens a function."""
    out: list[str] = []
    if not python:
        for line in code.splitlines():
            match = re.match(r"^(\s*)(?:export\s+)?(?:async\s+)?(?:function|fn|func|def)\s+(\w+)", line)
            if match:
                out.append(f"{match.group(1)}// {match.group(2)}: computes and returns its result.")
            out.append(line)
        return "\n".join(out) + "\n"
    lines = code.splitlines()
    for index, line in enumerate(lines):
        out.append(line)
        match = re.match(r"^(\s*)(?:async\s+)?(def|class)\s+(\w+).*:\s*$", line)
        if match:
            following = next((ln for ln in lines[index + 1 :] if ln.strip()), "")
            indent = following[: len(following) - len(following.lstrip())] or match.group(1) + "    "
            what = "Return the result of" if match.group(2) == "def" else "Hold the state of"
            out.append(f'{indent}"""{what} {match.group(3)}."""')
    return "\n".join(out) + "\n"


# ----
# Transformation agents
# ----
@register_responder("code/transform_extract_unit")
def transform_extract_unit(request: ChatRequest, rng: random.Random) -> dict[str, Any]:
    prompt = request.user_text
    name, code = _unit(prompt)
    short = name.rsplit(".", 1)[-1]
    if rng.random() < 0.08:
        return {"name": short, "code": f"def {short}():", "summary": "An incomplete unit."}
    return {"name": short, "code": code, "summary": f"The unit {short} from the source file."}


@register_responder("code/transform_problem_statement")
def transform_problem_statement(request: ChatRequest, rng: random.Random) -> dict[str, Any]:
    family = _pick(rng, request.user_text)
    examples = "\n".join(f"- {t.removeprefix('assert ')}" for t in family.tests[:3])
    statement = (
        f"Write a function `{family.name}({family.params})` that {family.does}.\n\n"
        f"Input: {family.params}, as described above.\n"
        f"Output: the value the function {family.does.split(' ', 1)[0]}.\n"
        f"Examples:\n{examples}\n\n"
        "Edge cases: empty or minimal inputs must work too."
    )
    return {
        "title": family.name.replace("_", " ").title(),
        "function_name": family.name,
        "signature": f"def {family.name}({family.params})",
        "statement": statement,
    }


@register_responder("code/transform_bug_injection")
def transform_bug_injection(request: ChatRequest, rng: random.Random) -> dict[str, Any]:
    family = _pick(rng, request.user_text)
    return {
        "function_name": family.name,
        "correct_code": family.solution,
        "buggy_code": family.buggy,
        "bugs": [family.bug],
    }


@register_responder("code/transform_test_suite")
def transform_test_suite(request: ChatRequest, rng: random.Random) -> dict[str, Any]:
    family = _pick(rng, request.user_text)
    tests = list(family.tests)
    if rng.random() < 0.3:
        tests.append(family.wrong_test)
    return {"function_name": family.name, "code": family.solution, "tests": tests}


@register_responder("code/transform_translation_target")
def transform_translation_target(request: ChatRequest, rng: random.Random) -> dict[str, Any]:
    family = _pick(rng, request.user_text)
    return {"function_name": family.name, "python_code": family.solution, "translated_code": family.js}


@register_responder("code/transform_api_docs")
def transform_api_docs(request: ChatRequest, rng: random.Random) -> dict[str, Any]:
    family = _pick(rng, request.user_text)
    first = family.tests[0].removeprefix("assert ")
    doc = (
        f"`{family.name}({family.params})` {family.does}. Use it whenever you need this value in a script.\n\n"
        f"Parameters:\n- {family.params}: the input values.\n\n"
        f"Returns:\n- the result described above.\n\n"
        f"Raises:\n- TypeError if an argument has the wrong type.\n\n"
        f"Example:\n\n    {first}\n"
    )
    return {"function_name": family.name, "title": f"{family.name} reference", "documentation": doc}


# ----
# Task writer
# ----
def _tested_task(type_name: str, family: Family, rng: random.Random, prompt: str) -> dict[str, Any]:
    name = family.name
    tests = list(family.tests)
    if rng.random() < 0.12:
        tests.append(family.wrong_test)
    solution = family.solution
    if rng.random() < 0.05:
        solution = f"def {name}(*args, **kwargs):\n    raise NotImplementedError\n"
    code = ""
    if type_name == "implement_from_spec":
        instruction = f"Write a Python function `{name}({family.params})` that {family.does}."
    elif type_name == "complete_partial_code":
        instruction = f"Complete the function `{name}` below so that it {family.does}."
        code = f"def {name}({family.params}):\n    # TODO: {family.does}\n    pass\n"
    elif type_name == "debug_fix":
        instruction = (
            f"The function `{name}` below should return a value that {family.does.removeprefix('returns ')}, "
            "but some results are wrong. Find the bug, explain it and fix the function."
        )
        code = family.buggy if rng.random() >= 0.05 else family.solution
    elif type_name == "refactor":
        instruction = f"Refactor the function `{name}` below for readability; it must return exactly the same results."
        code = family.solution
    elif type_name == "optimize_complexity":
        instruction = (
            f"Make `{name}` below as efficient as possible without changing its results, and give its complexity."
        )
        code = family.solution
    elif type_name == "translate_to_python":
        blocks = [code for tag, code in _blocks(prompt) if tag not in ("", "python")]
        code = blocks[0] if blocks else family.js
        instruction = f"Translate the code below into Python. Name the Python function `{name}`."
    else:
        instruction = f"Using the re module, write a Python function `{name}({family.params})` that {family.does}."
    return {"instruction": instruction, "function_name": name, "code": code, "solution": solution, "tests": tests}


def _read_task(type_name: str, prompt: str, rng: random.Random) -> dict[str, Any]:
    params = dict(re.findall(r"^- (\w+): (.+)$", prompt.split("Task type:", 1)[-1], re.M))
    if type_name == "translate_from_python":
        instruction = f"Translate the Python code below into {params.get('target', 'JavaScript')}."
    elif type_name == "add_documentation":
        instruction = f"Add {params.get('kind', 'docstrings')} to the code below without changing what it does."
    elif type_name == "code_review":
        instruction = f"Review the code below, focusing on {params.get('focus', 'correctness')}."
    else:
        instruction = f"Explain what the code below does, for {params.get('audience', 'a beginner')}."
    return {"instruction": instruction, "code": "", "answer": "It names the function, its inputs and its result."}


@register_responder("code/suggest")
def suggest(request: ChatRequest, rng: random.Random) -> dict[str, Any]:
    prompt = request.user_text
    type_name = _task_type(prompt)
    itype = _TYPES.get(type_name)
    group = itype.group if itype is not None else Group.READ
    tasks: list[dict[str, Any]] = []
    for _ in range(_count(prompt)):
        family = _pick(rng, prompt, regex=type_name == "write_regex")
        if group is Group.TESTED:
            tasks.append(_tested_task(type_name, family, rng, prompt))
        elif group is Group.TEST_WRITING:
            tasks.append(
                {
                    "instruction": f"Write unit tests for the function `{family.name}` below.",
                    "function_name": family.name,
                    "code": family.solution,
                    "buggy_code": family.buggy,
                    "tests": list(family.tests),
                }
            )
        elif group is Group.TRACE:
            prints = "\n".join(f"print({call})" for call in family.calls)
            tasks.append(
                {"instruction": "What does this program print?", "program": f"{family.solution}\n\n{prints}\n"}
            )
        elif group is Group.ERROR:
            tasks.append(
                {
                    "instruction": "I ran this program and it stopped with the error below. What does the error "
                    "mean, and how do I fix the program?",
                    "program": f"{family.solution}\n\n{family.error_call}\n",
                    "cause": family.cause,
                }
            )
        else:
            tasks.append(_read_task(type_name, prompt, rng))
    return {"tasks": tasks}


# ----
# Teacher, critique, revision
# ----
def _function_name(prompt: str) -> str:
    match = re.search(r"defines `(\w+)`|`(\w+)` is already defined", prompt)
    if match:
        return match.group(1) or match.group(2)
    family = _family_in(_quoted(prompt))
    return family.name if family else "solution"


def _solution_for(family: Family, message: str) -> str:
    if family.second_marker and family.second_marker in message:
        return family.second_solution
    if family.validated and "ValueError" in message:
        return family.validated
    return family.solution


def _test_functions(family: Family, extra: tuple[str, ...] = ()) -> str:
    tests = [*family.tests, *extra]
    return "\n\n".join(f"def test_{family.name}_{i}():\n    {t}" for i, t in enumerate(tests)) + "\n"


def _trace(program: str) -> str:
    lines: list[str] = []
    for node in ast.parse(program).body:
        if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)):
            continue
        call = node.value
        if not (isinstance(call.func, ast.Name) and call.func.id == "print" and len(call.args) == 1):
            continue
        inner = call.args[0]
        family = (
            _BY_NAME.get(inner.func.id) if isinstance(inner, ast.Call) and isinstance(inner.func, ast.Name) else None
        )
        if family is None or not isinstance(inner, ast.Call):
            lines.append("None")
            continue
        try:
            args = [ast.literal_eval(arg) for arg in inner.args]
            kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in inner.keywords if kw.arg}
            lines.append(str(family.impl(*args, **kwargs)))
        except (ValueError, TypeError, SyntaxError):
            lines.append("None")
    return "\n".join(lines)


def _explanation(family: Family | None, what: str) -> str:
    subject = f"The function `{family.name}` {family.does}" if family else "The code computes its result step by step"
    return (
        f"{subject}. {what} It reads its input once, keeps the intermediate values in local variables, and returns "
        "the result without changing the arguments, so calling it twice with the same input gives the same answer."
    )


def _answer(request: ChatRequest, rng: random.Random, *, slip_rate: float) -> dict[str, Any]:
    prompt = request.user_text
    message = _quoted(prompt)
    type_name = _task_type(prompt)
    itype = _TYPES.get(type_name)
    group = itype.group if itype is not None else Group.READ
    family = _family_in(message)
    if group is Group.TESTED:
        name = _function_name(prompt)
        family = _BY_NAME.get(name, family)
        if family is None:
            return {"explanation": "A placeholder.", "code": f"def {name}(*args, **kwargs):\n    return None\n"}
        code = family.buggy if rng.random() < slip_rate else _solution_for(family, message)
        if "test functions named test_" in prompt:
            code = f"{code}\n\n{_test_functions(family)}"
        return {"explanation": _explanation(family, "The code handles the edge cases the task names."), "code": code}
    if group is Group.TEST_WRITING:
        family = _BY_NAME.get(_function_name(prompt), family)
        if family is None:
            return {"explanation": "No tests.", "code": "pass\n"}
        return {"explanation": "The tests cover typical inputs and edge cases.", "code": _test_functions(family)}
    blocks = _blocks(message)
    program = next((code for tag, code in blocks if tag == "python"), "")
    if group is Group.TRACE:
        output = _trace(program)
        if rng.random() < slip_rate:
            output += "\nNone"
        return {"explanation": "Each print call is evaluated in order: " + _explanation(family, ""), "code": output}
    if group is Group.ERROR:
        fixed = program
        if family is not None and family.error_call in program:
            fixed = program.replace(family.error_call, family.fixed_call)
        why = family.cause if family else "The call passes a value of the wrong type."
        return {
            "explanation": f"The error is raised by the last line. {why} " + _explanation(family, ""),
            "code": fixed,
        }
    if type_name == "add_documentation":
        target = program or (blocks[0][1] if blocks else "")
        return {
            "explanation": _explanation(family, "Documentation was added; the code is unchanged."),
            "code": _documented(target, python=bool(program)),
        }
    if type_name == "translate_from_python":
        js = family.js if family else "function solution() {\n  return null;\n}\n"
        return {"explanation": _explanation(family, "The translation keeps the same logic."), "code": js}
    return {"explanation": _explanation(family, "Here is how it works, line by line."), "code": ""}


@register_responder("code/teacher")
def teacher(request: ChatRequest, rng: random.Random) -> dict[str, Any]:
    return _answer(request, rng, slip_rate=0.1)


@register_responder("code/revise")
def revise(request: ChatRequest, rng: random.Random) -> dict[str, Any]:
    return _answer(request, rng, slip_rate=0.0)


@register_responder("code/critique")
def critique(request: ChatRequest, rng: random.Random) -> dict[str, Any]:
    failed = re.findall(r"^- (\w+): FAILED \((.*)\)$", request.user_text, re.M)
    if failed:
        return {"flaws": [f"The {name} check fails: {detail[:200]}" for name, detail in failed], "verdict": "revise"}
    return {"flaws": [], "verdict": "ok"}


# ----
# Refinement
# ----
_SUGGESTIONS = {
    "second_requirement": "Add a second requirement that changes the result for some inputs.",
    "edge_cases": "Require correct results for empty and extreme inputs.",
    "invalid_input": "Require a ValueError for invalid arguments.",
    "with_tests": "Ask for unit tests together with the implementation.",
    "deeper": "Ask for more depth: a longer trace or the time complexity.",
}
_SECOND_TEXT = {
    "add_numbers": "The function also takes an optional third number c (default 0) and adds it too.",
    "reverse_string": "With words=True, reverse the order of the words instead of the characters.",
    "count_vowels": "With include_y=True, count y as a vowel as well.",
}


@register_responder("code/refine_suggest")
def refine_suggest(request: ChatRequest, rng: random.Random) -> dict[str, Any]:
    prompt = request.user_text
    goals = [g for g in re.findall(r"^- (\w+):", prompt, re.M) if g in _SUGGESTIONS] or ["second_requirement"]
    count_match = re.search(r"Propose (\d+) suggestion", prompt)
    count = int(count_match.group(1)) if count_match else 2
    return {"suggestions": [{"goal": (g := rng.choice(goals)), "suggestion": _SUGGESTIONS[g]} for _ in range(count)]}


@register_responder("code/refine_edit")
def refine_edit(request: ChatRequest, rng: random.Random) -> dict[str, Any]:
    prompt = request.user_text
    instruction = _quoted(prompt).split("\n\n", 1)[0]
    goal = _after(prompt, "Goal:").split(" ", 1)[0]
    if "Reference solution:" in prompt:
        name = re.search(r"Keep the function name `(\w+)`", prompt)
        family = _BY_NAME.get(name.group(1)) if name else None
        tests_part = prompt.split("Tests:", 1)[1].split("Goal:", 1)[0]
        tests = [line for line in tests_part.strip().splitlines() if line.strip()]
        solution = _blocks(prompt.split("Reference solution:", 1)[1])[0][1] if "```" in prompt else ""
        if family is None:
            return {
                "instruction": instruction + " Handle edge cases.",
                "code": "",
                "solution": solution,
                "tests": tests,
            }
        if goal == "edge_cases":
            instruction += " It must also work for edge cases such as empty or extreme inputs."
            tests.append(family.edge_test)
        elif goal == "invalid_input" and family.validated:
            instruction += " If an argument is invalid, raise ValueError."
            solution = family.validated
            tests.append(family.invalid_test)
        elif goal == "second_requirement" and family.second_solution:
            instruction += " " + _SECOND_TEXT[family.name] + f" ({family.second_marker})."
            solution = family.second_solution
            tests.append(family.second_test)
        elif goal == "with_tests":
            instruction += " Also write unit tests as test_ functions with plain assert statements."
        else:
            instruction += " Make it robust."
        return {"instruction": instruction, "code": "", "solution": solution, "tests": tests}
    if '"program"' in prompt:
        message = _quoted(prompt)
        program = next((code for tag, code in _blocks(message) if tag == "python"), "")
        family = _family_in(program)
        extra = f"print({family.calls[-1]})" if family else "print('done')"
        if family is not None and family.error_call in program:
            program = program.replace(family.error_call, f"{extra}\n{family.error_call}")
        else:
            program = f"{program.rstrip()}\n{extra}\n"
        return {"instruction": "What exactly happens when this longer program runs? Trace it.", "program": program}
    return {
        "instruction": instruction + " Also state the time complexity of the code and why.",
        "answer": "The key points, plus the time complexity.",
    }
