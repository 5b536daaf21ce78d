from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from agentinstruct.tools.search import SearchIndex
from agentinstruct.tools.toolbox import Toolbox


def make_index() -> SearchIndex:
    index = SearchIndex()
    index.add("weather", "def get_weather(city):\n    return fetch_forecast(city)\n", {"lang": "python"})
    index.add("recipes", "Bread needs flour, water, yeast and time.", {"lang": "text"})
    return index


def test_specs_follow_function_calling_format() -> None:
    specs = Toolbox(make_index()).specs()
    assert [s["function"]["name"] for s in specs] == ["search", "python", "calculator"]
    for spec in specs:
        assert spec["type"] == "function"
        function = spec["function"]
        assert isinstance(function["description"], str) and function["description"]
        params = function["parameters"]
        assert params["type"] == "object"
        assert set(params["required"]) <= set(params["properties"])
        json.dumps(spec)
    specs[0]["function"]["name"] = "mutated"
    assert Toolbox(make_index()).specs()[0]["function"]["name"] == "search"


def test_search_tool_absent_without_index() -> None:
    toolbox = Toolbox()
    assert [s["function"]["name"] for s in toolbox.specs()] == ["python", "calculator"]
    assert toolbox.search("anything") == []


async def test_search_dispatch() -> None:
    toolbox = Toolbox(make_index())
    out = json.loads(await toolbox.call("search", '{"query": "get weather for a city", "k": 1}'))
    assert [r["id"] for r in out["results"]] == ["weather"]
    assert out["results"][0]["metadata"] == {"lang": "python"}
    assert "get_weather" in out["results"][0]["snippet"]
    direct = toolbox.search("flour yeast", k=1)
    assert direct[0]["doc_id"] == "recipes" and direct[0]["text"].startswith("Bread")
    missing = json.loads(await Toolbox().call("search", {"query": "x"}))
    assert "unknown tool" in missing["error"]


async def test_calculator_dispatch() -> None:
    toolbox = Toolbox()
    assert await toolbox.call("calculator", {"expression": "2 ** 10 + 1"}) == '{"result":1025}'
    assert json.loads(await toolbox.call("calculator", '{"expression": "sqrt(2)"}'))["result"] == pytest.approx(2**0.5)
    error = json.loads(await toolbox.call("calculator", {"expression": "__import__('os')"}))
    assert "not allowed" in error["error"]
    error = json.loads(await toolbox.call("calculator", {"expression": "1/0"}))
    assert "division by zero" in error["error"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox targets Linux")
async def test_python_dispatch() -> None:
    toolbox = Toolbox(python_timeout_s=2.0)
    out = json.loads(await toolbox.call("python", {"code": "print(input()[::-1])", "stdin": "abc"}))
    assert out == {"ok": True, "exit_code": 0, "stdout": "cba\n", "stderr": ""}
    failed = json.loads(await toolbox.call("python", {"code": "raise SystemExit(2)"}))
    assert failed["ok"] is False and failed["exit_code"] == 2
    slow = json.loads(await toolbox.call("python", {"code": "while True: pass"}))
    assert slow["timed_out"] is True and slow["killed_reason"] == "timeout"


@pytest.mark.parametrize(
    ("name", "arguments", "message"),
    [
        ("calculator", "{not json", "not valid JSON"),
        ("calculator", "[1, 2]", "JSON object"),
        ("calculator", "{}", "missing required"),
        ("calculator", {"expression": 5}, "must be a string"),
        ("calculator", {"expression": "1", "extra": True}, "unknown argument"),
        ("search", {"query": "x", "k": "3"}, "must be an integer"),
        ("search", {"query": "x", "k": 0}, "between 1 and"),
        ("search", {"query": "   "}, "empty"),
        ("python", {}, "missing required"),
        ("python", '{"code": 1}', "must be a string"),
        ("shell", {"cmd": "ls"}, "unknown tool"),
    ],
)
async def test_bad_calls_return_errors(name: str, arguments: str | dict[str, object], message: str) -> None:
    raw = await Toolbox(make_index()).call(name, arguments)
    payload = json.loads(raw)
    assert set(payload) == {"error"}
    assert message in payload["error"]
    assert " " not in raw.split('"error"', 1)[0]


def test_corpus_search_index_is_a_bounded_uniform_sample(tmp_path: Path) -> None:
    from agentinstruct.embedded import RunOptions, build_search_index

    docs = tmp_path / "docs.jsonl"
    docs.write_text(
        "".join(
            json.dumps({"id": f"d{i}", "text": f"document number {i} about topic {i % 7}"}) + "\n" for i in range(200)
        )
    )
    options = RunOptions(paths=[str(docs)], out=tmp_path / "out.jsonl", search_index_max_seeds=25)
    first = build_search_index(options)
    second = build_search_index(options)
    assert isinstance(first, Toolbox) and isinstance(second, Toolbox)
    assert first.index is not None and second.index is not None
    assert len(first.index) == 25
    assert first.index.doc_ids() == second.index.doc_ids(), "the same input gives the same sample"
    # a sample, not the first 25: later documents are represented
    texts = [first.index.get(doc_id)[0] for doc_id in first.index.doc_ids()]  # type: ignore[index]
    assert any(int(text.split()[2]) >= 100 for text in texts)
    everything = build_search_index(RunOptions(paths=[str(docs)], out=tmp_path / "out.jsonl"))
    assert isinstance(everything, Toolbox) and everything.index is not None
    assert len(everything.index) == 200
