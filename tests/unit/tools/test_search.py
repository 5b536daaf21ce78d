from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from agentinstruct.tools.search import SearchIndex, extract_code_units, tokenize

PROSE = {
    "volcano": "Volcanoes erupt when magma rises through the crust. Lava flows and ash clouds follow an eruption.",
    "ocean": "The ocean covers most of the planet. Tides are driven by the moon and the sun.",
    "bread": "Bread is baked from flour, water and yeast. The dough must rise before baking.",
    "lava": "Lava lakes are rare. Magma that reaches the surface is called lava.",
}

CODE = {
    "json_loader": "def load_json_file(path):\n    with open(path) as fh:\n        return json.load(fh)\n",
    "user_fetch": "async function fetchUserProfile(userId) {\n  return api.get(`/users/${userId}`);\n}\n",
    "http_server": "class HTTPServer:\n    def serve_forever(self):\n        while True:\n            self.handle()\n",
    "sum_list": "def sum_numbers(values):\n    total = 0\n    for v in values:\n        total += v\n    return total\n",
}


def make_index() -> SearchIndex:
    index = SearchIndex()
    for doc_id, text in {**PROSE, **CODE}.items():
        index.add(doc_id, text, {"kind": "code" if doc_id in CODE else "prose"})
    return index


def test_tokenize_splits_identifiers_and_drops_stopwords() -> None:
    terms = tokenize("The parseJSONFile(file_path) of an HTTPServer __init__")
    assert "the" not in terms and "of" not in terms and "an" not in terms
    for expected in ("parsejsonfile", "parse", "json", "file", "file_path", "path", "httpserver", "http", "server"):
        assert expected in terms
    assert "init" in terms
    assert tokenize("a b c") == []


def test_relevant_prose_document_ranks_first() -> None:
    index = make_index()
    hits = index.search("magma eruption lava", k=3)
    assert hits[0].doc_id in {"volcano", "lava"}
    assert {h.doc_id for h in hits[:2]} == {"volcano", "lava"}
    assert all(a.score >= b.score for a, b in itertools.pairwise(hits))
    assert index.search("tides moon", k=1)[0].doc_id == "ocean"


def test_identifier_queries_find_the_right_function() -> None:
    index = make_index()
    assert index.search("load_json_file", k=1)[0].doc_id == "json_loader"
    assert index.search("fetch user profile", k=1)[0].doc_id == "user_fetch"
    assert index.search("fetchUserProfile", k=1)[0].doc_id == "user_fetch"
    assert index.search("http server serve forever", k=1)[0].doc_id == "http_server"
    assert index.search("sum numbers total", k=1)[0].doc_id == "sum_list"
    hit = index.search("json", k=1)[0]
    assert hit.metadata == {"kind": "code"}
    assert "load_json_file" in hit.snippet


def test_exclude_k_and_unknown_terms() -> None:
    index = make_index()
    hits = index.search("lava", k=5, exclude={"lava"})
    assert [h.doc_id for h in hits] == ["volcano"]
    assert index.search("zzzz qqqq") == []
    assert index.search("lava", k=0) == []
    assert len(index.search("the lava magma ocean bread", k=2)) == 2


def test_deterministic_tie_breaking() -> None:
    index = SearchIndex()
    for doc_id in ("c", "a", "b"):
        index.add(doc_id, "identical text about gardens")
    hits = index.search("gardens", k=3)
    assert [h.doc_id for h in hits] == ["a", "b", "c"]
    assert len({h.score for h in hits}) == 1


def test_replace_and_remove() -> None:
    index = make_index()
    index.add("bread", "Completely different: quantum chromodynamics")
    assert index.search("quantum", k=1)[0].doc_id == "bread"
    assert all(h.doc_id != "bread" for h in index.search("flour yeast dough"))
    assert index.remove("bread") and not index.remove("bread")
    assert "bread" not in index and len(index) == len(PROSE) + len(CODE) - 1
    assert index.search("quantum") == []


def test_snippet_is_best_window_of_long_document() -> None:
    filler = "Nothing to see in this sentence at all. " * 40
    text = filler + "The rare aurora borealis glows green over the arctic sky. " + filler
    index = SearchIndex()
    index.add("long", text)
    snippet = index.search("aurora borealis arctic", k=1)[0].snippet
    assert "aurora borealis" in snippet
    assert len(snippet) <= 310
    assert snippet.startswith("...") and snippet.endswith("...")


