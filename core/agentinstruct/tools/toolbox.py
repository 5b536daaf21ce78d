"""The tools agents may call (method doc §1.1: search, code interpreter, calculator).

`Toolbox.specs()` gives OpenAI function-calling specs; `Toolbox.call()` runs a call and always returns
a compact JSON string. Problems with the call itself (unknown tool, malformed arguments, a failing
expression) come back as ``{"error": "..."}`` so they can be shown to the model as the tool result.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from agentinstruct.tools.calculator import CalculatorError, evaluate
from agentinstruct.tools.sandbox import run_python
from agentinstruct.tools.search import SearchIndex

__all__ = ["Toolbox"]

_SEARCH_SPEC: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "search",
        "description": (
            "Search the local document and code index. Returns the best-matching documents with "
            "a relevant snippet of each. Use identifiers or short keyword queries."
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "Keywords, an identifier or a code fragment."},
                "k": {
                    "type": "integer",
                    "description": "How many results to return.",
                    "minimum": 1,
                    "maximum": 20,
                    "default": 5,
                },
            },
            "required": ["query"],
            "additionalProperties": False,
        },
    },
}

_PYTHON_SPEC: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "python",
        "description": (
            "Run a Python 3.11 program in an isolated sandbox (standard library only, no network, "
            "no subprocesses, a few seconds of time). Print what you want to see; returns stdout, "
            "stderr and the exit code."
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "code": {"type": "string", "description": "The complete Python program to run."},
                "stdin": {"type": "string", "description": "Text passed to the program's standard input."},
            },
            "required": ["code"],
            "additionalProperties": False,
        },
    },
}

_CALCULATOR_SPEC: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "calculator",
        "description": (
            "Evaluate an arithmetic expression exactly: numbers, + - * / // % ** and parentheses, "
            "the functions sqrt, log, log10, exp, sin, cos, tan, floor, ceil, factorial, abs, round, "
            "min, max, pow and the constants pi and e. Example: 'sqrt(2) * (3 + 4) ** 2'."
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "expression": {"type": "string", "description": "The arithmetic expression to evaluate."},
            },
            "required": ["expression"],
            "additionalProperties": False,
        },
    },
}


def _dumps(value: Mapping[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


class _BadArguments(Exception):
    pass


def _parse_arguments(arguments: str | Mapping[str, Any] | None) -> dict[str, Any]:
    if arguments is None:
        return {}
    if isinstance(arguments, Mapping):
        return dict(arguments)
    if not isinstance(arguments, str):
        raise _BadArguments(f"arguments must be a JSON object, got {type(arguments).__name__}")
    text = arguments.strip()
    if not text:
        return {}
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _BadArguments(f"arguments are not valid JSON: {exc.msg} (position {exc.pos})") from exc
    if not isinstance(parsed, dict):
        raise _BadArguments(f"arguments must be a JSON object, got {type(parsed).__name__}")
    return parsed


def _check_arguments(spec: Mapping[str, Any], args: Mapping[str, Any]) -> None:
    params = spec["function"]["parameters"]
    properties: Mapping[str, Any] = params["properties"]
    unknown = sorted(set(args) - set(properties))
    if unknown:
        raise _BadArguments(f"unknown argument(s): {', '.join(unknown)}; expected: {', '.join(properties)}")
    missing = [name for name in params.get("required", []) if name not in args]
    if missing:
        raise _BadArguments(f"missing required argument(s): {', '.join(missing)}")
    for name, value in args.items():
        expected = properties[name]["type"]
        if expected == "string" and not isinstance(value, str):
            raise _BadArguments(f"argument {name!r} must be a string")
        if expected == "integer" and (isinstance(value, bool) or not isinstance(value, int)):
            raise _BadArguments(f"argument {name!r} must be an integer")


class Toolbox:
    """The agents' tools: ``search`` (only with an index), ``python`` and ``calculator``."""

    def __init__(
        self,
        index: SearchIndex | None = None,
        *,
        python_timeout_s: float = 5.0,
        python_memory_mb: int = 512,
        python_max_output_bytes: int = 16384,
        search_max_k: int = 20,
    ) -> None:
        self.index = index
        self.python_timeout_s = python_timeout_s
        self.python_memory_mb = python_memory_mb
        self.python_max_output_bytes = python_max_output_bytes
        self.search_max_k = max(1, search_max_k)

    def _specs(self) -> dict[str, dict[str, Any]]:
        specs: dict[str, dict[str, Any]] = {}
        if self.index is not None:
            specs["search"] = _SEARCH_SPEC
        specs["python"] = _PYTHON_SPEC
        specs["calculator"] = _CALCULATOR_SPEC
        return specs

    @property
    def names(self) -> list[str]:
        return list(self._specs())

    def specs(self) -> list[dict[str, Any]]:
        """OpenAI function-calling tool specs (fresh copies, safe to mutate)."""
        specs = [json.loads(json.dumps(spec)) for spec in self._specs().values()]
        for spec in specs:
            if spec["function"]["name"] == "search":
                spec["function"]["parameters"]["properties"]["k"]["maximum"] = self.search_max_k
        return specs

    def search(self, query: str, k: int = 5, exclude: set[str] | None = None) -> list[dict[str, Any]]:
        """Direct search for flows (no JSON round trip): ``{doc_id, score, snippet, metadata, text}`` per hit,
        where ``text`` is the whole stored document. Empty without an index."""
        if self.index is None or not query.strip() or k <= 0:
            return []
        hits: list[dict[str, Any]] = []
        for hit in self.index.search(query, k=k, exclude=exclude):
            stored = self.index.get(hit.doc_id)
            hits.append({**hit.model_dump(), "text": stored[0] if stored is not None else hit.snippet})
        return hits

    async def call(self, name: str, arguments: str | Mapping[str, Any] | None) -> str:
        """Run tool ``name``; the result (or ``{"error": ...}``) as compact JSON."""
        specs = self._specs()
        spec = specs.get(name)
        if spec is None:
            return _dumps({"error": f"unknown tool {name!r}; available tools: {', '.join(specs)}"})
        try:
            args = _parse_arguments(arguments)
            _check_arguments(spec, args)
            if name == "search":
                return self._search(args)
            if name == "calculator":
                return self._calculate(args)
            return await self._python(args)
        except _BadArguments as exc:
            return _dumps({"error": str(exc)})
        except Exception as exc:
            return _dumps({"error": f"{name} failed: {type(exc).__name__}: {exc}"})

    def _search(self, args: Mapping[str, Any]) -> str:
        assert self.index is not None
        query: str = args["query"]
        if not query.strip():
            return _dumps({"error": "the query is empty"})
        k: int = args.get("k", 5)
        if not 1 <= k <= self.search_max_k:
            return _dumps({"error": f"k must be between 1 and {self.search_max_k}"})
        hits = self.index.search(query, k=k)
        results: list[dict[str, Any]] = [
            {"id": hit.doc_id, "score": round(hit.score, 4), "snippet": hit.snippet, "metadata": hit.metadata}
            for hit in hits
        ]
        try:
            return _dumps({"results": results})
        except (TypeError, ValueError):
            for result in results:
                result["metadata"] = {key: str(value) for key, value in result["metadata"].items()}
            return _dumps({"results": results})

    def _calculate(self, args: Mapping[str, Any]) -> str:
        try:
            value = evaluate(args["expression"])
        except CalculatorError as exc:
            return _dumps({"error": str(exc)})
        if isinstance(value, float) and not math.isfinite(value):
            return _dumps({"error": "the result is not finite"})
        return _dumps({"result": value})

    async def _python(self, args: Mapping[str, Any]) -> str:
        result = await run_python(
            args["code"],
            stdin=args.get("stdin", ""),
            timeout_s=self.python_timeout_s,
            memory_mb=self.python_memory_mb,
            max_output_bytes=self.python_max_output_bytes,
        )
        payload: dict[str, Any] = {
            "ok": result.ok,
            "exit_code": result.exit_code,
            "stdout": result.stdout,
            "stderr": result.stderr,
        }
        if result.killed_reason is not None:
            payload["killed_reason"] = result.killed_reason
        if result.timed_out:
            payload["timed_out"] = True
        return _dumps(payload)
