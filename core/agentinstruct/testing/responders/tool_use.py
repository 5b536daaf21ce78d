"""Mock-server answers for the tool-use prompts, read from the rendered prompt text.

They make a run against the mock produce transcripts that pass the tool-use checks, plus a few that fail for
visible reasons: in the missing-value cases the teacher sometimes calls at once with an invented value (caught by
`skill.clarify_before_call`), in the missing-API cases it sometimes claims success (caught by
`skill.missing_api_handled`), and its first call sometimes carries an extra argument, which the flow sends back
for a retry.
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

from agentinstruct.testing.mock_server import ChatRequest, register_responder

_JSON_BLOCK_RE = re.compile(r"```json\s*(.*?)```", re.S)
_VERB_PREFIXES = (
    "get", "list", "create", "update", "delete", "fetch", "find", "search", "compute", "calculate", "parse",
    "load", "save", "set", "make", "build", "read", "write", "add", "remove", "run", "process", "to", "is",
    "has", "check", "validate", "format", "convert", "send", "count", "export",
)  # fmt: skip
_PY_DEF_RE = re.compile(r"def\s+(\w+)\s*\(([^)]*)\)(?:\s*->\s*[^:]+)?:\s*(?:\"\"\"|''')?([^\n\"']*)")
_JS_FUNC_RE = re.compile(r"function\s+(\w+)\s*\(([^)]*)\)")
_C_FUNC_RE = re.compile(r"\b(\w+)\s*\(([^()]*)\)\s*\{")
_SKIP_NAMES = frozenset({"if", "for", "while", "switch", "catch", "return", "main", "function"})


def _snake(name: str) -> str:
    name = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name)
    return re.sub(r"\W+", "_", name).strip("_").lower() or "run_task"


def _words(name: str) -> str:
    return name.replace("_", " ")


def _json_blocks(text: str) -> list[Any]:
    blocks = []
    for body in _JSON_BLOCK_RE.findall(text):
        try:
            blocks.append(json.loads(body))
        except json.JSONDecodeError:
            continue
    return blocks


def _section(text: str, start: str, ends: tuple[str, ...]) -> str:
    index = text.find(start)
    if index == -1:
        return ""
    body = text[index + len(start) :]
    cut = min((pos for pos in (body.find(end) for end in ends) if pos != -1), default=len(body))
    return body[:cut].strip()


def _param_type(annotation: str, default: str) -> str:
    text = f"{annotation} {default}".lower()
    if re.search(r"\bbool\b|true|false", text):
        return "boolean"
    if re.search(r"\bint\b|\blong\b", text) or re.fullmatch(r"-?\d+", default.strip()):
        return "integer"
    if re.search(r"\bfloat\b|\bdouble\b|\bdecimal\b", text) or re.fullmatch(r"-?\d+\.\d*", default.strip()):
        return "number"
    if re.search(r"\blist\b|\bsequence\b|\[\]|\btuple\b", text):
        return "array"
    if re.search(r"\bdict\b|\bmapping\b|\bmap\b", text):
        return "object"
    return "string"


def _params_from_signature(signature: str) -> list[dict[str, Any]]:
    params = []
    for raw in signature.split(","):
        part = raw.strip()
        if not part or part.startswith("*") or part in ("self", "cls", "/"):
            continue
        name_part, _, default = part.partition("=")
        name, _, annotation = name_part.partition(":")
        words = name.strip().split()
        if not words:
            continue
        pname = _snake(words[-1].strip("&*"))
        if len(words) > 1 and not annotation:
            annotation = " ".join(words[:-1])
        params.append(
            {
                "name": pname,
                "type": _param_type(annotation, default),
                "description": f"the {_words(pname)}",
                "required": not default.strip(),
                "enum": [],
            }
        )
    return params[:6]


@register_responder("tool_use/code_to_api")
def code_to_api(request: ChatRequest, rng: random.Random) -> dict[str, Any]:
    text = request.user_text
    code = _section(text, "START ===", ("=== CODE END", "=== DOCUMENTATION END")) or text
    found: list[tuple[str, str, str]] = []
    for match in _PY_DEF_RE.finditer(code):
        found.append((match.group(1), match.group(2), match.group(3).strip()))
    for regex in (_JS_FUNC_RE, _C_FUNC_RE):
        for match in regex.finditer(code):
            found.append((match.group(1), match.group(2), ""))
    apis: list[dict[str, Any]] = []
    seen: set[str] = set()
    for name, signature, doc in found:
        snake = _snake(name)
        if name.startswith("_") or name in _SKIP_NAMES or snake in seen:
            continue
        seen.add(snake)
        description = doc.rstrip(".") + "." if doc else f"{_words(snake).capitalize()}."
        apis.append(
            {
                "name": snake,
                "description": description,
                "parameters": _params_from_signature(signature),
                "returns_type": "object",
                "returns": f"the result of {_words(snake)}",
            }
        )
    if not apis:
        apis.append(
            {
                "name": "process_text",
                "description": "Process a piece of text and return a summary of it.",
                "parameters": [
                    {"name": "text", "type": "string", "description": "the input text", "required": True, "enum": []}
                ],
                "returns_type": "object",
                "returns": "the summary and the word count",
            }
        )
    return {"apis": apis[: rng.randint(1, 3)]}


def _noun(name: str) -> str:
    parts = name.split("_")
    while len(parts) > 1 and parts[0] in _VERB_PREFIXES:
        parts = parts[1:]
    noun = "_".join(parts) or "item"
    return noun[:-1] if noun.endswith("s") and len(noun) > 3 else noun


def _sibling_apis(noun: str) -> list[dict[str, Any]]:
    words = _words(noun)

    def param(name: str, type_: str, description: str, required: bool, enum: list[str] | None = None) -> Any:
        return {"name": name, "type": type_, "description": description, "required": required, "enum": enum or []}

    item_id = param(f"{noun}_id", "string", f"the id of the {words}", True)
    return [
        {
            "name": f"list_{noun}s",
            "description": f"List the {words}s, newest first.",
            "parameters": [
                param("limit", "integer", "how many to return", False),
                param("order", "string", "sort order", False, ["asc", "desc"]),
            ],
            "returns_type": "array",
            "returns": f"the {words}s with their ids",
        },
        {
            "name": f"get_{noun}",
            "description": f"Get one {words} by its id.",
            "parameters": [item_id],
            "returns_type": "object",
            "returns": f"the {words} with all its fields",
        },
        {
            "name": f"create_{noun}",
            "description": f"Create a new {words}.",
            "parameters": [
                param("name", "string", f"the name of the new {words}", True),
                param("notes", "string", "free-text notes", False),
            ],
            "returns_type": "object",
            "returns": f"the created {words} with its new id",
        },
        {
            "name": f"update_{noun}",
            "description": f"Rename an existing {words}.",
            "parameters": [item_id, param("name", "string", "the new name", True)],
            "returns_type": "object",
            "returns": f"the updated {words}",
        },
        {
            "name": f"delete_{noun}",
            "description": f"Delete a {words} for good.",
            "parameters": [item_id],
            "returns_type": "boolean",
            "returns": "true when it was deleted",
        },
        {
            "name": f"search_{noun}s",
            "description": f"Search the {words}s by keyword.",
            "parameters": [
                param("query", "string", "the keywords", True),
                param("limit", "integer", "how many to return", False),
            ],
            "returns_type": "array",
            "returns": f"the matching {words}s",
        },
        {
            "name": f"export_{noun}s",
            "description": f"Export all {words}s to a file.",
            "parameters": [param("file_format", "string", "the file format", True, ["csv", "json"])],
            "returns_type": "string",
            "returns": "the download link of the file",
        },
    ]


@register_responder("tool_use/library_reconstruction")
def library_reconstruction(request: ChatRequest, rng: random.Random) -> dict[str, Any]:
    text = request.user_text
    taken_match = re.search(r"Do not reuse these names: ([^\n]*)\.", text)
    taken = [n.strip() for n in taken_match.group(1).split(",")] if taken_match else []
    count_match = re.search(r"Propose (\d+) new APIs", text)
    count = max(1, min(8, int(count_match.group(1)) if count_match else 3))
    noun = _noun(taken[0]) if taken else "item"
    fresh = [api for api in _sibling_apis(noun) if api["name"] not in taken]
    return {"apis": fresh[:count] or _sibling_apis(f"{noun}_record")[:count]}


def _value_text(name: str, spec: dict[str, Any], rng: random.Random) -> str:
    enum = spec.get("enum")
    if enum:
        return str(enum[0])
    kind = spec.get("type", "string")
    if kind == "integer":
        return str(rng.randint(2, 40))
    if kind == "number":
        return f"{rng.randint(5, 300)}.5"
    if kind == "boolean":
        return "true"
    if kind == "array":
        return "red, blue"
    if kind == "object":
        return "status=open"
    lowered = name.lower()
    if lowered.endswith("id"):
        return f"A-{rng.randint(100, 999)}"
    if "email" in lowered:
        return "ana.silva@example.com"
    if "date" in lowered or "day" in lowered:
        return f"2025-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"
    if "city" in lowered or "location" in lowered or "place" in lowered:
        return rng.choice(("Lisbon", "Oslo", "Nairobi", "Lima"))
    if "name" in lowered:
        return rng.choice(("Ana Silva", "Project Falcon", "Weekly report"))
    return rng.choice(("quarterly budget", "blue mug", "spring campaign", "release notes"))


def _needed_names(text: str) -> list[str]:
    section = _section(text, "APIs the request needs:", ("Rules:",))
    return re.findall(r"^- (\w+):", section, re.M)


@register_responder("tool_use/suggest")
def suggest(request: ChatRequest, rng: random.Random) -> dict[str, Any]:
    text = request.user_text
    blocks = _json_blocks(text)
    apis = {api["name"]: api for api in (blocks[0] if blocks else []) if isinstance(api, dict) and "name" in api}
    withheld = set(re.findall(r"\b(\w+\.\w+)\b", " ".join(re.findall(r"Do NOT give any value for ([^\n]*)", text))))
    lacking = re.findall(r"which the assistant does NOT have: ([^\n]*?) Describe the need", text)
    superfluous = "details that no parameter takes" in text
    count_match = re.search(r"Write (\d+) different request", text)
    count = int(count_match.group(1)) if count_match else 1
    tasks = []
    for variant in range(max(1, count)):
        sentences: list[str] = []
        expected: list[str] = []
        for name in _needed_names(text):
            api = apis.get(name)
            if api is None:
                continue
            values = []
            for pname, spec in (api.get("parameters") or {}).items():
                if f"{name}.{pname}" in withheld:
                    expected.append(f"Ask the user for the {_words(pname)} before calling {name}.")
                    continue
                if spec.get("required") or rng.random() < 0.3:
                    values.append(f"{_words(pname)}: {_value_text(pname, spec, rng)}")
            purpose = str(api.get("description", name)).rstrip(".")
            purpose = purpose[:1].lower() + purpose[1:]
            detail = f" ({'; '.join(values)})" if values else ""
            sentences.append(f"Please {purpose}{detail}.")
            expected.append(f"Call {name} with the values given.")
        for need in lacking:
            need_text = need.rstrip(".")
            sentences.append(f"I also need you to {need_text[:1].lower() + need_text[1:]}.")
            expected.append("Explain that no available API can do this.")
        if superfluous:
            sentences.append(rng.choice(("It's for my sister's wedding next June.", "I prefer blue, by the way.")))
        if variant:
            sentences.insert(0, rng.choice(("Hi!", "Quick one:", "Hello,")))
        tasks.append(
            {
                "task": " ".join(sentences) or "Please help me with my account.",
                "expected": " ".join(expected) or "Use the APIs to do what the user asks.",
            }
        )
    return {"tasks": tasks}


def _typed_value(raw: str, spec: dict[str, Any]) -> Any:
    kind = spec.get("type", "string")
    raw = raw.strip()
    try:
        if kind == "integer":
            return int(raw)
        if kind == "number":
            return float(raw)
    except ValueError:
        return 1 if kind == "integer" else 1.0
    if kind == "boolean":
        return raw.lower() in ("true", "yes", "1")
    if kind == "array":
        return [part.strip() for part in raw.split(",") if part.strip()]
    if kind == "object":
        pairs = (part.split("=", 1) for part in raw.split(",") if "=" in part)
        return {key.strip(): value.strip() for key, value in pairs}
    return raw


def _arguments(api: dict[str, Any], request_text: str, rng: random.Random, *, fill_all: bool) -> dict[str, Any]:
    arguments: dict[str, Any] = {}
    for pname, spec in (api.get("parameters") or {}).items():
        match = re.search(re.escape(_words(pname)) + r": ([^;)]+)", request_text)
        if match:
            arguments[pname] = _typed_value(match.group(1), spec)
        elif spec.get("required") or fill_all:
            arguments[pname] = _typed_value(_value_text(pname, spec, rng), spec)
    return arguments


def _targets(apis: list[dict[str, Any]], request_text: str) -> list[dict[str, Any]]:
    lowered = request_text.lower()
    chosen = []
    for api in apis:
        purpose = str(api.get("description", "")).rstrip(".").lower()
        if purpose and purpose in lowered:
            chosen.append(api)
    if chosen:
        return chosen
    terms = set(re.findall(r"[a-z]{4,}", lowered))

    def overlap(api: dict[str, Any]) -> int:
        return len(terms & set(re.findall(r"[a-z]{4,}", f"{_words(api['name'])} {api.get('description', '')}")))

    return [max(apis, key=overlap)] if apis else []


def _step(action: str, message: str, api: str = "", arguments: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"action": action, "api": api, "arguments": json.dumps(arguments or {}), "message": message}


@register_responder("tool_use/teacher")
def teacher(request: ChatRequest, rng: random.Random) -> dict[str, Any]:
    text = request.user_text
    blocks = _json_blocks(text)
    apis = [api for api in (blocks[0] if blocks else []) if isinstance(api, dict) and "name" in api]
    by_name = {api["name"]: api for api in apis}
    user_request = _section(text, "User request:", ("\nNotes about", "\nYour conversation must", "\nSteps so far"))
    missing = re.findall(r"has not given a value for (\w+) \((\w+)\)", text)
    absent = re.findall(r"needs an API that is not in the list \((\w+)\)", text)
    calls = re.findall(r"^Call \d+: (\w+) ", text, re.M)
    results = re.findall(r"^Result \d+: (.*)$", text, re.M)
    rejected = "Your previous step was rejected" in text
    last = "this step must be final" in text

    if missing:
        param, api_name = missing[0]
        if not calls and not rejected and rng.random() < 0.15 and api_name in by_name:
            api = by_name[api_name]
            spec = (api.get("parameters") or {}).get(param, {})
            arguments = _arguments(api, user_request, rng, fill_all=False)
            arguments[param] = _typed_value(_value_text(param, spec, rng), spec)
            return _step("call", "Let me do that right away.", api_name, arguments)
        return _step(
            "clarify", f"I can do that, but I need the {_words(param)} first. What {_words(param)} should I use?"
        )
    if absent:
        if rng.random() < 0.15:
            return _step("final", "All done: I have taken care of everything you asked for.")
        return _step(
            "refuse",
            f"I'm sorry, but none of the available APIs can do this: the request needs {_words(absent[0])}, "
            "which is not in the list of tools I can use.",
        )
    errors = [r for r in results if '"status": "error"' in r]
    pending = [api for api in _targets(apis, user_request) if api["name"] not in calls]
    if pending and not last and not errors:
        api = pending[0]
        arguments = _arguments(api, user_request, rng, fill_all=False)
        if not calls and not rejected and rng.random() < 0.1:
            arguments["note"] = "extra"
        return _step("call", f"I'll use {api['name']} for this.", api["name"], arguments)
    if errors:
        detail = json.loads(errors[-1]).get("error", "an error")
        return _step("final", f"I could not finish: the last call failed with this error: {detail}.")
    summary = "; ".join(f"{name} returned {result}" for name, result in zip(calls, results, strict=False))
    return _step("final", f"Here is what I found. {summary}" if summary else "There was nothing to look up.")


def _result_value(api: dict[str, Any], arguments: dict[str, Any], rng: random.Random) -> Any:
    kind = (api.get("returns") or {}).get("type", "object")
    record = {"id": f"r-{rng.randint(1000, 9999)}", **{k: v for k, v in arguments.items() if k != "id"}}
    if kind == "array":
        return [record, {**record, "id": f"r-{rng.randint(1000, 9999)}"}]
    if kind == "string":
        return f"https://files.example.com/{rng.randint(1000, 9999)}"
    if kind == "integer":
        return rng.randint(0, 20)
    if kind == "number":
        return round(rng.uniform(1, 500), 2)
    if kind == "boolean":
        return True
    return {**record, "status": "ok"}


@register_responder("tool_use/simulate")
def simulate(request: ChatRequest, rng: random.Random) -> dict[str, Any]:
    text = request.user_text
    blocks = _json_blocks(text)
    api = blocks[0] if blocks and isinstance(blocks[0], dict) else {}
    match = re.search(r"^Call arguments: (.*)$", text, re.M)
    try:
        arguments = json.loads(match.group(1)) if match else {}
    except json.JSONDecodeError:
        arguments = {}
    if "This call fails" in text:
        error = rng.choice(("not found: no record matches the given id", "quota exceeded, try again later"))
        return {"status": "error", "result": "", "error": error}
    value = _result_value(api, arguments if isinstance(arguments, dict) else {}, rng)
    return {"status": "success", "result": json.dumps(value), "error": ""}
