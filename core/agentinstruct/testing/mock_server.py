"""A deterministic OpenAI-compatible mock server with fault injection, for tests and benchmarks.

Answers are generated from the request alone: the same request body always gets the same content. When the
request asks for `response_format={"type": "json_schema", ...}`, the content is a JSON document valid against
that schema, with strings made of words from the user's message. Skills can register realistic answers for
their prompts with `register_responder`.

Faults (latency distributions, 429/500/timeouts, malformed or truncated answers, capacity limits, queueing
slow-down, request/token rate limits, auth and context-length errors) are drawn from a seeded RNG, so a run
is reproducible when requests arrive in the same order.

In-process::

    async with MockServer(MockConfig(latency_median_ms=50, fault_rate=0.1)) as server:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="x")

As a process (prints the base URL on one line, serves until SIGTERM/SIGINT)::

    python -m agentinstruct.testing.mock_server --port 8001 --latency-median-ms 500 --fault-rate 0.3

HTTP control endpoints: `GET /mock/stats`, `POST /mock/reset`, `GET|POST /mock/config` (`?merge=1` keeps the
fields the body does not name).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import importlib
import itertools
import json
import math
import random
import re
import signal
import string
import time
import types
import uuid
from array import array
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Union, cast, get_args, get_origin

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = [
    "OUTCOMES",
    "PROMPT_HEADER",
    "RESPONDERS",
    "ChatRequest",
    "MockConfig",
    "MockServer",
    "Responder",
    "SchemaError",
    "extract_words",
    "generate_json",
    "main",
    "make_sentence",
    "make_text",
    "register_responder",
    "sample_latency_ms",
]

PROMPT_HEADER = "x-agentinstruct-prompt"
OUTCOMES: tuple[str, ...] = (
    "ok",
    "429",
    "500",
    "timeout",
    "malformed",
    "truncated",
    "400",
    "401",
    "cancelled",
    "error",
)
_FAULTS = ("429", "500", "timeout", "malformed", "truncated")

# --------------------------------------------------------------------------------------------------------------
# Configuration


class MockConfig(BaseModel):
    """Fault and latency configuration. Every default means "no fault"."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int = Field(0, description="seed of the RNG that draws faults and latencies")
    models: tuple[str, ...] = Field(("mock-model",), description="model ids listed by GET /v1/models")

    latency_dist: Literal["fixed", "lognormal", "pareto", "uniform"] = Field(
        "fixed", description="distribution of the base latency"
    )
    latency_median_ms: float = Field(0.0, ge=0, description="median base latency in ms")
    latency_sigma: float = Field(1.0, gt=0, description="lognormal shape (1.0 gives a heavy tail)")
    latency_pareto_alpha: float = Field(1.5, gt=0, description="pareto shape (smaller is heavier)")
    latency_max_ms: float | None = Field(None, ge=0, description="cap on the sampled base latency")
    latency_per_token_ms: float = Field(0.0, ge=0, description="extra latency per completion token")

    rate_429: float = Field(0.0, ge=0, le=1, description="probability of an injected 429")
    rate_500: float = Field(0.0, ge=0, le=1, description="probability of an injected 500")
    rate_timeout: float = Field(0.0, ge=0, le=1, description="probability of holding the request, then 504")
    rate_malformed: float = Field(0.0, ge=0, le=1, description="probability of non-JSON content")
    rate_truncated: float = Field(0.0, ge=0, le=1, description="probability of finish_reason=length")
    fault_rate: float = Field(0.0, ge=0, le=1, description="total fault probability split over the five kinds")
    retry_after_s: float = Field(1.0, ge=0, description="Retry-After sent with 429 answers")
    timeout_hold_s: float = Field(30.0, ge=0, description="how long a timeout fault holds the request")

    capacity: int | None = Field(None, ge=1, description="max concurrent requests; beyond it 429 at once")
    queueing: bool = Field(False, description="never refuse; latency grows with in-flight beyond the knee")
    queue_knee: int = Field(16, ge=1, description="in-flight count where queueing slow-down starts")

    ratelimit_headers: bool = Field(False, description="send x-ratelimit-* headers")
    rpm_limit: int | None = Field(None, ge=1, description="requests per sliding minute, then 429")
    tpm_limit: int | None = Field(None, ge=1, description="tokens per sliding minute, then 429")

    api_key: str | None = Field(None, description="require 'Authorization: Bearer <key>'")
    context_limit_tokens: int | None = Field(None, ge=1, description="400 context_length_exceeded above it")
    tool_calls: bool = Field(False, description="answer requests with tools by calling the first tool")

    @model_validator(mode="after")
    def _check_rates(self) -> MockConfig:
        if sum(self.effective_rates()) > 1.0 + 1e-9:
            raise ValueError("the fault probabilities add up to more than 1")
        return self

    def effective_rates(self) -> tuple[float, float, float, float, float]:
        """Probabilities of 429, 500, timeout, malformed and truncated, `fault_rate` included."""
        share = self.fault_rate / len(_FAULTS)
        return (
            self.rate_429 + share,
            self.rate_500 + share,
            self.rate_timeout + share,
            self.rate_malformed + share,
            self.rate_truncated + share,
        )


def sample_latency_ms(config: MockConfig, rng: random.Random) -> float:
    """One base latency draw (before queueing and per-token time), capped at `latency_max_ms`."""
    median = config.latency_median_ms
    if median <= 0:
        return 0.0
    dist = config.latency_dist
    if dist == "lognormal":
        value = median * math.exp(config.latency_sigma * rng.gauss(0.0, 1.0))
    elif dist == "pareto":
        alpha = config.latency_pareto_alpha
        value = median / 2 ** (1 / alpha) * rng.paretovariate(alpha)
    elif dist == "uniform":
        value = rng.uniform(0.0, 2 * median)
    else:
        value = median
    if config.latency_max_ms is not None:
        value = min(value, config.latency_max_ms)
    return value


# --------------------------------------------------------------------------------------------------------------
# Text made from the prompt's words

_WORD_RE = re.compile(r"[A-Za-z][A-Za-z'-]*[A-Za-z]|[A-Za-z]")
_CONNECTORS = ("the", "of", "and", "to", "in", "with", "for", "on", "as", "by", "is", "that")
_FALLBACK_WORDS = (
    "answer",
    "question",
    "document",
    "example",
    "detail",
    "result",
    "method",
    "system",
    "process",
    "value",
    "context",
    "summary",
)
_MAX_VOCABULARY = 2000


def extract_words(text: str) -> tuple[str, ...]:
    """Distinct words of `text` in order of first appearance (falls back to a fixed list when empty)."""
    words = tuple(dict.fromkeys(w for w in _WORD_RE.findall(text) if len(w) <= 30))[:_MAX_VOCABULARY]
    return words or _FALLBACK_WORDS