def test_save_load_roundtrip(tmp_path: Path) -> None:
    index = make_index()
    path = tmp_path / "sub" / "index.jsonl"
    index.save(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0])["format"] == "agentinstruct-search-index"
    assert len(lines) == 1 + len(index)
    loaded = SearchIndex.load(path)
    assert len(loaded) == len(index)
    for query in ("magma lava", "load_json_file", "fetch user"):
        assert loaded.search(query) == index.search(query)
    assert loaded.get("bread") == index.get("bread")


def test_load_rejects_foreign_files(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"hello": 1}\n', encoding="utf-8")
    with pytest.raises(ValueError):
        SearchIndex.load(path)


def test_many_documents_query_only_touches_postings() -> None:
    index = SearchIndex()
    for i in range(5000):
        index.add(f"doc{i:05d}", f"common words here item{i} value{i % 50}")
    index.add("needle", "a unique needle_in_haystack identifier")
    hits = index.search("needle in haystack", k=3)
    assert hits[0].doc_id == "needle"
    assert len(index.search("common", k=10)) == 10


PYTHON_SOURCE = '''
import os


@cache
def top_level(a, b):
    """Add."""
    return a + b


class Greeter:
    greeting = "hi"

    def greet(self, name):
        def inner():
            return name
        return f"{self.greeting} {inner()}"

    async def close(self):
        pass
'''

JS_SOURCE = """
import x from "y";

export function add(a, b) {
  return a + b; // a } in a comment
}

const double = (n) => n * 2;

export const fetchUser = async (id) => {
  const brace = "{";
  return api.get(`/users/${id}`);
};

class Widget {
  render() {
    if (this.el) { draw(); }
  }
}

const notAFunction = (1 + 2) * 3;
"""

GO_SOURCE = """package main

import "fmt"

func Add(a, b int) int {
\treturn a + b
}

func (s *Server) Handle(name string) (int, error) {
\tif name == "" {
\t\treturn 0, fmt.Errorf("}")
\t}
\treturn 1, nil
}
"""

JAVA_SOURCE = """
public class Calc {
    private int total;

    public int add(int x) throws IllegalStateException {
        if (x < 0) { throw new IllegalStateException("negative"); }
        total += x;
        return total;
    }

    abstract void declaredOnly();
}
"""


def test_extract_python_units() -> None:
    units = dict(extract_code_units(PYTHON_SOURCE, "python"))
    assert list(units) == ["top_level", "Greeter", "Greeter.greet", "Greeter.close"]
    assert units["top_level"].startswith("@cache\ndef top_level(a, b):")
    assert "def inner" in units["Greeter.greet"]
    assert units["Greeter.greet"].startswith("def greet(self, name):")
    assert "greeting = " in units["Greeter"]


def test_extract_js_units() -> None:
    units = dict(extract_code_units(JS_SOURCE, "javascript"))
    assert set(units) == {"add", "double", "fetchUser", "render"}
    assert units["add"].rstrip().endswith("}")
    assert "return a + b" in units["add"]
    assert units["double"].strip() == "const double = (n) => n * 2;"
    assert "api.get" in units["fetchUser"]


def test_extract_go_units() -> None:
    units = dict(extract_code_units(GO_SOURCE, "go"))
    assert set(units) == {"Add", "Server.Handle"}
    assert units["Server.Handle"].rstrip().endswith("}")
    assert "return 1, nil" in units["Server.Handle"]


def test_extract_java_units_and_fallbacks() -> None:
    units = dict(extract_code_units(JAVA_SOURCE, "java"))
    assert list(units) == ["add"]
    assert "return total;" in units["add"]
    assert extract_code_units("just a paragraph of prose", "markdown") == [("<file>", "just a paragraph of prose")]
    assert extract_code_units("   \n", "python") == []
    # Unparseable Python falls back to the def heuristic.
    broken = dict(extract_code_units("def broken(:\n    pass\n\ndef fine():\n    return 1\n", "python"))
    assert "fine" in broken and "return 1" in broken["fine"]
    # Unknown language: Python is tried first, then the brace heuristics.
    assert [name for name, _ in extract_code_units(GO_SOURCE, None)] == ["Add", "Server.Handle"]
    assert extract_code_units(PYTHON_SOURCE, None)[0][0] == "top_level"


def test_code_units_are_searchable() -> None:
    index = SearchIndex()
    for source, lang in ((PYTHON_SOURCE, "python"), (JS_SOURCE, "js"), (GO_SOURCE, "go")):
        for name, code in extract_code_units(source, lang):
            index.add(f"{lang}:{name}", code)
    assert index.search("greet name", k=1)[0].doc_id == "python:Greeter.greet"
    assert index.search("fetch user by id", k=1)[0].doc_id == "js:fetchUser"
    assert index.search("Handle server", k=1)[0].doc_id == "go:Server.Handle"
