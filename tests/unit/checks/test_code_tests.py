"""Coding checks: code blocks, static analysis, and sandboxed runs turned into check results."""

from __future__ import annotations

import pytest

from agentinstruct.checks.code_tests import (
    calls_name,
    check_buggy_fails,
    check_program_runs,
    check_tests_catch_bug,
    check_tests_pass,
    code_blocks,
    compile_error,
    defines,
    docstring_gaps,
    failure_summary,
    last_block,
    last_python_block,
    non_stdlib_imports,
    normalize_output,
    run_against_tests,
    same_code_ignoring_docs,
    strip_fences,
    student_test_functions,
    student_test_snippets,
    type_hint_gaps,
)

ADD = "def add(a, b):\n    return a + b\n"
ADD_BUGGY = "def add(a, b):\n    return a - b\n"
TESTS = ["assert add(1, 2) == 3", "assert add(-1, 1) == 0", "assert add(0, 0) == 0"]


# ----
# Code blocks
# ----
def test_code_blocks_in_order_with_tags() -> None:
    text = "Intro\n\n```python\nx = 1\n```\n\nthen\n\n```\nplain\n```\n\n````js\nlet a = '```';\n````\n"
    blocks = code_blocks(text)
    assert [(b.language, b.code) for b in blocks] == [
        ("python", "x = 1\n"),
        ("", "plain\n"),
        ("js", "let a = '```';\n"),
    ]


def test_last_python_block_prefers_tagged_then_untagged() -> None:
    text = "```python\nfirst = 1\n```\n\n```python\nsecond = 2\n```\n\n```text\n3\n```\n"
    assert last_python_block(text) == "second = 2\n"
    assert last_python_block("```\nuntagged = 1\n```") == "untagged = 1\n"
    assert last_python_block("no code at all") is None
    assert last_block(text) == "3\n"
    assert last_block(text, {"text"}) == "3\n"
    assert last_block(text, {"rust"}) is None


def test_strip_fences_removes_one_surrounding_fence() -> None:
    assert strip_fences("```python\nx = 1\n```") == "x = 1"
    assert strip_fences("  ```\nx = 1\n```  \n") == "x = 1"
    assert strip_fences("x = 1") == "x = 1"


# ----
# Static analysis
# ----
def test_compile_error_reports_the_line_without_running() -> None:
    assert compile_error(ADD) is None
    error = compile_error("def f(:\n    pass\n")
    assert error is not None and error.startswith("SyntaxError") and "line 1" in error
    # compiling does not execute: a program that would raise at run time still compiles
    assert compile_error("raise SystemExit(3)\n") is None


def test_defines_and_calls_name() -> None:
    code = "import re as regex\nLIMIT = 3\n\nclass Stack:\n    pass\n\ndef push(x):\n    return x\n"
    for name in ("regex", "LIMIT", "Stack", "push"):
        assert defines(code, name)
    assert not defines(code, "pop")
    assert not defines("def f(:", "f")
    assert calls_name("assert push(1) == 1", "push")
    assert calls_name("s = Stack(); s.push(1)", "push")
    assert not calls_name("assert pop(1) == 1", "push")


def test_non_stdlib_imports() -> None:
    code = "import os, json\nfrom collections import Counter\nimport numpy as np\nfrom requests.adapters import X\n"
    assert non_stdlib_imports(code) == ["numpy", "requests"]
    assert non_stdlib_imports("from __future__ import annotations\nimport re\n") == []


def test_docstring_and_type_hint_gaps() -> None:
    code = (
        'class A:\n    """A."""\n    def m(self, x):\n        return x\n\n'
        'def f(a: int) -> int:\n    """F."""\n    return a\n'
    )
    assert docstring_gaps(code) == ["m"]
    assert type_hint_gaps(code) == ["m (x, return)"]
    assert docstring_gaps("x = 1\n") is None
    assert type_hint_gaps("def f(:") is None
    assert type_hint_gaps("class B:\n    def __init__(self, v: int):\n        self.v = v\n") == []


def test_same_code_ignoring_docs() -> None:
    original = "def f(a, b=2):\n    total = a + b\n    return total\n"
    documented = (
        "from typing import Any\n\n"
        'def f(a: int, b: int = 2) -> int:\n    """Add."""\n    total: int = a + b\n    return total\n'
    )
    changed = "def f(a, b=2):\n    total = a * b\n    return total\n"
    assert same_code_ignoring_docs(original, documented) is True
    assert same_code_ignoring_docs(original, changed) is False
    assert same_code_ignoring_docs(original, "def f(:") is None


