"""Tool use: multi-turn transcripts where the assistant calls APIs from a given list (method doc §2.3, §8.4).

Content transformation: an agent (`code_to_api`) reads a code seed and writes 1-3 API specs; the list is then
expanded into a small "library" of 5-8 APIs, for half of the seeds (by seed id) by `api_retrieval` (the seed
corpus is searched with each spec's name and description, the hits from other documents become specs through the
same `code_to_api` prompt, until the library is full or there are no new hits) and for the other half by
`library_reconstruction` (the LLM proposes sibling APIs of the same library). Both yield one item whose
`data["apis"]` holds the validated specs.

Seed instructions follow the paper's 7 cases (1a/1b/1c single API with all, superfluous or missing parameters;
2a/2b several APIs with all or some missing; 3 the needed API is not in the list; 4 several are needed and an
essential one is missing). The flow, not the LLM, decides which APIs a task needs, which required values the
user withholds and which API is removed from the presented list, and records it in the instruction's data, so
the checks can verify the transcript against it.

The teacher is a loop built by the flow: at each step the teacher model chooses to call an API, ask the user,
refuse or answer; calls are validated against their spec (an invalid step is sent back with the problem, at most
twice per transcript) and answered by an LLM-simulated tool response consistent with the spec's `returns` (about
10% of them errors, chosen by id). Tool responses are never executed. At most 4 calls, then the teacher must answer.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from agentinstruct.checks.tool_calls import (
    has_call_block,
    render_call,
    transcript_checks,
    validate_call,
    value_has_type,
)
from agentinstruct.llm.base import Role
from agentinstruct.llm.errors import LLMError
from agentinstruct.prompts import load_prompt
from agentinstruct.skills.base import (
    AgentOutputError,
    Calls,
    Draft,
    EditedItem,
    InstructionType,
    RefinementGoal,
    Skill,
    StageContext,
    TeacherOutput,
    ToolsPort,
    TransformAgent,
    TransformOutput,
    rng_for,
)
from agentinstruct.skills.registry import register
from agentinstruct.tools.search import WHOLE_FILE, extract_code_units
from agentinstruct_schemas import Candidate, CheckResult, Instruction, Seed, Transformed

CODE_TO_API_PROMPT = "tool_use/code_to_api"
RECONSTRUCTION_PROMPT = "tool_use/library_reconstruction"
SUGGEST_PROMPT = "tool_use/suggest"
TEACHER_PROMPT = "tool_use/teacher"
SIMULATE_PROMPT = "tool_use/simulate"

LIBRARY_MIN = 5
LIBRARY_MAX = 8
MAX_APIS = 12
MIN_APIS_AFTER_RETRIEVAL = 3
SEARCH_K = 8
HITS_PER_QUERY = 2
MAX_HIT_CONVERSIONS = 4
MAX_CODE_CHARS = 6000
MAX_HIT_CHARS = 3000
MAX_CALLS = 4
MAX_TEACHER_RETRIES = 2
TOOL_ERROR_RATE = 0.1

JsonType = Literal["string", "integer", "number", "boolean", "array", "object"]

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_TEMPLATE_MARKUP_RE = re.compile(r"\{\{|\}\}|\{%|%\}")
_TYPE_ALIASES = {
    "str": "string",
    "text": "string",
    "char": "string",
    "date": "string",
    "datetime": "string",
    "int": "integer",
    "long": "integer",
    "float": "number",
    "double": "number",
    "decimal": "number",
    "bool": "boolean",
    "list": "array",
    "tuple": "array",
    "dict": "object",
    "map": "object",
    "json": "object",
}
_API_DOC_VERB_RE = re.compile(r"\b(?:GET|POST|PUT|PATCH|DELETE)\s+/[\w{}/:.-]*")
_API_DOC_WORDS_RE = re.compile(r"\b(?:parameters?|query string|request body|returns?|response|endpoint)\b", re.I)


# ----
# API specs
# ----
class ApiParam(BaseModel):
    """One parameter of an API."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    type: JsonType
    description: str = Field(min_length=1)
    required: bool = False
    enum: list[str | int | float] | None = None

    @model_validator(mode="after")
    def _enum_fits_type(self) -> ApiParam:
        if self.enum is None:
            return self
        if not self.enum:
            raise ValueError("enum must list at least one value")
        if self.type not in ("string", "integer", "number"):
            raise ValueError(f"a {self.type} parameter cannot have an enum")
        if not all(value_has_type(value, self.type) for value in self.enum):
            raise ValueError(f"enum values must be of type {self.type}")
        if len({str(value) for value in self.enum}) != len(self.enum):
            raise ValueError("enum values repeat")
        return self


