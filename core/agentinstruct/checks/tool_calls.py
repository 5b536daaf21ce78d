"""Checks of tool-use transcripts (method doc §4 item 2 and §8.4 "Validation"). Pure functions: no LLM, no I/O.

A transcript is a list of messages `{role, content, name?}`. An assistant turn calls an API with a block

    <tool_call>
    {"name": "get_weather", "arguments": {"city": "Paris"}}
    </tool_call>

and the next turn is the tool's answer, `{"role": "tool", "name": "get_weather", "content": "..."}`. An API list
is a list of specs `{name, description, parameters: {p: {type, description, required, enum?}}, returns}`.

What is checked: every call block parses; every call gets exactly one tool answer and every tool answer has a
call; every call names an API of the list, with every required parameter, values of the declared types and
enums, and no parameter the API does not take; the transcript ends with an answer, not a call. When the task
was written with APIs removed from the list (cases 3 and 4), no call names them and the answer says that the
needed capability is missing. When it was written with required values withheld (cases 1c and 2b), the
assistant asks for them before any call that would need them, and no call carries a value the user never gave.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agentinstruct_schemas import CheckResult

CALL_OPEN = "<tool_call>"
CALL_CLOSE = "</tool_call>"
JSON_TYPES: tuple[str, ...] = ("string", "integer", "number", "boolean", "array", "object")

_CALL_RE = re.compile(re.escape(CALL_OPEN) + r"(.*?)" + re.escape(CALL_CLOSE), re.S)
_NEGATION_RE = re.compile(
    r"\b(?:no|not|cannot|unable|without|lack|lacks|lacking|missing|unavailable|none)\b|n't\b|\bcan ?not\b",
    re.I,
)
_CAPABILITY_RE = re.compile(
    r"\b(?:apis?|tools?|functions?|endpoints?|available|access|list|provided|supports?|supported|capabilit(?:y|ies))\b",
    re.I,
)
_MAX_DETAILS = 3


@dataclass(frozen=True, slots=True)
class ParsedCall:
    """One API call found in an assistant turn (`turn` is its index in the transcript)."""

    turn: int
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CallProblem:
    """Why a call does not fit its API: unknown_api, missing_required, superfluous, bad_type or bad_enum."""

    kind: str
    detail: str


# ----
# Rendering and parsing calls
# ----
def render_call(name: str, arguments: Mapping[str, Any]) -> str:
    """The call block an assistant turn carries."""
    payload = json.dumps({"name": name, "arguments": dict(arguments)}, ensure_ascii=False)
    return f"{CALL_OPEN}\n{payload}\n{CALL_CLOSE}"


def has_call_block(content: str) -> bool:
    return CALL_OPEN in content or CALL_CLOSE in content


def parse_call_blocks(content: str) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """The (name, arguments) of each call block in `content`, and the problems of the blocks that do not parse."""
    calls: list[tuple[str, dict[str, Any]]] = []
    errors: list[str] = []
    for match in _CALL_RE.finditer(content):
        body = match.group(1).strip()
        try:
            payload = json.loads(body)
        except json.JSONDecodeError as exc:
            errors.append(f"a call block is not valid JSON ({exc.msg})")
            continue
        if not isinstance(payload, dict):
            errors.append("a call block is not a JSON object")
            continue
        name = payload.get("name")
        arguments = payload.get("arguments", {})
        if not isinstance(name, str) or not name.strip():
            errors.append("a call block has no API name")
            continue
        if not isinstance(arguments, dict):
            errors.append(f"the arguments of the call to {name} are not a JSON object")
            continue
        calls.append((name.strip(), arguments))
    leftover = _CALL_RE.sub("", content)
    if CALL_OPEN in leftover or CALL_CLOSE in leftover:
        errors.append("a call block is not closed or not opened")
    return calls, errors


def extract_calls(messages: Sequence[Mapping[str, Any]]) -> tuple[list[ParsedCall], list[str]]:
    """Every call of every assistant turn, in order, and the problems of the blocks that do not parse."""
    calls: list[ParsedCall] = []
    errors: list[str] = []
    for index, message in enumerate(messages):
        if message.get("role") != "assistant":
            continue
        found, problems = parse_call_blocks(str(message.get("content", "")))
        calls.extend(ParsedCall(turn=index, name=name, arguments=args) for name, args in found)
        errors.extend(f"turn {index}: {problem}" for problem in problems)
    return calls, errors


# ----
# Validating one call against its API
# ----
def api_index(apis: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    return {str(api.get("name", "")): api for api in apis}


def value_has_type(value: Any, json_type: str) -> bool:
    """Whether a JSON value has the declared JSON-schema type (booleans are not numbers)."""
    if json_type == "string":
        return isinstance(value, str)
    if json_type == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if json_type == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if json_type == "boolean":
        return isinstance(value, bool)
    if json_type == "array":
        return isinstance(value, list)
    if json_type == "object":
        return isinstance(value, dict)
    return False


def _in_enum(value: Any, enum: Sequence[Any]) -> bool:
    if isinstance(value, dict | list):
        return False
    return any(value == choice and type(value) is not bool for choice in enum) or (
        isinstance(value, str) and value in {str(choice) for choice in enum}
    )


def required_params(api: Mapping[str, Any]) -> list[str]:
    params = api.get("parameters") or {}
    return [name for name, spec in params.items() if isinstance(spec, Mapping) and spec.get("required")]


def validate_call(name: str, arguments: Mapping[str, Any], apis: Iterable[Mapping[str, Any]]) -> list[CallProblem]:
    """Problems of a call against the API list; empty when the call is valid."""
    api = api_index(apis).get(name)
    if api is None:
        return [CallProblem("unknown_api", f"{name} is not in the API list")]
    problems: list[CallProblem] = []
    params: Mapping[str, Any] = api.get("parameters") or {}
    for param in required_params(api):
        if param not in arguments:
            problems.append(CallProblem("missing_required", f"{name} needs the required parameter {param}"))
    for param, value in arguments.items():
        spec = params.get(param)
        if not isinstance(spec, Mapping):
            problems.append(CallProblem("superfluous", f"{name} has no parameter {param}"))
            continue
        json_type = str(spec.get("type", "string"))
        if not value_has_type(value, json_type):
            problems.append(CallProblem("bad_type", f"{name}.{param} must be {json_type}, got {type(value).__name__}"))
            continue
        enum = spec.get("enum")
        if enum and not _in_enum(value, enum):
            problems.append(CallProblem("bad_enum", f"{name}.{param}={value!r} is not one of {list(enum)}"))
    return problems


# ----
# Reading assistant turns
# ----
def is_clarification(content: str) -> bool:
    """An assistant turn that asks the user something instead of calling an API."""
    return not has_call_block(content) and "?" in content


def is_refusal(content: str) -> bool:
    """An assistant turn that says a needed API or capability is not available (no call in it)."""
    if has_call_block(content):
        return False
    return bool(_NEGATION_RE.search(content)) and bool(_CAPABILITY_RE.search(content))


# ----
# The transcript checks
# ----
def _result(name: str, problems: Sequence[str]) -> CheckResult:
    shown = "; ".join(problems[:_MAX_DETAILS])
    if len(problems) > _MAX_DETAILS:
        shown += f"; and {len(problems) - _MAX_DETAILS} more"
    return CheckResult(name=f"skill.{name}", passed=not problems, detail=shown)


def _tool_turn_problems(messages: Sequence[Mapping[str, Any]]) -> list[str]:
    problems: list[str] = []
    pending: list[str] = []
    for index, message in enumerate(messages):
        role = message.get("role")
        if role == "tool":
            if not pending:
                problems.append(f"turn {index}: a tool answer that no call asked for")
                continue
            expected = pending.pop(0)
            name = message.get("name")
            if name and name != expected:
                problems.append(f"turn {index}: the tool answer is from {name}, the call was to {expected}")
            continue
        if role in ("user", "assistant") and pending:
            problems.append(f"turn {index}: the call to {pending[0]} got no tool answer")
            pending = []
        if role == "assistant":
            found, _errors = parse_call_blocks(str(message.get("content", "")))
            pending = [name for name, _args in found]
    if pending:
        problems.append(f"the transcript ends with a call to {pending[0]} that got no tool answer")
    return problems


def transcript_checks(
    messages: Sequence[Mapping[str, Any]],
    apis: Sequence[Mapping[str, Any]],
    *,
    absent_apis: Sequence[str] = (),
    missing_params: Mapping[str, Sequence[str]] | None = None,
) -> list[CheckResult]:
    """All tool-use checks of one transcript, each a `skill.<name>` result."""
    missing = {api: list(params) for api, params in (missing_params or {}).items() if params}
    calls, format_errors = extract_calls(messages)
    results = [
        _result("call_format", format_errors),
        _result("tool_turns", _tool_turn_problems(messages)),
    ]

    by_kind: dict[str, list[str]] = {}
    for call in calls:
        for problem in validate_call(call.name, call.arguments, apis):
            by_kind.setdefault(problem.kind, []).append(f"turn {call.turn}: {problem.detail}")
    results.append(_result("api_exists", by_kind.get("unknown_api", [])))
    results.append(_result("required_params", by_kind.get("missing_required", [])))
    results.append(_result("param_types", by_kind.get("bad_type", []) + by_kind.get("bad_enum", [])))
    results.append(_result("no_superfluous_params", by_kind.get("superfluous", [])))

    assistant_turns = [(i, str(m.get("content", ""))) for i, m in enumerate(messages) if m.get("role") == "assistant"]
    final_problems: list[str] = []
    if not assistant_turns:
        final_problems.append("there is no assistant turn")
    elif has_call_block(assistant_turns[-1][1]):
        final_problems.append("the last assistant turn is a call, not an answer")
    elif not assistant_turns[-1][1].strip():
        final_problems.append("the last assistant turn is empty")
    results.append(_result("final_answer", final_problems))

    fabricated: list[str] = []
    absent = set(absent_apis)
    for call in calls:
        if call.name in absent:
            fabricated.append(f"turn {call.turn}: calls {call.name}, which is not in the list")
        for param in missing.get(call.name, []):
            if param in call.arguments:
                fabricated.append(f"turn {call.turn}: invents {call.name}.{param}, which the user never gave")
    results.append(_result("no_fabricated_calls", fabricated))

    if absent:
        handled: list[str] = []
        if not assistant_turns or not is_refusal(assistant_turns[-1][1]):
            handled.append(
                f"the answer does not say that the needed API ({', '.join(sorted(absent))}) is not available"
            )
        handled.extend(f"turn {c.turn}: calls the absent API {c.name}" for c in calls if c.name in absent)
        results.append(_result("missing_api_handled", handled))

    if missing:
        asked = next((i for i, content in assistant_turns if is_clarification(content)), None)
        clarify: list[str] = []
        if asked is None:
            wanted = ", ".join(f"{api}.{p}" for api, params in sorted(missing.items()) for p in params)
            clarify.append(f"no turn asks the user for the missing value ({wanted})")
        for call in calls:
            if asked is not None and call.turn > asked:
                continue
            if call.name in missing:
                clarify.append(f"turn {call.turn}: calls {call.name} before asking for its missing value")
        results.append(_result("clarify_before_call", clarify))
    return results