def make_sentence(rng: random.Random, words: Sequence[str], min_words: int = 6, max_words: int = 14) -> str:
    """A readable sentence of prompt words with a few connectors, capitalised, ending with a period."""
    vocabulary = words or _FALLBACK_WORDS
    count = rng.randint(min_words, max_words)
    out: list[str] = []
    previous_connector = True
    for _ in range(count):
        if not previous_connector and rng.random() < 0.3:
            out.append(rng.choice(_CONNECTORS))
            previous_connector = True
        else:
            out.append(rng.choice(vocabulary))
            previous_connector = False
    if previous_connector and len(out) > 1:
        out[-1] = rng.choice(vocabulary)
    first = out[0]
    out[0] = first[:1].upper() + first[1:]
    return " ".join(out) + "."


def make_text(rng: random.Random, words: Sequence[str], sentences: int = 2) -> str:
    """`sentences` sentences of prompt words."""
    return " ".join(make_sentence(rng, words) for _ in range(max(1, sentences)))


def _make_phrase(rng: random.Random, words: Sequence[str]) -> str:
    vocabulary = words or _FALLBACK_WORDS
    out = [rng.choice(vocabulary) for _ in range(rng.randint(2, 5))]
    out[0] = out[0][:1].upper() + out[0][1:]
    return " ".join(out)


# --------------------------------------------------------------------------------------------------------------
# JSON documents from JSON schemas

_SOFT_DEPTH = 5
_HARD_DEPTH = 48
_SHORT_HINTS = frozenset(
    [
        "title",
        "name",
        "label",
        "topic",
        "category",
        "subject",
        "keyword",
        "keywords",
        "tag",
        "tags",
        "heading",
        "role",
        "kind",
        "language",
        "author",
        "speaker",
        "entity",
        "entities",
        "skill",
        "subcategory",
        "names",
        "titles",
        "topics",
    ]
)
_LONG_HINTS = frozenset(
    [
        "text",
        "content",
        "passage",
        "body",
        "answer",
        "response",
        "transcript",
        "description",
        "explanation",
        "summary",
        "document",
        "essay",
        "story",
        "article",
        "reasoning",
        "rationale",
        "solution",
        "paragraph",
        "paragraphs",
    ]
)
_PATTERN_FALLBACKS = ("a", "A", "0", "1", "abc", "ABC", "a1", "example", "x-1", "2024-01-01", "a_b", "0.5")


class SchemaError(ValueError):
    """The schema cannot be satisfied by the generator (e.g. unbounded required recursion)."""


class _Ctx:
    __slots__ = ("depth", "rng", "words")

    def __init__(self, rng: random.Random, words: Sequence[str]) -> None:
        self.rng = rng
        self.words = words
        self.depth = 0


_Gen = Callable[[_Ctx], Any]


def _hint_kind(hint: str) -> str:
    last = hint.lower().replace("-", "_").rsplit("_", 1)[-1]
    if last in _SHORT_HINTS:
        return "short"
    if last in _LONG_HINTS:
        return "long"
    return "sentence"


def _ascii_word(rng: random.Random, words: Sequence[str]) -> str:
    word = "".join(c for c in rng.choice(words or _FALLBACK_WORDS).lower() if c in string.ascii_lowercase)
    return word or "item"


def _format_value(fmt: str, rng: random.Random, words: Sequence[str]) -> str | None:
    if fmt == "date-time":
        return (
            f"{rng.randint(2000, 2030):04d}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
            f"T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}Z"
        )
    if fmt == "date":
        return f"{rng.randint(2000, 2030):04d}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if fmt == "time":
        return f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"
    if fmt == "duration":
        return f"PT{rng.randint(1, 59)}M"
    if fmt in ("email", "idn-email"):
        return f"{_ascii_word(rng, words)}@example.com"
    if fmt in ("uri", "url", "iri"):
        return f"https://example.com/{_ascii_word(rng, words)}"
    if fmt in ("uri-reference", "iri-reference"):
        return f"/docs/{_ascii_word(rng, words)}"
    if fmt == "uuid":
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))
    if fmt == "ipv4":
        return f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    if fmt == "ipv6":
        return f"2001:db8::{rng.randint(1, 0xFFFF):x}"
    if fmt in ("hostname", "idn-hostname"):
        return f"{_ascii_word(rng, words)}.example.com"
    return None


def _fit_length(text: str, min_len: int, max_len: int | None, ctx: _Ctx) -> str:
    while len(text) < min_len:
        text = f"{text} {make_sentence(ctx.rng, ctx.words)}" if text else make_sentence(ctx.rng, ctx.words)
    if max_len is not None and len(text) > max_len:
        cut = text[:max_len]
        space = cut.rfind(" ")
        if space >= max(min_len, 1):
            cut = cut[:space].rstrip(" ,;:")
        if len(cut) < min_len:
            cut = text[:max_len]
        text = cut
    return text


# Random strings for simple regular expressions. Python's own `re` parser gives the tree; it is turned once
# into plain nodes: ("lit", text), ("chars", candidates), ("branch", [seq...]), ("group", id, seq),
# ("repeat", low, high, seq), ("ref", id). Anything else (lookarounds are skipped) makes the pattern unsupported.
_re_parser: Any
try:
    _re_parser = importlib.import_module("re._parser")
except ImportError:  # pragma: no cover
    _re_parser = None
_CHAR_POOL = string.ascii_letters + string.digits + " -_.,:/"
_MAX_REPEAT_EXTRA = 3
_MAX_RANGE_CHARS = 512
_CATEGORY_TESTS: dict[str, Callable[[str], bool]] = {
    "CATEGORY_DIGIT": str.isdigit,
    "CATEGORY_NOT_DIGIT": lambda c: not c.isdigit(),
    "CATEGORY_WORD": lambda c: c.isalnum() or c == "_",
    "CATEGORY_NOT_WORD": lambda c: not (c.isalnum() or c == "_"),
    "CATEGORY_SPACE": str.isspace,
    "CATEGORY_NOT_SPACE": lambda c: not c.isspace(),
}


class _RegexUnsupported(Exception):
    pass


def _class_candidates(items: Any) -> str:
    negate = False
    chosen: list[str] = []
    tests: list[Callable[[str], bool]] = []
    for op, av in items:
        name = str(op)
        if name == "NEGATE":
            negate = True
        elif name == "LITERAL":
            chosen.append(chr(av))
        elif name == "RANGE":
            low, high = av
            chosen.extend(chr(c) for c in range(low, min(high, low + _MAX_RANGE_CHARS) + 1))
        elif name == "CATEGORY" and str(av) in _CATEGORY_TESTS:
            tests.append(_CATEGORY_TESTS[str(av)])
        else:
            raise _RegexUnsupported(name)
    if negate:
        excluded = set(chosen)
        result = "".join(c for c in _CHAR_POOL if c not in excluded and not any(t(c) for t in tests))
    else:
        result = "".join(dict.fromkeys(chosen + [c for c in _CHAR_POOL if any(t(c) for t in tests)]))
    if not result:
        raise _RegexUnsupported("empty character class")
    return result


