"""Checks of coding answers (method doc §8.5 "Validation"): code blocks, compilation, and sandboxed test runs.

Static helpers (code blocks of a markdown answer, `compile()` errors, what a module defines, its imports, its
docstrings and type hints, whether two programs differ in more than documentation) only parse code: nothing
here ever executes generated code in this process. Everything that runs code goes through
`agentinstruct.tools.sandbox` (a separate process without network, with time, memory and output limits):

* `run_against_tests` runs a solution against assert snippets (`run_tests`);
* `check_tests_pass` / `check_buggy_fails` / `check_tests_catch_bug` / `check_program_runs` turn runs into
  `CheckResult`s named `skill.<check>`, whose detail carries the failing tests and an excerpt of the sandbox's
  stderr.

At most `sandbox_slots()` sandbox processes run at the same time per event loop.
"""

from __future__ import annotations

import ast
import asyncio
import os
import re
import sys
import weakref
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from agentinstruct.tools.sandbox import SandboxResult, TestRunResult, run_python, run_tests
from agentinstruct_schemas import CheckResult

__all__ = [
    "PYTHON_TAGS",
    "CodeBlock",
    "calls_name",
    "check_buggy_fails",
    "check_program_runs",
    "check_tests_catch_bug",
    "check_tests_pass",
    "code_blocks",
    "compile_error",
    "defines",
    "docstring_gaps",
    "failure_summary",
    "last_block",
    "last_python_block",
    "non_stdlib_imports",
    "normalize_output",
    "run_against_tests",
    "run_program",
    "same_code_ignoring_docs",
    "stderr_excerpt",
    "strip_fences",
    "student_test_functions",
    "student_test_snippets",
    "type_hint_gaps",
]

PYTHON_TAGS: frozenset[str] = frozenset({"python", "py", "python3", "py3"})
MAX_DETAIL_ERRORS = 3
STDERR_EXCERPT_CHARS = 400