class ApiReturns(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    type: JsonType = "object"
    description: str = ""


class ApiSpec(BaseModel):
    """A validated API spec: `{name, description, parameters: {p: {type, description, required, enum?}}, returns}`."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str
    description: str = Field(min_length=1)
    parameters: dict[str, ApiParam] = Field(default_factory=dict, max_length=12)
    returns: ApiReturns = Field(default_factory=ApiReturns)

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not _NAME_RE.match(value):
            raise ValueError(f"API name {value!r} is not an identifier")
        return value

    @field_validator("parameters")
    @classmethod
    def _valid_param_names(cls, value: dict[str, ApiParam]) -> dict[str, ApiParam]:
        for name in value:
            if not _NAME_RE.match(name):
                raise ValueError(f"parameter name {name!r} is not an identifier")
        return value

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)

    def required(self) -> list[str]:
        return [name for name, param in self.parameters.items() if param.required]


# ----
# LLM output models (small and flat)
# ----
class ParamDraft(BaseModel):
    name: str = Field(description="the parameter name in snake_case")
    type: JsonType = Field(description="the JSON type of the value")
    description: str = Field(description="what the value means, with its unit or format")
    required: bool = Field(description="true when every call must give this parameter")
    enum: list[str] = Field(description="the allowed values if only a few short values are allowed; usually []")


class ApiDraft(BaseModel):
    name: str = Field(description="the API name in snake_case, e.g. get_invoice")
    description: str = Field(description="one sentence saying what the API does")
    parameters: list[ParamDraft] = Field(max_length=8, description="the parameters the API takes")
    returns_type: JsonType = Field(description="the JSON type of the result")
    returns: str = Field(description="what a successful call returns, naming its main fields")


class ApiDrafts(BaseModel):
    """Output of `code_to_api`."""

    apis: list[ApiDraft] = Field(min_length=1, max_length=3, description="1 to 3 API specifications")


class SiblingApis(BaseModel):
    """Output of `library_reconstruction`."""

    apis: list[ApiDraft] = Field(min_length=1, max_length=8, description="new APIs of the same library")


class ToolTask(BaseModel):
    task: str = Field(description="the user's message to the assistant, with concrete values")
    expected: str = Field(
        description="what a correct assistant does: which APIs it calls with which values, what it asks, "
        "or what it says is missing"
    )


class ToolTasks(BaseModel):
    tasks: list[ToolTask] = Field(min_length=1, max_length=3)


class TeacherStep(BaseModel):
    action: Literal["call", "clarify", "refuse", "final"] = Field(
        description="call: call one API; clarify: ask the user for missing information; refuse: say the request "
        "cannot be done with these APIs; final: give the user the answer"
    )
    api: str = Field(description='the name of the API to call; "" when not calling')
    arguments: str = Field(
        description='for a call, the arguments as a JSON object written as text, e.g. {"city": "Paris"}; '
        "{} when not calling"
    )
    message: str = Field(
        description="what the user reads: a short note before a call, the question, the refusal, or the answer"
    )

    @field_validator("arguments", mode="before")
    @classmethod
    def _object_as_text(cls, value: Any) -> Any:
        """A model that writes the arguments as a JSON object instead of text is accepted too."""
        return json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else value


class SimulatedResult(BaseModel):
    status: Literal["success", "error"] = Field(description="success, or error when the call fails")
    result: str = Field(description="the returned value as JSON text, matching what the API returns; '' on error")
    error: str = Field(description="the error message when status is error, else ''")


# ----
# Spec helpers
# ----
def _clean_text(text: str) -> str:
    return _TEMPLATE_MARKUP_RE.sub(lambda m: m.group(0)[0], " ".join(text.split()))


def _identifier(name: str) -> str:
    return re.sub(r"[\s.\-/:]+", "_", name.strip()).strip("_")


def _json_type(raw: str) -> str:
    lowered = raw.strip().lower()
    return _TYPE_ALIASES.get(lowered, lowered)


def _enum_values(values: Sequence[str], json_type: str) -> list[str | int | float] | None:
    cleaned = [v.strip() for v in values if v.strip()]
    if not cleaned:
        return None
    if json_type == "integer":
        return [int(v) for v in cleaned]
    if json_type == "number":
        return [float(v) for v in cleaned]
    return list(cleaned)


def spec_from_draft(draft: ApiDraft) -> ApiSpec:
    """A validated spec from an LLM draft; raises ValueError (or ValidationError) when it is malformed."""
    parameters: dict[str, dict[str, Any]] = {}
    for param in draft.parameters:
        pname = _identifier(param.name)
        if pname in parameters:
            raise ValueError(f"parameter {pname} appears twice")
        json_type = _json_type(param.type)
        parameters[pname] = {
            "type": json_type,
            "description": _clean_text(param.description) or _clean_text(pname.replace("_", " ")),
            "required": param.required,
            "enum": _enum_values(param.enum, json_type),
        }
    returns_type = _json_type(draft.returns_type) or "object"
    return ApiSpec.model_validate(
        {
            "name": _identifier(draft.name),
            "description": _clean_text(draft.description),
            "parameters": parameters,
            "returns": {"type": returns_type, "description": _clean_text(draft.returns)},
        }
    )


def specs_from_drafts(drafts: Sequence[ApiDraft], taken: Sequence[str] = ()) -> tuple[list[ApiSpec], list[str]]:
    """Valid specs whose names are new (case-insensitively), and why the others were dropped."""
    seen = {name.lower() for name in taken}
    specs: list[ApiSpec] = []
    rejected: list[str] = []
    for draft in drafts:
        try:
            spec = spec_from_draft(draft)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:3])
            rejected.append(f"{draft.name or '?'}: {problems}")
            continue
        except ValueError as exc:
            rejected.append(f"{draft.name or '?'}: {exc}")
            continue
        if spec.name.lower() in seen:
            rejected.append(f"{spec.name}: duplicate name")
            continue
        seen.add(spec.name.lower())
        specs.append(spec)
    return specs, rejected


def load_apis(raw: Any) -> list[ApiSpec]:
    """Specs from their JSON form (a list of spec objects); malformed and repeated entries are dropped."""
    if not isinstance(raw, list):
        return []
    specs: list[ApiSpec] = []
    seen: set[str] = set()
    for entry in raw:
        try:
            spec = ApiSpec.model_validate(entry)
        except ValidationError:
            continue
        if spec.name.lower() not in seen:
            seen.add(spec.name.lower())
            specs.append(spec)
    return specs


def parse_api_list(text: str) -> list[ApiSpec] | None:
    """The specs of a JSON API list written as text (e.g. by the Editor); None if it is not one."""
    body = text.strip()
    fenced = re.search(r"```(?:json)?\s*(.*?)```", body, re.S)
    if fenced:
        body = fenced.group(1).strip()
    try:
        raw = json.loads(body)
    except json.JSONDecodeError:
        return None
    specs = load_apis(raw)
    return specs or None


def api_list_json(apis: Sequence[ApiSpec]) -> str:
    return json.dumps([api.as_dict() for api in apis], indent=2, ensure_ascii=False)


def render_library(apis: Sequence[ApiSpec], expansion: str) -> str:
    """A readable rendering of an API list."""
    lines = [f"API library: {len(apis)} APIs (expanded by {expansion})", ""]
    for api in apis:
        params = []
        for pname, param in api.parameters.items():
            text = f"{pname}: {param.type}" + ("" if param.required else " (optional)")
            if param.enum:
                text += " one of " + "/".join(str(v) for v in param.enum)
            params.append(text)
        lines.append(f"- {api.name}({', '.join(params)}) -> {api.returns.type}")
        lines.append(f"  {api.description}")
        if api.returns.description:
            lines.append(f"  Returns: {api.returns.description}")
    return "\n".join(lines)


def looks_like_api_doc(text: str) -> bool:
    """Cheap test for prose that documents an API (HTTP endpoints with parameters, or a reference page)."""
    words = {m.group(0).lower() for m in _API_DOC_WORDS_RE.finditer(text)}
    if _API_DOC_VERB_RE.search(text):
        return bool(words)
    return len(words) >= 3 and bool(re.search(r"\bAPI\b", text))


# ----
# Content transformation
# ----
def _is_private(name: str) -> bool:
    return name.rsplit(".", 1)[-1].startswith("_")


def _code_excerpt(code: str, units: Sequence[tuple[str, str]], limit: int) -> str:
    if len(code) <= limit:
        return code
    parts: list[str] = []
    used = 0
    for name, unit in units:
        if name == WHOLE_FILE or _is_private(name) or ("." not in name and len(unit) > limit // 2):
            continue
        if used + len(unit) > limit:
            break
        parts.append(unit)
        used += len(unit)
    return "\n".join(parts) if parts else code[:limit]


async def code_to_api(
    code: str, language: str | None, kind: str, ctx: StageContext, calls: Calls, *, limit: int = MAX_CODE_CHARS
) -> tuple[list[ApiSpec], list[str]]:
    """Run the `code_to_api` agent on one piece of code (or API documentation) and validate its specs."""
    units = extract_code_units(code, language) if kind == "code" else []
    names = [name for name, _unit in units if name != WHOLE_FILE]
    public = [name for name in names if not _is_private(name)] or names
    template = load_prompt(CODE_TO_API_PROMPT)
    messages = template.render(
        code=_code_excerpt(code, units, limit),
        language=language or "unknown",
        kind=kind,
        units=public[:30],
    )
    result = await ctx.llm.generate(Role.TRANSFORM, messages, ApiDrafts, prompt=template.ref)
    calls.add(result.record)
    return specs_from_drafts(result.parsed.apis)


async def reconstruct_library(
    apis: Sequence[ApiSpec], count: int, ctx: StageContext, calls: Calls
) -> tuple[list[ApiSpec], list[str]]:
    """Ask the model for `count` sibling APIs of the same library; returns the new valid ones."""
    template = load_prompt(RECONSTRUCTION_PROMPT)
    messages = template.render(apis_json=api_list_json(apis), names=[a.name for a in apis], count=count)
    result = await ctx.llm.generate(Role.TRANSFORM, messages, SiblingApis, prompt=template.ref)
    calls.add(result.record)
    return specs_from_drafts(result.parsed.apis, taken=[a.name for a in apis])


def _library_size(seed: Seed) -> int:
    return rng_for(seed.id, "tool_use", "library_size").randint(LIBRARY_MIN, LIBRARY_MAX)


async def _seed_apis(seed: Seed, ctx: StageContext, calls: Calls) -> tuple[list[ApiSpec], list[str]]:
    kind = "code" if seed.source.kind == "code" else "documentation"
    specs, rejected = await code_to_api(seed.text, seed.source.language, kind, ctx, calls)
    if not specs:
        raise AgentOutputError("code_to_api wrote no valid API spec: " + "; ".join(rejected))
    return specs, rejected


async def search_hits(tools: ToolsPort, query: str, k: int) -> list[dict[str, Any]]:
    """Search hits `{doc_id, score, snippet, metadata}`; uses the tools' `search` tool call when the port has no
    direct `search` method."""
    direct = getattr(tools, "search", None)
    if callable(direct):
        found = direct(query, k)
        if inspect.isawaitable(found):
            found = await found
        return [hit if isinstance(hit, dict) else dict(hit.model_dump()) for hit in found]
    payload = json.loads(await tools.call("search", {"query": query, "k": k}))
    if not isinstance(payload, dict) or "error" in payload:
        raise RuntimeError(f"search failed: {payload}")
    return [
        {**hit, "doc_id": hit.get("doc_id", hit.get("id", ""))}
        for hit in payload.get("results", [])
        if isinstance(hit, dict)
    ]


def _hit_id(hit: Mapping[str, Any]) -> str:
    return str(hit.get("doc_id") or hit.get("id") or "")


def _hit_text(hit: Mapping[str, Any]) -> str:
    metadata = hit.get("metadata") or {}
    for value in (hit.get("text"), metadata.get("text"), hit.get("snippet")):
        if isinstance(value, str) and value.strip():
            return value
    return ""


def _same_document(hit: Mapping[str, Any], seed: Seed) -> bool:
    doc_id = _hit_id(hit)
    metadata = hit.get("metadata") or {}
    if doc_id == seed.id or doc_id.startswith(f"{seed.id}:") or metadata.get("seed_id") == seed.id:
        return True
    uri = metadata.get("uri")
    if uri and uri == seed.source.uri:
        return True
    document = metadata.get("document_id")
    return bool(document and seed.source.document_id and document == seed.source.document_id)


@dataclass(frozen=True, slots=True)
class ApiRetrievalAgent:
    """code_to_api on the seed, then search for similar code in other documents and turn the hits into specs."""

    name: str = "api_retrieval"
    description: str = "API list from the seed's code, expanded with specs of similar code found by search"

    @property
    def prompt_version(self) -> str:
        return f"{load_prompt(CODE_TO_API_PROMPT).ref}+{load_prompt(RECONSTRUCTION_PROMPT).ref}"

    async def run(self, seed: Seed, skill: Skill, ctx: StageContext, calls: Calls) -> list[TransformOutput]:
        specs, rejected = await _seed_apis(seed, ctx, calls)
        target = _library_size(seed)
        sources = {spec.name: "seed" for spec in specs}
        data: dict[str, Any] = {"expansion": self.name, "seed_apis": [s.name for s in specs]}
        library = list(specs)
        if ctx.tools is None:
            data["fallback"] = "library_reconstruction: no search tool"
        else:
            found, searched, errors, dropped = await self._retrieve(seed, library, target, ctx, calls)
            rejected.extend(dropped)
            for spec, doc_id in found:
                library.append(spec)
                sources[spec.name] = doc_id
            data["retrieved_documents"] = searched
            if errors:
                data["retrieval_errors"] = errors
            if len(library) < MIN_APIS_AFTER_RETRIEVAL:
                data["fallback"] = "library_reconstruction: too few new search hits"
        if "fallback" in data:
            try:
                added, dropped = await reconstruct_library(library, target - len(library), ctx, calls)
            except LLMError as exc:
                if len(library) < 2:
                    raise
                data["fallback_error"] = str(exc)
            else:
                rejected.extend(dropped)
                for spec in added[: max(0, target - len(library))]:
                    library.append(spec)
                    sources[spec.name] = "hypothesized"
        library = library[:MAX_APIS]
        data.update(
            apis=[spec.as_dict() for spec in library],
            sources={spec.name: sources[spec.name] for spec in library},
            rejected_specs=rejected,
        )
        return [TransformOutput(content=render_library(library, self.name), data=data)]

    async def _retrieve(
        self, seed: Seed, library: list[ApiSpec], target: int, ctx: StageContext, calls: Calls
    ) -> tuple[list[tuple[ApiSpec, str]], list[str], list[str], list[str]]:
        """(new specs with the document they came from, documents converted, errors, dropped specs)."""
        assert ctx.tools is not None
        names = [spec.name for spec in library]
        queue = list(library)
        found: list[tuple[ApiSpec, str]] = []
        used: list[str] = []
        errors: list[str] = []
        dropped: list[str] = []
        while queue and len(names) < target and len(used) < MAX_HIT_CONVERSIONS:
            spec = queue.pop(0)
            query = f"{spec.name.replace('_', ' ')} {spec.description}"
            try:
                hits = await search_hits(ctx.tools, query, SEARCH_K)
            except Exception as exc:
                errors.append(f"search failed: {exc!r}")
                break
            fresh = [
                hit for hit in hits if not _same_document(hit, seed) and _hit_id(hit) not in used and _hit_text(hit)
            ][:HITS_PER_QUERY]
            for hit in fresh:
                if len(names) >= target or len(used) >= MAX_HIT_CONVERSIONS:
                    break
                doc_id = _hit_id(hit)
                used.append(doc_id)
                metadata = hit.get("metadata") or {}
                language = metadata.get("language") if isinstance(metadata.get("language"), str) else None
                try:
                    new, bad = await code_to_api(_hit_text(hit), language, "code", ctx, calls, limit=MAX_HIT_CHARS)
                except LLMError as exc:
                    errors.append(f"{doc_id}: {exc}")
                    continue
                dropped.extend(bad)
                for candidate in new:
                    if candidate.name.lower() in {n.lower() for n in names}:
                        continue
                    names.append(candidate.name)
                    found.append((candidate, doc_id))
                    queue.append(candidate)
        return found, used, errors, dropped


@dataclass(frozen=True, slots=True)
class LibraryReconstructionAgent:
    """code_to_api on the seed, then the model hypothesizes sibling APIs of the same library."""

    name: str = "library_reconstruction"
    description: str = "API list from the seed's code, expanded with plausible sibling APIs of the same library"

    @property
    def prompt_version(self) -> str:
        return f"{load_prompt(CODE_TO_API_PROMPT).ref}+{load_prompt(RECONSTRUCTION_PROMPT).ref}"

    async def run(self, seed: Seed, skill: Skill, ctx: StageContext, calls: Calls) -> list[TransformOutput]:
        specs, rejected = await _seed_apis(seed, ctx, calls)
        target = _library_size(seed)
        added, dropped = await reconstruct_library(specs, max(1, target - len(specs)), ctx, calls)
        rejected.extend(dropped)
        library = (specs + added)[: max(target, len(specs))]
        if len(library) < 2:
            raise AgentOutputError("library_reconstruction proposed no valid new API: " + "; ".join(dropped))
        sources = {spec.name: "seed" for spec in specs} | {spec.name: "hypothesized" for spec in added}
        data = {
            "expansion": self.name,
            "seed_apis": [s.name for s in specs],
            "apis": [spec.as_dict() for spec in library],
            "sources": {spec.name: sources[spec.name] for spec in library},
            "rejected_specs": rejected,
        }
        return [TransformOutput(content=render_library(library, self.name), data=data)]


# ----
# Taxonomy: the paper's 7 cases
# ----
_VOICES = ("terse and direct", "polite and detailed", "a busy professional", "a non-native speaker", "casual")
_EXTRA_DETAILS = (
    "a personal remark about why they need it",
    "a preference that no parameter can express",
    "an unrelated date or number",
    "background about their project",
)

CASES: tuple[InstructionType, ...] = (
    InstructionType(
        name="single_api_all_params",
        description="Case 1a: the request needs exactly one API from the list, and the user gives a value for "
        "every required parameter.",
        answer_format="one call with every required argument, the tool result, then a final answer",
        params={"user_voice": _VOICES},
        example="Convert 250 euros to Japanese yen at today's rate.",
    ),
    InstructionType(
        name="single_api_superfluous_params",
        description="Case 1b: the request needs exactly one API and gives every required value, plus extra "
        "details that no parameter of the API takes (the assistant must leave them out of the call).",
        answer_format="one call with only the API's own parameters, the tool result, then a final answer",
        params={"user_voice": _VOICES, "extra_detail": _EXTRA_DETAILS},
        example="Book a table for 4 at Luigi's at 8pm; it's my mum's birthday and she loves window seats.",
    ),
    InstructionType(
        name="single_api_missing_params",
        description="Case 1c: the request needs exactly one API but leaves out a required value, so the "
        "assistant must ask for it before calling.",
        answer_format="a clarifying question asking for the missing value, and no call that needs it",
        params={"user_voice": _VOICES},
        example="Send a reminder email about tomorrow's meeting. (the recipient is not given)",
    ),
    InstructionType(
        name="multi_api_all_params",
        description="Case 2a: the request needs several APIs from the list (possibly one's output feeding the "
        "next), and every required value is given or comes from an earlier result.",
        answer_format="several calls in a sensible order, their tool results, then a final answer",
        params={"user_voice": _VOICES},
        example="Find the customer with email ana@example.com and list her unpaid invoices.",
    ),
    InstructionType(
        name="multi_api_missing_params",
        description="Case 2b: the request needs several APIs and one required value is missing, so the "
        "assistant must ask for it before the call that needs it.",
        answer_format="calls that do not need the missing value (optional), then a clarifying question",
        params={"user_voice": _VOICES},
        example="Create an order for the blue mug and ship it express. (the shipping address is not given)",
    ),
    InstructionType(
        name="single_api_not_in_list",
        description="Case 3: the request needs one API that is not in the list; the assistant must not call "
        "another API as a substitute and must say what is missing.",
        answer_format="no call to a missing API; an explanation that the needed API is not available",
        params={"user_voice": _VOICES},
        example="Translate this paragraph into German. (the list has no translation API)",
    ),
    InstructionType(
        name="multi_api_essential_missing",
        description="Case 4: the request needs several APIs and an essential one is not in the list; the "
        "assistant may make the calls that still help, then must say what is missing.",
        answer_format="useful calls only, never a call to a missing API, then an explanation of what is missing",
        params={"user_voice": _VOICES},
        example="Look up my last order and refund it. (the list has no refund API)",
    ),
)

CASE_CODES: dict[str, str] = {
    "single_api_all_params": "1a",
    "single_api_superfluous_params": "1b",
    "single_api_missing_params": "1c",
    "multi_api_all_params": "2a",
    "multi_api_missing_params": "2b",
    "single_api_not_in_list": "3",
    "multi_api_essential_missing": "4",
}

GOALS: tuple[RefinementGoal, ...] = (
    RefinementGoal("more_steps", "Make the task need more API calls or more steps to complete."),
    RefinementGoal("dependency_chain", "Make the output of one call a required input of the next call (e.g. an id)."),
    RefinementGoal(
        "parallel_calls", "Make the task need several independent calls, e.g. the same API for several items."
    ),
    RefinementGoal(
        "user_constraints",
        "Add user constraints (budget, date range, limits, preferences) that force particular argument values.",
    ),
    RefinementGoal(
        "distractor_api",
        "Add to the API list one distractor API whose name is similar to a needed API but which does something "
        "else (edit the JSON list in the context).",
    ),
    RefinementGoal(
        "change_of_plan", "Have the user change part of the plan within the request (e.g. 'actually, instead ...')."
    ),
)

JUDGE_RUBRIC = (
    "This is a tool-use conversation: the user turn lists APIs (JSON) and a request; assistant turns call APIs "
    "with <tool_call> blocks and tool turns return their (simulated) results. A good conversation calls only "
    "listed APIs with exactly their parameters, takes every value from the user or from earlier tool results, "
    "asks a clarifying question when a required value is missing, and says plainly when a needed API is not "
    "available. Score low when the final answer contradicts the tool outputs (numbers, names, statuses, "
    "errors), ignores a tool error, claims a result no tool returned, invents values, or when the calls do not "
    "serve the request."
)


@dataclass(slots=True)
class TaskPlan:
    """What the flow decided for one task: the presented list, the needed APIs and what is withheld."""

    case: str
    presented: list[ApiSpec]
    needed: list[str]
    absent: list[str] = field(default_factory=list)
    missing: dict[str, list[str]] = field(default_factory=dict)

    def data(self, params: Mapping[str, str]) -> dict[str, Any]:
        return {
            "case": self.case,
            "case_code": CASE_CODES[self.case],
            "apis": [api.as_dict() for api in self.presented],
            "needed_apis": list(self.needed),
            "absent_apis": list(self.absent),
            "missing_params": {api: list(params) for api, params in self.missing.items()},
            "params": dict(params),
        }


def _with_required(apis: Sequence[ApiSpec]) -> list[ApiSpec]:
    return [api for api in apis if api.required()]


def plan_task(apis: Sequence[ApiSpec], case: str, key: str) -> TaskPlan:
    """Choose (deterministically from the id `key`) the APIs a task of `case` needs and what it withholds."""
    rng = rng_for(key, "tool_use", case, "plan")
    apis = list(apis)
    many = min(len(apis), rng.choice((2, 3)))
    if case in ("single_api_all_params", "single_api_superfluous_params"):
        return TaskPlan(case, apis, [rng.choice(apis).name])
    if case == "single_api_missing_params":
        api = rng.choice(_with_required(apis))
        return TaskPlan(case, apis, [api.name], missing={api.name: [rng.choice(api.required())]})
    if case == "multi_api_all_params":
        return TaskPlan(case, apis, [a.name for a in rng.sample(apis, many)])
    if case == "multi_api_missing_params":
        api = rng.choice(_with_required(apis))
        others = rng.sample([a for a in apis if a.name != api.name], many - 1)
        needed = [api, *others]
        rng.shuffle(needed)
        return TaskPlan(case, apis, [a.name for a in needed], missing={api.name: [rng.choice(api.required())]})
    if case == "single_api_not_in_list":
        gone = rng.choice(apis)
        return TaskPlan(case, [a for a in apis if a.name != gone.name], [gone.name], absent=[gone.name])
    if case == "multi_api_essential_missing":
        needed = rng.sample(apis, min(many, len(apis) - 1))
        gone = rng.choice(needed)
        return TaskPlan(case, [a for a in apis if a.name != gone.name], [a.name for a in needed], absent=[gone.name])
    raise KeyError(f"unknown tool-use case {case!r}")


def _case_rules(plan: TaskPlan, params: Mapping[str, str], specs: Mapping[str, ApiSpec]) -> list[str]:
    rules: list[str] = []
    present = [name for name in plan.needed if name not in plan.absent]
    if present:
        rules.append("The request must need these APIs: " + ", ".join(present) + ".")
    given = [
        f"{name}.{param}"
        for name in present
        for param in specs[name].required()
        if param not in plan.missing.get(name, [])
    ]
    if given:
        rules.append("Give a concrete value for: " + ", ".join(given) + ".")
    for name, withheld in plan.missing.items():
        rules.append(
            "Do NOT give any value for " + ", ".join(f"{name}.{p}" for p in withheld) + ", but make it clear the "
            "task needs it."
        )
    for name in plan.absent:
        api = specs[name]
        rules.append(
            f"The request must also need this capability, which the assistant does NOT have: {api.description} "
            "Describe the need in the user's words; do not name an API."
        )
    if plan.case == "single_api_superfluous_params":
        rules.append(f"Also add 1 or 2 details that no parameter takes: {params.get('extra_detail', 'a remark')}.")
    return rules


# ----
# The skill
# ----
class ToolUseSkill(Skill):
    name: ClassVar[str] = "tool_use"
    split: ClassVar[str] = "tool_use"
    title: ClassVar[str] = "Tool use"
    description: ClassVar[str] = (
        "Solving a user's request by calling APIs from a given list: choosing the right API, filling its "
        "parameters from the request, asking for missing values, and saying when a needed API is not available."
    )
    seed_kinds: ClassVar[frozenset[str]] = frozenset({"code"})
    transform_agents: ClassVar[tuple[TransformAgent, ...]] = (ApiRetrievalAgent(), LibraryReconstructionAgent())
    instruction_types: ClassVar[tuple[InstructionType, ...]] = CASES
    refinement_goals: ClassVar[tuple[RefinementGoal, ...]] = GOALS
    judge_rubric: ClassVar[str] = JUDGE_RUBRIC
    suggest_prompt: ClassVar[str] = SUGGEST_PROMPT
    teacher_prompt: ClassVar[str] = TEACHER_PROMPT

    # ---- content transformation ----
    def applies_to(self, seed: Seed) -> bool:
        if seed.source.kind in self.seed_kinds:
            return True
        return seed.source.kind in ("text", "markdown") and looks_like_api_doc(seed.text)

    def pick_transform_agents(self, seed: Seed) -> list[TransformAgent]:
        """One expansion per seed, api_retrieval or library_reconstruction, 50/50 by seed id."""
        rng = rng_for(seed.id, self.name, "expansion")
        return [self.transform_agents[0] if rng.random() < 0.5 else self.transform_agents[1]]

    # ---- seed instructions ----
    def candidate_types(self, item: Transformed) -> Sequence[InstructionType]:
        apis = load_apis(item.data.get("apis"))
        if not apis:
            return ()
        with_required = bool(_with_required(apis))
        allowed = {"single_api_all_params", "single_api_superfluous_params"}
        if with_required:
            allowed.add("single_api_missing_params")
        if len(apis) >= 2:
            allowed |= {"multi_api_all_params", "single_api_not_in_list"}
            if with_required:
                allowed.add("multi_api_missing_params")
        if len(apis) >= 3:
            allowed.add("multi_api_essential_missing")
        return [itype for itype in self.instruction_types if itype.name in allowed]

    async def suggest(
        self,
        item: Transformed,
        itype: InstructionType,
        params: dict[str, str],
        ctx: StageContext,
        calls: Calls,
    ) -> list[Draft]:
        apis = load_apis(item.data.get("apis"))
        if not apis:
            raise AgentOutputError("the transformed item has no valid API list")
        plan = plan_task(apis, itype.name, item.id)
        specs = {api.name: api for api in apis}
        template = load_prompt(self.suggest_prompt)
        messages = template.render(
            skill=self,
            itype=itype,
            params=params,
            apis_json=api_list_json(plan.presented),
            needed=[specs[name] for name in plan.needed if name not in plan.absent],
            rules=_case_rules(plan, params, specs),
            count=ctx.config.max_instructions_per_type,
        )
        result = await ctx.llm.generate(Role.SUGGEST, messages, ToolTasks, prompt=template.ref)
        calls.add(result.record)
        drafts = []
        for task in result.parsed.tasks[: ctx.config.max_instructions_per_type]:
            text = task.task.strip()
            if not text:
                continue
            drafts.append(
                Draft(
                    instruction=text,
                    context=api_list_json(plan.presented),
                    answer_key=task.expected.strip() or None,
                    data=plan.data(params),
                )
            )
        if not drafts:
            raise AgentOutputError(f"{itype.name} wrote only empty tasks")
        return drafts

    # ---- refinement ----
    def apply_edit(self, instruction: Instruction, edited: EditedItem, goal: str) -> Draft:
        """Keep the task's plan; take the Editor's API list only if it is valid JSON and keeps the case intact."""
        if not edited.instruction.strip():
            raise AgentOutputError("the Editor wrote an empty task")
        current = load_apis(instruction.data.get("apis"))
        edited_apis = parse_api_list(edited.context)
        apis = current
        list_edited = False
        if edited_apis is not None and self._keeps_plan(instruction.data, edited_apis):
            apis = edited_apis[:MAX_APIS]
            list_edited = apis != current
        return Draft(
            instruction=edited.instruction.strip(),
            context=api_list_json(apis),
            answer_key=edited.answer.strip() or None,
            data={
                **instruction.data,
                "apis": [api.as_dict() for api in apis],
                "refinement_goal": goal,
                "api_list_edited": list_edited,
            },
        )

    @staticmethod
    def _keeps_plan(data: Mapping[str, Any], apis: Sequence[ApiSpec]) -> bool:
        by_name = {api.name: api for api in apis}
        absent = set(data.get("absent_apis") or [])
        if absent & set(by_name):
            return False
        for name in data.get("needed_apis") or []:
            if name not in absent and name not in by_name:
                return False
        for name, params in (data.get("missing_params") or {}).items():
            api = by_name.get(name)
            if api is None or any(p not in api.required() for p in params):
                return False
        return True

    # ---- teacher ----
    def user_message(self, instruction: Instruction) -> str:
        apis = load_apis(instruction.data.get("apis"))
        listing = api_list_json(apis) if apis else instruction.context.strip()
        return f"You can use these APIs:\n{listing}\n\n{instruction.instruction}"

    def skill_checks_brief(self, instruction: Instruction) -> list[str]:
        checks = [
            "Call only APIs from the list, with exactly their parameters and values of the right type.",
            "Take every argument from the user's request or from an earlier tool result; never invent one.",
            "The final answer must agree with the tool results, including errors.",
        ]
        if instruction.data.get("missing_params"):
            checks.append("Ask the user for a missing required value before any call that needs it.")
        if instruction.data.get("absent_apis"):
            checks.append("When a needed API is not in the list, do not call a substitute; say what is missing.")
        return checks

    def _teacher_notes(self, instruction: Instruction, apis: Sequence[ApiSpec]) -> list[str]:
        data = instruction.data
        notes: list[str] = []
        for name, params in (data.get("missing_params") or {}).items():
            for param in params:
                notes.append(
                    f"The user has not given a value for {param} ({name}). Ask for it before calling {name}; "
                    "never guess it."
                )
        known = {api.name for api in apis}
        for name in data.get("absent_apis") or []:
            if name not in known:
                notes.append(
                    f"The request needs an API that is not in the list ({name}). Do not call a substitute; make "
                    "only the calls that still help, then say what is missing."
                )
        return notes

    async def answer(self, instruction: Instruction, ctx: StageContext, calls: Calls) -> TeacherOutput:
        apis = load_apis(instruction.data.get("apis"))
        if not apis:
            raise AgentOutputError("the instruction has no valid API list")
        by_name = {api.name: api for api in apis}
        api_dicts = [api.as_dict() for api in apis]
        template = load_prompt(self.teacher_prompt)
        notes = self._teacher_notes(instruction, apis)
        checks = self.skill_checks_brief(instruction)
        turns: list[dict[str, str]] = []
        history: list[dict[str, str]] = []
        log: list[dict[str, Any]] = []
        feedback = ""
        retries = 0
        while True:
            last = len(history) >= MAX_CALLS
            result = await ctx.llm.generate(
                Role.TEACHER,
                template.render(
                    skill=self,
                    apis_json=api_list_json(apis),
                    request=instruction.instruction,
                    notes=notes,
                    checks=checks,
                    steps=history,
                    feedback=feedback,
                    last_step=last,
                    max_calls=MAX_CALLS,
                ),
                TeacherStep,
                prompt=template.ref,
            )
            calls.add(result.record)
            step = result.parsed
            problem, arguments = _vet_step(step, api_dicts, history, last)
            if problem:
                log.append({"action": step.action, "api": step.api, "rejected": problem})
                if retries >= MAX_TEACHER_RETRIES:
                    raise AgentOutputError(f"teacher step {len(history) + 1} is unusable: {problem}")
                retries += 1
                feedback = problem
                continue
            feedback = ""
            message = step.message.strip()
            if step.action != "call":
                turns.append({"role": "assistant", "content": message})
                log.append({"action": step.action})
                break
            api = by_name[step.api.strip()]
            tool_content, failed = await self._simulate(instruction, api, arguments, len(history), ctx, calls)
            call_text = render_call(api.name, arguments)
            turns.append({"role": "assistant", "content": f"{message}\n\n{call_text}" if message else call_text})
            turns.append({"role": "tool", "name": api.name, "content": tool_content})
            history.append(
                {"api": api.name, "arguments": json.dumps(arguments, ensure_ascii=False), "result": tool_content}
            )
            log.append({"action": "call", "api": api.name, "arguments": arguments, "tool_error": failed})
        return TeacherOutput(
            turns=turns,
            data={"steps": log, "final_action": step.action, "calls": len(history), "retries": retries},
        )

    async def _simulate(
        self,
        instruction: Instruction,
        api: ApiSpec,
        arguments: dict[str, Any],
        index: int,
        ctx: StageContext,
        calls: Calls,
    ) -> tuple[str, bool]:
        """An LLM-simulated tool response (never executed); about 1 in 10 is asked to be an error."""
        fail = rng_for(instruction.id, self.name, "simulate", str(index)).random() < TOOL_ERROR_RATE
        template = load_prompt(SIMULATE_PROMPT)
        result = await ctx.llm.generate(
            Role.TEACHER,
            template.render(
                api_json=json.dumps(api.as_dict(), indent=2, ensure_ascii=False),
                arguments_json=json.dumps(arguments, ensure_ascii=False),
                request=instruction.instruction,
                fail=fail,
            ),
            SimulatedResult,
            prompt=template.ref,
        )
        calls.add(result.record)
        return render_tool_result(result.parsed), result.parsed.status == "error"

    # ---- validation ----
    async def check(self, candidate: Candidate, ctx: StageContext, calls: Calls) -> list[CheckResult]:
        data = candidate.instruction.data
        apis = [api.as_dict() for api in load_apis(data.get("apis"))]
        if not apis:
            return [CheckResult(name="skill.api_list", passed=False, detail="the item has no valid API list")]
        return transcript_checks(
            [message.model_dump() for message in candidate.messages],
            apis,
            absent_apis=list(data.get("absent_apis") or []),
            missing_params=data.get("missing_params") or {},
        )

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info["cases"] = dict(CASE_CODES)
        info["agents"] = {
            "transform": [CODE_TO_API_PROMPT, RECONSTRUCTION_PROMPT, "search (api_retrieval)"],
            "suggest": SUGGEST_PROMPT,
            "teacher": [TEACHER_PROMPT, SIMULATE_PROMPT],
        }
        return info


def _parse_arguments(raw: str) -> dict[str, Any] | None:
    text = raw.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", text, re.S)
    if fenced:
        text = fenced.group(1)
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _vet_step(
    step: TeacherStep, apis: Sequence[Mapping[str, Any]], history: Sequence[Mapping[str, str]], last: bool
) -> tuple[str, dict[str, Any]]:
    """('', arguments) for a usable step, else (the problem to send back to the teacher, {})."""
    if has_call_block(step.message):
        return "the message must be plain text, without call blocks", {}
    if step.action != "call":
        if not step.message.strip():
            return f"a {step.action} step needs a message for the user", {}
        return "", {}
    if last:
        return f"you already made {MAX_CALLS} calls; now answer with final, clarify or refuse", {}
    arguments = _parse_arguments(step.arguments)
    if arguments is None:
        return "the arguments must be one JSON object", {}
    name = step.api.strip()
    problems = validate_call(name, arguments, apis)
    if problems:
        listed = "; ".join(p.detail for p in problems)
        return f"invalid call: {listed}. Fix the call, or ask the user for a value you do not have", {}
    encoded = json.dumps(arguments, ensure_ascii=False)
    if any(h["api"] == name and h["arguments"] == encoded for h in history):
        return f"you already called {name} with these arguments; use its result", {}
    return "", arguments


def render_tool_result(result: SimulatedResult) -> str:
    """The tool turn's content: `{"status": "success", "result": ...}` or `{"status": "error", "error": ...}`."""
    if result.status == "error":
        return json.dumps({"status": "error", "error": result.error.strip() or "the call failed"}, ensure_ascii=False)
    text = result.result.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", text, re.S)
    if fenced:
        text = fenced.group(1)
    value: Any
    try:
        value = json.loads(text) if text else None
    except json.JSONDecodeError:
        value = text
    return json.dumps({"status": "success", "result": value}, ensure_ascii=False)


__all__ = [
    "CASES",
    "CASE_CODES",
    "ApiParam",
    "ApiSpec",
    "ToolUseSkill",
    "load_apis",
    "plan_task",
    "spec_from_draft",
]

register(ToolUseSkill())