def _regex_prepare(items: Any) -> list[tuple[Any, ...]]:
    nodes: list[tuple[Any, ...]] = []
    for op, av in items:
        name = str(op)
        if name == "LITERAL":
            nodes.append(("lit", chr(av)))
        elif name == "NOT_LITERAL":
            nodes.append(("chars", "".join(c for c in string.ascii_letters if ord(c) != av)))
        elif name == "ANY":
            nodes.append(("chars", string.ascii_letters))
        elif name == "IN":
            nodes.append(("chars", _class_candidates(av)))
        elif name == "BRANCH":
            nodes.append(("branch", [_regex_prepare(branch) for branch in av[1]]))
        elif name == "SUBPATTERN":
            nodes.append(("group", av[0], _regex_prepare(av[3])))
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, high, sub = av
            nodes.append(("repeat", low, min(high, low + _MAX_REPEAT_EXTRA), _regex_prepare(sub)))
        elif name == "GROUPREF":
            nodes.append(("ref", av))
        elif name == "ATOMIC_GROUP":
            nodes.append(("group", None, _regex_prepare(av)))
        elif name not in ("AT", "ASSERT", "ASSERT_NOT"):
            raise _RegexUnsupported(name)
    return nodes


def _regex_emit(nodes: list[tuple[Any, ...]], rng: random.Random, out: list[str], groups: dict[int, str]) -> None:
    for node in nodes:
        tag = node[0]
        if tag == "lit":
            out.append(node[1])
        elif tag == "chars":
            out.append(rng.choice(node[1]))
        elif tag == "repeat":
            for _ in range(rng.randint(node[1], node[2])):
                _regex_emit(node[3], rng, out, groups)
        elif tag == "group":
            start = len(out)
            _regex_emit(node[2], rng, out, groups)
            if node[1] is not None:
                groups[node[1]] = "".join(out[start:])
        elif tag == "branch":
            _regex_emit(rng.choice(node[1]), rng, out, groups)
        else:
            out.append(groups.get(node[1], ""))


def _regex_compile(pattern: str) -> list[tuple[Any, ...]] | None:
    if _re_parser is None:
        return None
    try:
        return _regex_prepare(_re_parser.parse(pattern))
    except (_RegexUnsupported, re.error, IndexError, ValueError, TypeError, AttributeError):
        return None


def _regex_sample(nodes: list[tuple[Any, ...]], rng: random.Random) -> str:
    out: list[str] = []
    _regex_emit(nodes, rng, out, {})
    return "".join(out)