_FENCE_RE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([^\s`]*)[^\n]*\n(.*?)^[ \t]*\1[ \t]*$", re.M | re.S)
_OUTER_FENCE_RE = re.compile(r"^\s*(`{3,}|~{3,})[^\n]*\n(.*?)\n?[ \t]*\1\s*$", re.S)


# ----
# Code blocks of a markdown answer
# ----
@dataclass(frozen=True, slots=True)
class CodeBlock:
    language: str  # the fence's info tag, lowercased; "" when the fence has none
    code: str


def code_blocks(text: str) -> list[CodeBlock]:
    """The fenced code blocks of a markdown text, in order."""
    return [CodeBlock(m.group(2).strip().lower(), m.group(3)) for m in _FENCE_RE.finditer(text)]


def last_block(text: str, languages: Collection[str] | None = None) -> str | None:
    """The last block whose tag is in `languages` (any tag when None), or None."""
    wanted = {lang.lower() for lang in languages} if languages is not None else None
    for block in reversed(code_blocks(text)):
        if wanted is None or block.language in wanted:
            return block.code
    return None


def last_python_block(text: str) -> str | None:
    """The last block tagged as Python; else the last untagged block; else None."""
    found = last_block(text, PYTHON_TAGS)
    if found is not None:
        return found
    return last_block(text, {""})


def strip_fences(code: str) -> str:
    """`code` without one surrounding markdown fence, if a model put the fence inside a code field."""
    match = _OUTER_FENCE_RE.match(code)
    return match.group(2) if match else code


# ----
# Static analysis (parsing only)
# ----
def compile_error(code: str, filename: str = "<answer>") -> str | None:
    """None if `code` compiles as a Python module, else a one-line description of the error."""
    try:
        compile(code, filename, "exec", dont_inherit=True)
    except SyntaxError as exc:
        where = f" (line {exc.lineno})" if exc.lineno else ""
        return f"{type(exc).__name__}: {exc.msg}{where}"
    except (ValueError, MemoryError, RecursionError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _parse(code: str) -> ast.Module | None:
    try:
        return ast.parse(code)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None


def defines(code: str, name: str) -> bool:
    """Whether the module defines `name` at top level (a function, a class, an assignment or an import)."""
    tree = _parse(code)
    if tree is None:
        return False
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.name == name:
            return True
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                return True
        if isinstance(node, ast.Import | ast.ImportFrom) and any(
            (alias.asname or alias.name.split(".")[0]) == name for alias in node.names
        ):
            return True
    return False


def calls_name(code: str, name: str) -> bool:
    """Whether `code` refers to `name` (as a variable, or as the attribute in `x.name`)."""
    tree = _parse(code)
    if tree is None:
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == name:
            return True
        if isinstance(node, ast.Attribute) and node.attr == name:
            return True
    return False


def non_stdlib_imports(code: str) -> list[str]:
    """Top-level module names imported by `code` that are not in Python's standard library."""
    tree = _parse(code)
    if tree is None:
        return []
    found: list[str] = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for module in names:
            top = module.split(".")[0]
            if top not in sys.stdlib_module_names and top != "__future__" and top not in found:
                found.append(top)
    return found


def _functions(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def docstring_gaps(code: str) -> list[str] | None:
    """Names of the functions and classes without a docstring (None if the code does not parse or defines none)."""
    tree = _parse(code)
    if tree is None:
        return None
    nodes = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)]
    if not nodes:
        return None
    return [n.name for n in nodes if ast.get_docstring(n) is None]


def type_hint_gaps(code: str) -> list[str] | None:
    """Functions missing a parameter or return annotation (None if the code does not parse or defines none).

    `self` and `cls` need none, and neither does the return of `__init__`.
    """
    tree = _parse(code)
    if tree is None:
        return None
    functions = _functions(tree)
    if not functions:
        return None
    gaps: list[str] = []
    for fn in functions:
        args = [*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs]
        if fn.args.vararg:
            args.append(fn.args.vararg)
        if fn.args.kwarg:
            args.append(fn.args.kwarg)
        missing = [a.arg for a in args if a.annotation is None and a.arg not in ("self", "cls")]
        if fn.returns is None and fn.name != "__init__":
            missing.append("return")
        if missing:
            gaps.append(f"{fn.name} ({', '.join(missing)})")
    return gaps


class _StripDocs(ast.NodeTransformer):
    """Removes docstrings and annotations, so two programs can be compared on what they do."""

    def _strip_body(self, body: list[ast.stmt]) -> list[ast.stmt]:
        first = body[0] if body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
            body = body[1:]
        return body or [ast.Pass()]

    def visit_Module(self, node: ast.Module) -> ast.AST:
        self.generic_visit(node)
        node.body = self._strip_body(node.body)
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        self.generic_visit(node)
        node.body = self._strip_body(node.body)
        return node

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.AST:
        self.generic_visit(node)
        node.body = self._strip_body(node.body)
        node.returns = None
        node.type_comment = None
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        return self._function(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.AST:
        return self._function(node)

    def visit_arg(self, node: ast.arg) -> ast.AST:
        node.annotation = None
        node.type_comment = None
        return node

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST | None:
        if node.value is None:
            return None  # a bare declaration `x: int` does nothing at run time
        return ast.Assign(targets=[node.target], value=node.value, lineno=node.lineno)

    def visit_Expr(self, node: ast.Expr) -> ast.AST | None:
        # String statements in the middle of a body are comments in effect.
        if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            return None
        return node

    def visit_Import(self, node: ast.Import) -> ast.AST | None:
        return None if all(a.name == "typing" for a in node.names) else node

    def visit_ImportFrom(self, node: ast.ImportFrom) -> ast.AST | None:
        return None if node.module in ("typing", "__future__", "collections.abc") else node


def _skeleton(code: str) -> str | None:
    tree = _parse(code)
    if tree is None:
        return None
    stripped = _StripDocs().visit(tree)
    return ast.dump(ast.fix_missing_locations(stripped), annotate_fields=False, include_attributes=False)


def same_code_ignoring_docs(original: str, edited: str) -> bool | None:
    """Whether two programs are the same once docstrings, type hints and typing imports are removed.

    None when either does not parse.
    """
    a, b = _skeleton(original), _skeleton(edited)
    if a is None or b is None:
        return None
    return a == b


def student_test_functions(code: str) -> list[str]:
    """Top-level `test_*` functions that can be called without arguments."""
    tree = _parse(code)
    if tree is None:
        return []
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
            args = node.args
            required = len(args.posonlyargs) + len(args.args) - len(args.defaults)
            required_kw = sum(1 for d in args.kw_defaults if d is None)
            if required == 0 and required_kw == 0 and node.name not in names:
                names.append(node.name)
    return names


def _has_top_level_assert(code: str) -> bool:
    tree = _parse(code)
    return tree is not None and any(isinstance(node, ast.Assert) for node in tree.body)


def student_test_snippets(test_code: str) -> list[str]:
    """Runnable snippets from a student's test code: one per `test_*` function (the whole code, then the call),
    or the whole code when it only has top-level asserts; empty when it has neither."""
    names = student_test_functions(test_code)
    if names:
        return [f"{test_code.rstrip()}\n\n{name}()\n" for name in names]
    if _has_top_level_assert(test_code):
        return [test_code]
    return []


def normalize_output(text: str) -> str:
    """Program output compared loosely: no trailing spaces, no leading or trailing blank lines, LF endings."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


# ----
# Sandboxed runs
# ----
_SLOTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


def sandbox_slots() -> int:
    return max(2, os.cpu_count() or 2)


def _slots() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    semaphore = _SLOTS.get(loop)
    if semaphore is None:
        semaphore = _SLOTS[loop] = asyncio.Semaphore(sandbox_slots())
    return semaphore


async def run_against_tests(code: str, tests: Sequence[str], *, timeout_s: float) -> TestRunResult:
    """Run `code` (as module `solution`) and then each test snippet, in the sandbox."""
    async with _slots():
        return await run_tests(code, list(tests), timeout_s=timeout_s)


async def run_program(code: str, *, timeout_s: float) -> SandboxResult:
    """Run `code` as a program in the sandbox (empty stdin)."""
    async with _slots():
        return await run_python(code, timeout_s=timeout_s)


def stderr_excerpt(result: SandboxResult, limit: int = STDERR_EXCERPT_CHARS) -> str:
    """The end of the sandbox's stderr (where a traceback's message is), at most `limit` characters."""
    text = result.stderr.strip()
    if len(text) <= limit:
        return text
    return "..." + text[-limit:]


def failure_summary(run: TestRunResult, limit: int = MAX_DETAIL_ERRORS) -> str:
    """`3/5 tests passed; test 1: AssertionError (...); ...; stderr: ...`."""
    total = run.passed + run.failed
    parts = [f"{run.passed}/{total} tests passed"]
    if run.setup_error:
        parts.append(f"setup error: {run.setup_error}")
    else:
        parts.extend(run.errors[:limit])
        if len(run.errors) > limit:
            parts.append(f"... {len(run.errors) - limit} more")
    if run.sandbox.killed_reason:
        parts.append(f"killed: {run.sandbox.killed_reason}")
    excerpt = stderr_excerpt(run.sandbox)
    if excerpt:
        parts.append(f"stderr: {excerpt}")
    return "; ".join(parts)


async def check_tests_pass(
    code: str, tests: Sequence[str], *, timeout_s: float, name: str = "skill.tests_pass"
) -> tuple[CheckResult, TestRunResult]:
    """Every test passes and the code loads without error."""
    run = await run_against_tests(code, tests, timeout_s=timeout_s)
    passed = run.all_passed and run.setup_error is None
    return CheckResult(name=name, passed=passed, detail=failure_summary(run)), run


async def check_buggy_fails(
    buggy: str, tests: Sequence[str], *, timeout_s: float, name: str = "skill.buggy_fails"
) -> tuple[CheckResult, TestRunResult]:
    """The buggy version fails at least one test (so the tests can tell a fix from the bug)."""
    run = await run_against_tests(buggy, tests, timeout_s=timeout_s)
    fails = not run.all_passed
    detail = failure_summary(run) if fails else f"the buggy code passes all {run.passed} tests"
    return CheckResult(name=name, passed=fails, detail=detail), run


async def check_tests_catch_bug(
    buggy: str, snippets: Sequence[str], *, timeout_s: float, name: str = "skill.tests_catch_bug"
) -> tuple[CheckResult, TestRunResult]:
    """A student's tests, run against a buggy implementation, fail at least once."""
    run = await run_against_tests(buggy, snippets, timeout_s=timeout_s)
    caught = not run.all_passed
    detail = failure_summary(run) if caught else "every test passes on an implementation with a known bug"
    return CheckResult(name=name, passed=caught, detail=detail), run


async def check_program_runs(
    code: str, *, timeout_s: float, name: str = "skill.fix_runs"
) -> tuple[CheckResult, SandboxResult]:
    """The program exits normally."""
    result = await run_program(code, timeout_s=timeout_s)
    if result.ok:
        detail = f"exit code 0 in {result.duration_s:.2f}s"
    else:
        why = f"killed: {result.killed_reason}" if result.killed_reason else f"exit code {result.exit_code}"
        detail = f"{why}; stderr: {stderr_excerpt(result)}"
    return CheckResult(name=name, passed=result.ok, detail=detail), result