def test_student_tests_found_as_functions_or_asserts() -> None:
    code = "def test_a():\n    assert add(1, 1) == 2\n\ndef test_b(x=1):\n    assert x\n\ndef test_c(y):\n    pass\n"
    assert student_test_functions(code) == ["test_a", "test_b"]
    snippets = student_test_snippets(code)
    assert len(snippets) == 2 and snippets[0].endswith("test_a()\n") and snippets[1].endswith("test_b()\n")
    assert student_test_snippets("assert add(1, 1) == 2\n") == ["assert add(1, 1) == 2\n"]
    assert student_test_snippets("x = 1\n") == []


def test_normalize_output() -> None:
    assert normalize_output("\n\n5  \r\n6\n\n") == "5\n6"
    assert normalize_output("") == ""


# ----
# Sandboxed runs
# ----
async def test_tests_pass_and_fail_with_details() -> None:
    ok, run = await check_tests_pass(ADD, TESTS, timeout_s=10)
    assert ok.passed and ok.name == "skill.tests_pass" and run.passed == 3
    assert ok.detail.startswith("3/3 tests passed")
    bad, run = await check_tests_pass(ADD_BUGGY, TESTS, timeout_s=10)
    assert not bad.passed and run.passed == 1
    assert "1/3 tests passed" in bad.detail and "AssertionError" in bad.detail and "add(1, 2)" in bad.detail


async def test_setup_error_and_stderr_excerpt_in_the_detail() -> None:
    code = "import sys\nsys.stderr.write('loading went wrong\\n')\nraise RuntimeError('broken module')\n"
    check, run = await check_tests_pass(code, TESTS, timeout_s=10)
    assert not check.passed and run.setup_error is not None
    assert "setup error: RuntimeError: broken module" in check.detail
    assert "stderr:" in check.detail and "loading went wrong" in check.detail
    assert failure_summary(run) == check.detail


async def test_buggy_fails_and_tests_catch_bug() -> None:
    fails, _run = await check_buggy_fails(ADD_BUGGY, TESTS, timeout_s=10)
    assert fails.passed and fails.name == "skill.buggy_fails"
    passes, _run = await check_buggy_fails(ADD, TESTS, timeout_s=10)
    assert not passes.passed and "passes all 3 tests" in passes.detail
    snippets = student_test_snippets("def test_sum():\n    assert add(2, 2) == 4\n")
    caught, _run = await check_tests_catch_bug(ADD_BUGGY, snippets, timeout_s=10)
    assert caught.passed
    weak = student_test_snippets("def test_zero():\n    assert add(0, 0) == 0\n")
    missed, _run = await check_tests_catch_bug(ADD_BUGGY, weak, timeout_s=10)
    assert not missed.passed and "known bug" in missed.detail


async def test_program_runs_in_the_sandbox_not_here() -> None:
    ok, result = await check_program_runs("print('hi')\n", timeout_s=10)
    assert ok.passed and result.stdout == "hi\n"
    crash, result = await check_program_runs("items = []\nprint(items[1])\n", timeout_s=10)
    assert not crash.passed and "IndexError" in crash.detail and "exit code 1" in crash.detail


async def test_generated_code_cannot_reach_the_network_or_spawn_processes() -> None:
    tests = ["import socket\nsocket.create_connection(('127.0.0.1', 9))", "import subprocess\nsubprocess.run(['ls'])"]
    run = await run_against_tests("x = 1\n", tests, timeout_s=10)
    assert run.passed == 0
    assert all("PermissionError" in error or "OSError" in error for error in run.errors)


async def test_a_hanging_solution_is_killed_by_the_timeout() -> None:
    check, run = await check_tests_pass("while True:\n    pass\n", TESTS, timeout_s=1)
    assert not check.passed and run.sandbox.timed_out
    assert "timeout" in check.detail or "timed out" in check.detail


@pytest.mark.parametrize("code", ["", "def f(:\n"])
async def test_failing_checks_never_raise(code: str) -> None:
    check, _run = await check_tests_pass(code, TESTS, timeout_s=10)
    assert not check.passed