class _Compiler:
    """Turns one JSON schema into a tree of generator closures (refs resolved lazily, so recursion works)."""

    def __init__(self, root: Any) -> None:
        self.root = root
        self.refs: dict[str, _Gen | None] = {}

    def compile(self, schema: Any, hint: str = "") -> _Gen:
        if schema is False:
            return lambda ctx: None
        if not isinstance(schema, dict):
            return self._string({}, hint)
        if "const" in schema:
            const = schema["const"]
            return lambda ctx: const
        if "enum" in schema:
            values = list(schema["enum"])
            if not values:
                return lambda ctx: None
            return lambda ctx: ctx.rng.choice(values)
        if "$ref" in schema:
            return self._ref(str(schema["$ref"]), hint)
        if "allOf" in schema:
            return self.compile(self._merge_all_of(schema), hint)
        for key in ("anyOf", "oneOf"):
            if key in schema:
                return self._union(list(schema[key]), hint)
        kind = schema.get("type")
        if isinstance(kind, list):
            return self._union([{**schema, "type": k} for k in kind], hint)
        if kind is None:
            kind = self._infer_type(schema)
            if kind is None:
                if "default" in schema:
                    default = schema["default"]
                    return lambda ctx: default
                kind = "string"
        if kind == "object":
            return self._object(schema)
        if kind == "array":
            return self._array(schema, hint)
        if kind == "string":
            return self._string(schema, hint)
        if kind == "integer":
            return self._integer(schema)
        if kind == "number":
            return self._number(schema)
        if kind == "boolean":
            return lambda ctx: ctx.rng.random() < 0.5
        if kind == "null":
            return lambda ctx: None
        return self._string(schema, hint)

    @staticmethod
    def _infer_type(schema: dict[str, Any]) -> str | None:
        if any(k in schema for k in ("properties", "additionalProperties", "required", "minProperties")):
            return "object"
        if any(k in schema for k in ("items", "prefixItems", "minItems", "maxItems")):
            return "array"
        if any(k in schema for k in ("minLength", "maxLength", "pattern", "format")):
            return "string"
        if any(k in schema for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")):
            return "number"
        return None

    def _resolve(self, ref: str) -> Any:
        if not ref.startswith("#"):
            return {}
        node: Any = self.root
        for raw in ref[1:].split("/"):
            if not raw:
                continue
            part = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return {}
        return node

    def _deref(self, schema: Any) -> Any:
        seen: set[str] = set()
        while isinstance(schema, dict) and "$ref" in schema and schema["$ref"] not in seen:
            seen.add(schema["$ref"])
            schema = self._resolve(str(schema["$ref"]))
        return schema

    def _ref(self, ref: str, hint: str) -> _Gen:
        refs = self.refs
        if ref not in refs:
            refs[ref] = None
            refs[ref] = self.compile(self._resolve(ref), hint)

        def gen(ctx: _Ctx) -> Any:
            return cast(_Gen, refs[ref])(ctx)

        return gen

    def _merge_all_of(self, schema: dict[str, Any]) -> dict[str, Any]:
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for raw in schema["allOf"]:
            part = self._deref(raw)
            if not isinstance(part, dict):
                continue
            for key, value in part.items():
                if key == "properties":
                    merged["properties"] = {**merged.get("properties", {}), **value}
                elif key == "required":
                    merged["required"] = list(dict.fromkeys([*merged.get("required", []), *value]))
                elif key not in merged:
                    merged[key] = value
        return merged

    def _is_simple(self, schema: Any) -> bool:
        schema = self._deref(schema)
        if not isinstance(schema, dict):
            return True
        if "const" in schema or "enum" in schema:
            return True
        kind = schema.get("type")
        return kind in ("null", "string", "integer", "number", "boolean")

    def _union(self, options: list[Any], hint: str) -> _Gen:
        if not options:
            return lambda ctx: None
        gens = [self.compile(option, hint) for option in options]
        nulls = [i for i, o in enumerate(options) if isinstance(o, dict) and o.get("type") == "null"]
        others = [i for i in range(len(options)) if i not in nulls]
        kinds = [self._deref(o).get("type") if isinstance(self._deref(o), dict) else None for o in options]
        if any(kinds[i] in ("integer", "number") for i in others):
            # pydantic's Decimal and friends accept a string only when it spells a number
            others = [i for i in others if kinds[i] != "string"] or others
        simple = nulls + [i for i in others if self._is_simple(options[i])]
        shallow_pick = simple[0] if simple else 0

        def gen(ctx: _Ctx) -> Any:
            if ctx.depth >= _SOFT_DEPTH:
                index = shallow_pick
            elif nulls and others:
                index = nulls[0] if ctx.rng.random() < 0.2 else ctx.rng.choice(others)
            else:
                index = ctx.rng.choice(others or nulls)
            return gens[index](ctx)

        return gen

    def _object(self, schema: dict[str, Any]) -> _Gen:
        properties: dict[str, Any] = schema.get("properties") or {}
        required = set(schema.get("required") or ())
        fields = [(name, self.compile(sub, name), name in required) for name, sub in properties.items()]
        fields += [(name, self._string({}, name), True) for name in sorted(required - properties.keys())]
        extra = schema.get("additionalProperties")
        extra_gen: _Gen | None = None
        if not properties and (extra is True or isinstance(extra, dict)):
            extra_gen = self.compile(extra if isinstance(extra, dict) else {}, "")
        min_props = int(schema.get("minProperties", 0))
        max_props = schema.get("maxProperties")

        def gen(ctx: _Ctx) -> dict[str, Any]:
            ctx.depth += 1
            if ctx.depth > _HARD_DEPTH:
                raise SchemaError("schema recursion too deep")
            try:
                deep = ctx.depth > _SOFT_DEPTH
                keep = 0.75 if ctx.depth <= 2 else 0.5
                out: dict[str, Any] = {}
                for name, field_gen, is_required in fields:
                    if is_required or (not deep and ctx.rng.random() < keep):
                        out[name] = field_gen(ctx)
                if len(out) < min_props:
                    for name, field_gen, _ in fields:
                        if len(out) >= min_props:
                            break
                        if name not in out:
                            out[name] = field_gen(ctx)
                if extra_gen is not None:
                    low = max(min_props - len(out), 0 if deep else 1)
                    high = max(low, 0 if deep else 3)
                    if max_props is not None:
                        high = max(min(high, int(max_props) - len(out)), low)
                    count = ctx.rng.randint(low, high)
                    keys = [w.lower() for w in ctx.words]
                    for i in range(count):
                        key = ctx.rng.choice(keys) if keys else f"key{i}"
                        if key in out:
                            key = f"{key}_{i}"
                        out[key] = extra_gen(ctx)
                return out
            finally:
                ctx.depth -= 1

        return gen

    def _array(self, schema: dict[str, Any], hint: str) -> _Gen:
        prefix = [self.compile(sub, hint) for sub in schema.get("prefixItems") or ()]
        items = schema.get("items")
        item_gen: _Gen | None
        if items is False or (prefix and items is None):
            item_gen = None
        else:
            item_gen = self.compile(items if items is not None else {}, hint)
        min_items = int(schema.get("minItems", 0))
        max_raw = schema.get("maxItems")
        max_items = int(max_raw) if max_raw is not None else None
        if item_gen is None:
            max_items = len(prefix) if max_items is None else min(max_items, len(prefix))
        unique = bool(schema.get("uniqueItems"))

        def gen(ctx: _Ctx) -> list[Any]:
            ctx.depth += 1
            if ctx.depth > _HARD_DEPTH:
                raise SchemaError("schema recursion too deep")
            try:
                if ctx.depth > _SOFT_DEPTH:
                    count = min_items
                else:
                    # fewer items the deeper we are, so recursive schemas stay small
                    spread = max(0, 4 - ctx.depth)
                    low = min_items if max_items == 0 or ctx.depth > 3 else max(min_items, 1)
                    high = low + spread if max_items is None else min(max_items, low + spread)
                    count = ctx.rng.randint(low, max(low, high))
                out: list[Any] = []
                seen: set[str] = set()
                for i in range(count):
                    source = prefix[i] if i < len(prefix) else item_gen
                    if source is None:
                        break
                    value = source(ctx)
                    if unique:
                        key = json.dumps(value, sort_keys=True)
                        attempts = 0
                        while key in seen and attempts < 10:
                            value = source(ctx)
                            key = json.dumps(value, sort_keys=True)
                            attempts += 1
                        if key in seen and len(out) >= min_items:
                            break
                        seen.add(key)
                    out.append(value)
                return out
            finally:
                ctx.depth -= 1

        return gen

    def _string(self, schema: dict[str, Any], hint: str) -> _Gen:
        min_len = int(schema.get("minLength", 0))
        max_raw = schema.get("maxLength")
        max_len = int(max_raw) if max_raw is not None else None
        fmt = schema.get("format")
        kind = _hint_kind(hint)

        def length_ok(value: str) -> bool:
            return len(value) >= min_len and (max_len is None or len(value) <= max_len)

        pattern = schema.get("pattern")
        if isinstance(pattern, str):
            try:
                compiled: re.Pattern[str] | None = re.compile(pattern)
            except re.error:
                compiled = None
            tree = _regex_compile(pattern)
            if compiled is not None:

                def valid(value: str) -> bool:
                    return length_ok(value) and compiled.search(value) is not None

                def pattern_gen(ctx: _Ctx) -> str:
                    candidate: str | None = None
                    if tree is not None:
                        for _ in range(8):
                            candidate = _regex_sample(tree, ctx.rng)
                            if valid(candidate):
                                return candidate
                    for fallback in _PATTERN_FALLBACKS:
                        if valid(fallback):
                            return fallback
                    sentence = _fit_length(make_sentence(ctx.rng, ctx.words), min_len, max_len, ctx)
                    if valid(sentence):
                        return sentence
                    return candidate if candidate is not None else sentence

                return pattern_gen

        def text_gen(ctx: _Ctx) -> str:
            if isinstance(fmt, str):
                formatted = _format_value(fmt, ctx.rng, ctx.words)
                if formatted is not None and length_ok(formatted):
                    return formatted
            if kind == "short":
                value = _make_phrase(ctx.rng, ctx.words)
            elif kind == "long":
                value = make_text(ctx.rng, ctx.words, ctx.rng.randint(2, 4))
            else:
                value = make_sentence(ctx.rng, ctx.words)
            return _fit_length(value, min_len, max_len, ctx)

        return text_gen

    @staticmethod
    def _integer(schema: dict[str, Any]) -> _Gen:
        low: int | None = None
        high: int | None = None
        if isinstance(schema.get("minimum"), int | float):
            low = math.ceil(schema["minimum"])
        if isinstance(schema.get("exclusiveMinimum"), int | float):
            bound = math.floor(schema["exclusiveMinimum"]) + 1
            low = bound if low is None else max(low, bound)
        if isinstance(schema.get("maximum"), int | float):
            high = math.floor(schema["maximum"])
        if isinstance(schema.get("exclusiveMaximum"), int | float):
            bound = math.ceil(schema["exclusiveMaximum"]) - 1
            high = bound if high is None else min(high, bound)
        if low is None and high is None:
            low, high = 0, 100
        elif low is None:
            assert high is not None
            low = min(high, 0) if high >= 0 else high - 100
        elif high is None:
            high = low + 100
        high = max(high, low)
        step = schema.get("multipleOf")
        if isinstance(step, int) and step > 0:
            first, last = -(-low // step), high // step
            if first <= last:
                return lambda ctx: ctx.rng.randint(first, last) * step
        return lambda ctx: ctx.rng.randint(low, high)

    @staticmethod
    def _number(schema: dict[str, Any]) -> _Gen:
        minimum = schema.get("minimum")
        maximum = schema.get("maximum")
        ex_min = schema.get("exclusiveMinimum")
        ex_max = schema.get("exclusiveMaximum")
        lows = [float(v) for v in (minimum, ex_min) if isinstance(v, int | float)]
        highs = [float(v) for v in (maximum, ex_max) if isinstance(v, int | float)]
        low = max(lows) if lows else None
        high = min(highs) if highs else None
        if low is None and high is None:
            low, high = 0.0, 100.0
        elif low is None:
            assert high is not None
            low = min(high, 0.0) if high > 0 else high - 100.0
        elif high is None:
            high = low + 100.0
        assert low is not None and high is not None
        high = max(high, low)
        lo, hi = low, high

        def valid(value: float) -> bool:
            if isinstance(minimum, int | float) and value < minimum:
                return False
            if isinstance(maximum, int | float) and value > maximum:
                return False
            if isinstance(ex_min, int | float) and value <= ex_min:
                return False
            return not (isinstance(ex_max, int | float) and value >= ex_max)

        def gen(ctx: _Ctx) -> float:
            value = round(ctx.rng.uniform(lo, hi), 2)
            if valid(value):
                return value
            return (lo + hi) / 2

        return gen


_GENERATORS: dict[str, _Gen] = {}
_MAX_GENERATORS = 1024


def _schema_key(schema: Any) -> str:
    raw = json.dumps(schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.blake2b(raw.encode(), digest_size=16).hexdigest()


def _generator_for(schema: Any) -> _Gen:
    key = _schema_key(schema)
    gen = _GENERATORS.get(key)
    if gen is None:
        if len(_GENERATORS) >= _MAX_GENERATORS:
            _GENERATORS.pop(next(iter(_GENERATORS)))
        gen = _Compiler(schema).compile(schema)
        _GENERATORS[key] = gen
    return gen


def generate_json(schema: Any, rng: random.Random, words: Sequence[str] = ()) -> Any:
    """A value valid against `schema`, drawn from `rng`, strings made of `words` (compiled once per schema)."""
    return _generator_for(schema)(_Ctx(rng, words or _FALLBACK_WORDS))


# --------------------------------------------------------------------------------------------------------------
# Requests and responders


def _message_text(message: Any) -> str:
    if not isinstance(message, dict):
        return ""
    content = message.get("content")
    if isinstance(content, str):
        text = content
    elif isinstance(content, list):
        text = " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict) and "text" in part)
    else:
        text = ""
    for call in message.get("tool_calls") or ():
        if isinstance(call, dict) and isinstance(call.get("function"), dict):
            text += " " + str(call["function"].get("arguments", ""))
    return text


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """The parsed body of one chat completion request."""

    model: str
    messages: list[dict[str, Any]]
    schema: dict[str, Any] | None
    schema_name: str | None
    prompt_ref: str | None
    max_tokens: int | None
    tools: list[dict[str, Any]] | None
    seed: int | None
    response_format: dict[str, Any] | None
    tool_choice: Any
    words: tuple[str, ...]
    prompt_tokens: int

    @property
    def prompt_name(self) -> str | None:
        """The prompt ref without its version: `rc/transform_argument@1` -> `rc/transform_argument`."""
        if not self.prompt_ref:
            return None
        return self.prompt_ref.split("@", 1)[0]

    @property
    def user_text(self) -> str:
        """All user messages' text, joined by blank lines."""
        return "\n\n".join(_message_text(m) for m in self.messages if m.get("role") == "user")

    @property
    def has_tool_result(self) -> bool:
        return any(m.get("role") == "tool" for m in self.messages)

    @classmethod
    def from_body(cls, body: dict[str, Any], prompt_ref: str | None = None) -> ChatRequest:
        """Parse a request body; raises ValueError when it is not a chat completion request."""
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
            raise ValueError("'messages' must be a non-empty list of message objects")
        response_format = body.get("response_format")
        if response_format is not None and not isinstance(response_format, dict):
            raise ValueError("'response_format' must be an object")
        schema: dict[str, Any] | None = None
        schema_name: str | None = None
        if response_format and response_format.get("type") == "json_schema":
            spec = response_format.get("json_schema")
            if not isinstance(spec, dict) or not isinstance(spec.get("schema", {}), dict):
                raise ValueError("'response_format.json_schema' must hold a 'name' and a 'schema' object")
            schema = spec.get("schema") or {}
            schema_name = str(spec["name"]) if spec.get("name") is not None else None
        tools = body.get("tools")
        if tools is not None and not isinstance(tools, list):
            raise ValueError("'tools' must be a list")
        max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
        seed = body.get("seed")
        texts = [_message_text(m) for m in messages]
        user_texts = [t for m, t in zip(messages, texts, strict=True) if m.get("role") == "user"]
        return cls(
            model=str(body.get("model") or "mock-model"),
            messages=messages,
            schema=schema,
            schema_name=schema_name,
            prompt_ref=prompt_ref or None,
            max_tokens=max_tokens if isinstance(max_tokens, int) and max_tokens > 0 else None,
            tools=tools or None,
            seed=seed if isinstance(seed, int) else None,
            response_format=response_format,
            tool_choice=body.get("tool_choice"),
            words=extract_words(" ".join(user_texts or texts)),
            prompt_tokens=max(1, sum(len(t.split()) for t in texts)),
        )


Responder = Callable[[ChatRequest, random.Random], dict[str, Any] | str]
RESPONDERS: dict[str, Responder] = {}


def register_responder(name: str) -> Callable[[Responder], Responder]:
    """Register a responder for a prompt name (the part of the prompt ref before `@`) or a json_schema name.

    The responder gets the parsed request and an RNG seeded from the request body; a dict (or any non-string)
    is JSON-encoded into the message content, a string is used as is.
    """

    def decorate(func: Responder) -> Responder:
        RESPONDERS[name] = func
        return func

    return decorate


def _find_responder(chat: ChatRequest) -> Responder | None:
    name = chat.prompt_name
    if name and name in RESPONDERS:
        return RESPONDERS[name]
    if chat.schema_name and chat.schema_name in RESPONDERS:
        return RESPONDERS[chat.schema_name]
    return None


def _default_content(chat: ChatRequest, rng: random.Random) -> str:
    if chat.schema is not None:
        return json.dumps(generate_json(chat.schema, rng, chat.words), ensure_ascii=False)
    if chat.response_format and chat.response_format.get("type") == "json_object":
        return json.dumps({"answer": make_text(rng, chat.words, 2)}, ensure_ascii=False)
    return make_text(rng, chat.words, rng.randint(1, 3))


def _wants_tool_call(chat: ChatRequest) -> bool:
    if not chat.tools or chat.has_tool_result or chat.tool_choice == "none":
        return False
    return any(isinstance(t, dict) and isinstance(t.get("function"), dict) for t in chat.tools)


def _tool_call_message(chat: ChatRequest, rng: random.Random) -> tuple[dict[str, Any], str]:
    tool = next(t for t in chat.tools or () if isinstance(t, dict) and isinstance(t.get("function"), dict))
    function = tool["function"]
    parameters = function.get("parameters") or {"type": "object", "properties": {}}
    arguments = json.dumps(generate_json(parameters, rng, chat.words), ensure_ascii=False)
    call = {
        "id": f"call_{rng.getrandbits(96):024x}",
        "type": "function",
        "function": {"name": str(function.get("name", "tool")), "arguments": arguments},
    }
    message = {"role": "assistant", "content": None, "refusal": None, "tool_calls": [call]}
    return message, arguments


def _malform(content: str) -> str:
    stripped = content.lstrip()
    cut = content[: max(1, len(content) // 2)]
    if not stripped.startswith(("{", "[")):
        cut = '{"answer": "' + cut
    return cut + "\n\nI hope this helps! Let me know if you need anything else."


def _truncate(content: str) -> str:
    return content[: len(content) // 2] if len(content) > 1 else ""


def _cut_words(content: str, limit: int) -> str:
    for i, match in enumerate(re.finditer(r"\S+", content), start=1):
        if i == limit:
            return content[: match.end()]
    return content


# --------------------------------------------------------------------------------------------------------------
# Statistics and rate-limit window


class _Stats:
    def __init__(self) -> None:
        self.inflight = 0
        self.reset(time.monotonic())

    def reset(self, now: float) -> None:
        self.started = now
        self.requests_total = 0
        self.outcomes = dict.fromkeys(OUTCOMES, 0)
        self.rejected_capacity = 0
        self.rejected_rate_limit = 0
        self.injected_429 = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.peak_inflight = self.inflight
        self.inflight_area = 0.0
        self.last_change = now
        self.latencies_ms: array[float] = array("d")

    def _advance(self, now: float) -> None:
        self.inflight_area += self.inflight * (now - self.last_change)
        self.last_change = now

    def enter(self, now: float) -> None:
        self._advance(now)
        self.inflight += 1
        self.peak_inflight = max(self.peak_inflight, self.inflight)

    def leave(self, now: float, outcome: str, latency_ms: float) -> None:
        self._advance(now)
        self.inflight -= 1
        self.outcomes[outcome] += 1
        self.latencies_ms.append(latency_ms)

    def snapshot(self, now: float) -> dict[str, Any]:
        elapsed = now - self.started
        area = self.inflight_area + self.inflight * (now - self.last_change)
        values = sorted(self.latencies_ms)
        count = len(values)

        def pct(q: float) -> float:
            return round(values[min(count - 1, int(q * count))], 3) if count else 0.0

        return {
            "requests_total": self.requests_total,
            "outcomes": dict(self.outcomes),
            "rejected": {
                "capacity": self.rejected_capacity,
                "rate_limit": self.rejected_rate_limit,
                "injected_429": self.injected_429,
            },
            "inflight": self.inflight,
            "peak_inflight": self.peak_inflight,
            "mean_inflight": round(area / elapsed, 4) if elapsed > 0 else 0.0,
            "elapsed_s": round(elapsed, 3),
            "tokens": {"prompt": self.prompt_tokens, "completion": self.completion_tokens},
            "latency_ms": {
                "count": count,
                "mean": round(sum(values) / count, 3) if count else 0.0,
                "p50": pct(0.5),
                "p90": pct(0.9),
                "p99": pct(0.99),
                "max": round(values[-1], 3) if count else 0.0,
            },
        }


_WINDOW_S = 60.0


class _RateWindow:
    """Requests and tokens admitted over the last sliding minute."""

    def __init__(self) -> None:
        self.events: deque[tuple[float, int, int]] = deque()
        self.requests = 0
        self.tokens = 0

    def clear(self) -> None:
        self.events.clear()
        self.requests = 0
        self.tokens = 0

    def purge(self, now: float) -> None:
        cutoff = now - _WINDOW_S
        events = self.events
        while events and events[0][0] <= cutoff:
            _, requests, tokens = events.popleft()
            self.requests -= requests
            self.tokens -= tokens

    def add(self, now: float, requests: int, tokens: int) -> None:
        self.events.append((now, requests, tokens))
        self.requests += requests
        self.tokens += tokens

    def seconds_until_requests(self, now: float, limit: int) -> float:
        """Time until one more request fits under `limit`."""
        excess = self.requests - limit + 1
        for ts, requests, _ in self.events:
            excess -= requests
            if excess <= 0:
                return max(0.0, ts + _WINDOW_S - now)
        return _WINDOW_S

    def seconds_until_tokens(self, now: float, limit: int, need: int) -> float:
        """Time until `need` more tokens fit under `limit`."""
        excess = self.tokens + need - limit
        if excess <= 0:
            return 0.0
        for ts, _, tokens in self.events:
            excess -= tokens
            if excess <= 0:
                return max(0.0, ts + _WINDOW_S - now)
        return _WINDOW_S


def _format_duration(seconds: float) -> str:
    if seconds < 1:
        return f"{int(seconds * 1000)}ms"
    if seconds < 60:
        return f"{seconds:.3g}s"
    return f"{int(seconds // 60)}m{seconds % 60:.0f}s"


# --------------------------------------------------------------------------------------------------------------
# The server


def _error(
    status: int,
    message: str,
    *,
    type_: str,
    code: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return web.json_response(body, status=status, headers=headers)


def _resolve_future(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class MockServer:
    """An aiohttp server speaking the OpenAI chat completions API, with injected faults."""

    def __init__(self, config: MockConfig | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._config = config or MockConfig()
        self._host = host
        self._requested_port = port
        self._port: int | None = None
        self._rng = random.Random(self._config.seed)
        self._stats = _Stats()
        self._window = _RateWindow()
        self._runner: web.AppRunner | None = None
        self._sleepers: set[asyncio.Future[None]] = set()
        self._ids = itertools.count(1)

    # lifecycle -------------------------------------------------------------------------------------------
    async def start(self) -> None:
        if self._runner is not None:
            return
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/v1/models", self._handle_models)
        app.router.add_post("/v1/chat/completions", self._handle_chat)
        app.router.add_get("/mock/stats", self._handle_stats)
        app.router.add_post("/mock/reset", self._handle_reset)
        app.router.add_get("/mock/config", self._handle_get_config)
        app.router.add_post("/mock/config", self._handle_set_config)
        app.router.add_get("/health", self._handle_health)
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._requested_port, backlog=4096)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._port = int(runner.addresses[0][1])
        self._runner = runner
        self.reset_stats()

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is None:
            return
        for future in list(self._sleepers):
            _resolve_future(future)
        await runner.cleanup()

    async def __aenter__(self) -> MockServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # public state ----------------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the mock server is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>/v1`, for `openai.AsyncOpenAI(base_url=...)`."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}/v1"

    @property
    def config(self) -> MockConfig:
        return self._config

    def configure(self, config: MockConfig) -> None:
        """Replace the fault/latency configuration; the fault RNG restarts from `config.seed`."""
        self._config = config
        self._rng = random.Random(config.seed)

    def stats(self) -> dict[str, Any]:
        """The same document as `GET /mock/stats`."""
        return self._stats.snapshot(time.monotonic())

    def reset_stats(self) -> None:
        """Zero the statistics and the rate-limit window; the fault RNG restarts from the seed."""
        self._stats.reset(time.monotonic())
        self._window.clear()
        self._rng = random.Random(self._config.seed)

    # helpers ---------------------------------------------------------------------------------------------
    async def _sleep(self, seconds: float) -> None:
        """Sleep that `stop()` cuts short."""
        if seconds <= 0:
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        handle = loop.call_later(seconds, _resolve_future, future)
        self._sleepers.add(future)
        try:
            await future
        finally:
            handle.cancel()
            self._sleepers.discard(future)

    def _retry_headers(self, seconds: float, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Retry-After": str(max(0, math.ceil(seconds))), "retry-after-ms": str(int(seconds * 1000))}
        if extra:
            headers.update(extra)
        return headers

    def _ratelimit_headers(self, config: MockConfig, now: float) -> dict[str, str]:
        headers: dict[str, str] = {}
        window = self._window
        if config.rpm_limit is not None:
            headers["x-ratelimit-limit-requests"] = str(config.rpm_limit)
            headers["x-ratelimit-remaining-requests"] = str(max(0, config.rpm_limit - window.requests))
            reset = window.seconds_until_requests(now, config.rpm_limit) if window.requests else 0.0
            headers["x-ratelimit-reset-requests"] = _format_duration(reset)
        if config.tpm_limit is not None:
            headers["x-ratelimit-limit-tokens"] = str(config.tpm_limit)
            headers["x-ratelimit-remaining-tokens"] = str(max(0, config.tpm_limit - window.tokens))
            reset = window.events[0][0] + _WINDOW_S - now if window.events else 0.0
            headers["x-ratelimit-reset-tokens"] = _format_duration(max(0.0, reset))
        return headers

    def _check_rate_limits(self, config: MockConfig, chat: ChatRequest, now: float) -> web.Response | None:
        """A 429 answer when one more request (or its prompt tokens) would exceed the sliding minute."""
        window = self._window
        window.purge(now)
        if config.rpm_limit is not None and window.requests + 1 > config.rpm_limit:
            wait = window.seconds_until_requests(now, config.rpm_limit)
            kind, limit = "requests", config.rpm_limit
        elif config.tpm_limit is not None and window.tokens + chat.prompt_tokens > config.tpm_limit:
            wait = window.seconds_until_tokens(now, config.tpm_limit, chat.prompt_tokens)
            kind, limit = "tokens", config.tpm_limit
        else:
            return None
        headers = self._ratelimit_headers(config, now) if config.ratelimit_headers else None
        return _error(
            429,
            f"Rate limit reached for {chat.model}: limit {limit} {kind} per min. "
            f"Please try again in {_format_duration(wait)}.",
            type_=kind,
            code="rate_limit_exceeded",
            headers=self._retry_headers(wait, headers),
        )

    def _draw_fault(self, config: MockConfig) -> str | None:
        rates = config.effective_rates()
        if not any(rates):
            return None
        u = self._rng.random()
        for name, rate in zip(_FAULTS, rates, strict=True):
            if u < rate:
                return name
            u -= rate
        return None

    def _next_id(self, seed: int) -> str:
        return f"chatcmpl-{seed & 0xFFFFFFFFFFFF:012x}{next(self._ids):08x}"

    # handlers --------------------------------------------------------------------------------------------
    async def _handle_health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _handle_models(self, request: web.Request) -> web.Response:
        config = self._config
        if config.api_key is not None and request.headers.get("Authorization") != f"Bearer {config.api_key}":
            return _error(401, "Incorrect API key provided.", type_="invalid_request_error", code="invalid_api_key")
        created = int(time.time())
        data = [{"id": m, "object": "model", "created": created, "owned_by": "mock"} for m in config.models]
        return web.json_response({"object": "list", "data": data})

    async def _handle_stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    async def _handle_reset(self, request: web.Request) -> web.Response:
        self.reset_stats()
        return web.json_response({"status": "reset"})

    async def _handle_get_config(self, request: web.Request) -> web.Response:
        return web.json_response(self._config.model_dump(mode="json"))

    async def _handle_set_config(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read() or b"{}")
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object of MockConfig fields")
            if request.query.get("merge") in ("1", "true", "yes"):
                body = {**self._config.model_dump(), **body}
            config = MockConfig.model_validate(body)
        except (ValueError, ValidationError) as exc:
            return _error(400, str(exc), type_="invalid_request_error", code="invalid_config")
        self.configure(config)
        return web.json_response(config.model_dump(mode="json"))

    async def _handle_chat(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        config = self._config
        stats = self._stats
        stats.requests_total += 1

        if config.api_key is not None and request.headers.get("Authorization") != f"Bearer {config.api_key}":
            stats.outcomes["401"] += 1
            return _error(
                401,
                "Incorrect API key provided.",
                type_="invalid_request_error",
                code="invalid_api_key",
            )
        try:
            raw = await request.read()
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise ValueError("the request body must be a JSON object")
            if body.get("stream"):
                stats.outcomes["400"] += 1
                return _error(
                    400,
                    "Streaming is not supported by the mock server.",
                    type_="invalid_request_error",
                    param="stream",
                    code="unsupported_value",
                )
            chat = ChatRequest.from_body(body, request.headers.get(PROMPT_HEADER))
        except ValueError as exc:
            stats.outcomes["400"] += 1
            return _error(400, f"Invalid request: {exc}", type_="invalid_request_error", code="invalid_request")

        if config.context_limit_tokens is not None and chat.prompt_tokens > config.context_limit_tokens:
            stats.outcomes["400"] += 1
            return _error(
                400,
                f"This model's maximum context length is {config.context_limit_tokens} tokens. "
                f"However, your messages resulted in {chat.prompt_tokens} tokens.",
                type_="invalid_request_error",
                param="messages",
                code="context_length_exceeded",
            )

        if not config.queueing and config.capacity is not None and stats.inflight >= config.capacity:
            stats.outcomes["429"] += 1
            stats.rejected_capacity += 1
            return _error(
                429,
                "The server is at capacity; please retry later.",
                type_="server_overloaded",
                code="rate_limit_exceeded",
                headers=self._retry_headers(config.retry_after_s),
            )

        now = time.monotonic()
        limited = config.rpm_limit is not None or config.tpm_limit is not None
        if limited:
            refusal = self._check_rate_limits(config, chat, now)
            if refusal is not None:
                stats.outcomes["429"] += 1
                stats.rejected_rate_limit += 1
                return refusal

        fault = self._draw_fault(config)
        if fault == "429":
            stats.outcomes["429"] += 1
            stats.injected_429 += 1
            headers = self._ratelimit_headers(config, now) if limited and config.ratelimit_headers else None
            return _error(
                429,
                "Rate limit reached (injected by the mock server).",
                type_="requests",
                code="rate_limit_exceeded",
                headers=self._retry_headers(config.retry_after_s, headers),
            )

        limit_headers: dict[str, str] = {}
        if limited:
            self._window.add(now, 1, chat.prompt_tokens)
            if config.ratelimit_headers:
                limit_headers = self._ratelimit_headers(config, now)

        stats.enter(now)
        outcome = "error"
        try:
            latency_ms = sample_latency_ms(config, self._rng)
            if config.queueing:
                knee = config.queue_knee
                latency_ms *= 1 + max(0, stats.inflight - knee) / knee
            if fault == "timeout":
                outcome = "timeout"
                await self._sleep(config.timeout_hold_s)
                return _error(504, "Gateway timeout (injected by the mock server).", type_="timeout")
            if fault == "500":
                outcome = "500"
                await self._sleep(latency_ms / 1000)
                return _error(500, "The server had an error (injected by the mock server).", type_="server_error")
            try:
                body_json, completion_tokens, outcome = self._build_completion(config, chat, body, fault)
            except Exception as exc:
                outcome = "error"
                return _error(500, f"The mock could not build an answer: {exc!r}", type_="mock_error")
            stats.prompt_tokens += chat.prompt_tokens
            stats.completion_tokens += completion_tokens
            if config.tpm_limit is not None:
                self._window.add(time.monotonic(), 0, completion_tokens)
            latency_ms += config.latency_per_token_ms * completion_tokens
            await self._sleep(latency_ms / 1000)
            headers = {"x-request-id": f"req_{next(self._ids):012x}"}
            headers.update(limit_headers)
            return web.Response(body=body_json, content_type="application/json", headers=headers)
        except asyncio.CancelledError:
            if outcome != "timeout":
                outcome = "cancelled"
            raise
        finally:
            stats.leave(time.monotonic(), outcome, (time.perf_counter() - started) * 1000)

    def _build_completion(
        self, config: MockConfig, chat: ChatRequest, body: dict[str, Any], fault: str | None
    ) -> tuple[bytes, int, str]:
        """The response body, its completion tokens and the outcome; content seeded from the canonical body."""
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
        digest = hashlib.blake2b(canonical.encode(), digest_size=8).digest()
        seed = int.from_bytes(digest, "big")
        rng = random.Random(seed)
        outcome = "ok"
        finish_reason = "stop"
        message: dict[str, Any]
        if config.tool_calls and fault is None and _wants_tool_call(chat):
            message, completion_text = _tool_call_message(chat, rng)
            finish_reason = "tool_calls"
        else:
            responder = _find_responder(chat)
            if responder is not None:
                answer = responder(chat, rng)
                content = answer if isinstance(answer, str) else json.dumps(answer, ensure_ascii=False)
            else:
                content = _default_content(chat, rng)
            if fault == "malformed":
                content = _malform(content)
                outcome = "malformed"
            elif fault == "truncated":
                content = _truncate(content)
                finish_reason = "length"
                outcome = "truncated"
            elif chat.max_tokens is not None and len(content.split()) > chat.max_tokens:
                content = _cut_words(content, chat.max_tokens)
                finish_reason = "length"
                outcome = "truncated"
            message = {"role": "assistant", "content": content, "refusal": None}
            completion_text = content
        completion_tokens = len(completion_text.split())
        response = {
            "id": self._next_id(seed),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": chat.model,
            "system_fingerprint": "fp_mock",
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}],
            "usage": {
                "prompt_tokens": chat.prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": chat.prompt_tokens + completion_tokens,
            },
        }
        return json.dumps(response, ensure_ascii=False).encode(), completion_tokens, outcome


# --------------------------------------------------------------------------------------------------------------
# Command line


def _argument_options(annotation: Any) -> dict[str, Any]:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        inner = [a for a in get_args(annotation) if a is not type(None)]
        annotation = inner[0] if len(inner) == 1 else str
        origin = get_origin(annotation)
    if annotation is bool:
        return {"action": argparse.BooleanOptionalAction}
    if origin is Literal:
        return {"choices": list(get_args(annotation))}
    if origin is tuple:
        return {"nargs": "+"}
    if annotation in (int, float, str):
        return {"type": annotation}
    return {"type": str}


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m agentinstruct.testing.mock_server",
        description="Deterministic OpenAI-compatible mock server with fault injection.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind (0 picks a free port)")
    parser.add_argument(
        "--responders",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE first so its register_responder calls take effect (repeatable)",
    )
    for name, field in MockConfig.model_fields.items():
        parser.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            default=argparse.SUPPRESS,
            help=field.description,
            **_argument_options(field.annotation),
        )
    return parser


async def _serve(config: MockConfig, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with MockServer(config, host=host, port=port) as server:
        print(server.base_url, flush=True)
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of `python -m agentinstruct.testing.mock_server`."""
    args = vars(_build_parser().parse_args(argv))
    host = args.pop("host")
    port = args.pop("port")
    for module in args.pop("responders"):
        importlib.import_module(module)
    try:
        config = MockConfig.model_validate(args)
    except ValidationError as exc:
        raise SystemExit(f"invalid configuration: {exc}") from exc
    asyncio.run(_serve(config, host, port))


if __name__ == "__main__":
    importlib.import_module("agentinstruct.testing.mock_server").main()
