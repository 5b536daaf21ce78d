"""A small in-memory BM25 search index for prose and source code, plus code-unit extraction.

The tool-use flow (method doc §2.3, §8.4) expands an API list by "searching for similar code":
source files are split into function-level units with `extract_code_units`, the units are added to a
`SearchIndex`, and an API description (or a code snippet) is used as the query.

Ranking is Okapi BM25 (k1=1.5, b=0.75 by default) with the non-negative idf
``log(1 + (N - df + 0.5) / (df + 0.5))``. Postings are kept per term as compact arrays of
``(document number, term frequency)`` pairs, so a query only touches the postings of its own terms.
"""

from __future__ import annotations

import ast
import functools
import heapq
import itertools
import json
import math
import os
import re
import tempfile
import textwrap
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

INDEX_SAMPLE_SEEDS = 2_000
"""Default bound of the corpus index the embedded run builds for tool_use: a sample of this many seeds."""

__all__ = [
    "STOPWORDS",
    "SearchHit",
    "SearchIndex",
    "extract_code_units",
    "tokenize",
]

STOPWORDS: frozenset[str] = frozenset(
    {
        "a", "an", "and", "are", "as", "at", "be", "been", "but", "by", "can", "do", "does", "for",
        "from", "had", "has", "have", "he", "her", "his", "how", "i", "if", "in", "into", "is", "it",
        "its", "me", "my", "no", "not", "of", "on", "or", "our", "she", "so", "than", "that", "the",
        "their", "them", "then", "there", "these", "they", "this", "those", "to", "too", "us", "was",
        "we", "were", "what", "when", "where", "which", "while", "who", "whom", "why", "will",
        "with", "would", "you", "your",
    }
)  # fmt: skip

_FORMAT = "agentinstruct-search-index"
_FORMAT_VERSION = 1

_WORD_RE = re.compile(r"\w+")
_PART_RE = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+|[^\W\d_A-Za-z]+")


@functools.lru_cache(maxsize=1 << 18)
def _word_terms(word: str) -> tuple[str, ...]:
    """Terms for one ``\\w+`` run: the whole identifier (lowercased) and its snake/camel parts."""
    core = word.strip("_")
    if not core:
        return ()
    whole = core.lower()
    terms: list[str] = []
    if len(whole) > 1 and whole not in STOPWORDS:
        terms.append(whole)
    if core.isalpha() and (core.islower() or core.isupper() or core.istitle()):
        return tuple(terms)
    for piece in core.split("_"):
        for part in _PART_RE.findall(piece):
            low = part.lower()
            if low != whole and len(low) > 1 and low not in STOPWORDS:
                terms.append(low)
    return tuple(terms)


def tokenize(text: str) -> list[str]:
    """Split prose or source code into index terms.

    Words are runs of ``\\w``. Each yields its lowercased whole form and, for identifiers, the
    snake_case and camelCase parts (``parseJSONFile`` -> ``parsejsonfile, parse, json, file``).
    Single characters and a small English stopword list are dropped.
    """
    return list(_iter_terms(text))


def _iter_terms(text: str) -> Iterator[str]:
    return itertools.chain.from_iterable(map(_word_terms, _WORD_RE.findall(text)))


def _term_spans(text: str) -> Iterator[tuple[int, int, tuple[str, ...]]]:
    for match in _WORD_RE.finditer(text):
        terms = _word_terms(match.group())
        if terms:
            yield match.start(), match.end(), terms


class SearchHit(BaseModel):
    model_config = ConfigDict(frozen=True)

    doc_id: str
    score: float
    snippet: str
    metadata: dict[str, Any] = Field(default_factory=dict)


class SearchIndex:
    """In-memory Okapi BM25 index. Adding an existing ``doc_id`` replaces that document."""

    def __init__(self, *, k1: float = 1.5, b: float = 0.75, snippet_chars: int = 300) -> None:
        if k1 < 0 or not 0.0 <= b <= 1.0:
            raise ValueError("k1 must be >= 0 and b within [0, 1]")
        self.k1 = k1
        self.b = b
        self.snippet_chars = max(40, snippet_chars)
        self._ids: list[str | None] = []
        self._texts: list[str] = []
        self._meta: list[dict[str, Any]] = []
        self._lengths = array("I")
        self._index_of: dict[str, int] = {}
        self._postings: dict[str, array[int]] = {}
        self._df: Counter[str] = Counter()
        self._total_length = 0
        self._dead = 0

    def __len__(self) -> int:
        return len(self._index_of)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._index_of

    def doc_ids(self) -> list[str]:
        return sorted(self._index_of)

    def get(self, doc_id: str) -> tuple[str, dict[str, Any]] | None:
        """The stored text and metadata of a document, or None."""
        idx = self._index_of.get(doc_id)
        if idx is None:
            return None
        return self._texts[idx], dict(self._meta[idx])

    def add(self, doc_id: str, text: str, metadata: Mapping[str, Any] | None = None) -> None:
        if not isinstance(doc_id, str) or not doc_id:
            raise ValueError("doc_id must be a non-empty string")
        if doc_id in self._index_of:
            self.remove(doc_id)
        counts = Counter(_iter_terms(text))
        idx = len(self._ids)
        self._ids.append(doc_id)
        self._texts.append(text)
        self._meta.append(dict(metadata) if metadata else {})
        length = sum(counts.values())
        self._lengths.append(length)
        self._total_length += length
        self._index_of[doc_id] = idx
        postings = self._postings
        for term, tf in counts.items():
            plist = postings.get(term)
            if plist is None:
                postings[term] = array("I", (idx, tf))
            else:
                plist.append(idx)
                plist.append(tf)
        self._df.update(counts.keys())

    def extend(self, docs: Iterable[tuple[str, str, Mapping[str, Any] | None]]) -> None:
        for doc_id, text, metadata in docs:
            self.add(doc_id, text, metadata)

    def remove(self, doc_id: str) -> bool:
        idx = self._index_of.pop(doc_id, None)
        if idx is None:
            return False
        for term in set(_iter_terms(self._texts[idx])):
            remaining = self._df.get(term, 0) - 1
            if remaining > 0:
                self._df[term] = remaining
            else:
                self._df.pop(term, None)
                self._postings.pop(term, None)
        self._total_length -= self._lengths[idx]
        self._ids[idx] = None
        self._texts[idx] = ""
        self._meta[idx] = {}
        self._dead += 1
        if self._dead > 1000 and self._dead * 2 > len(self._ids):
            self._compact()
        return True

    def _compact(self) -> None:
        live = [(doc_id, self._texts[i], self._meta[i]) for i, doc_id in enumerate(self._ids) if doc_id is not None]
        fresh = SearchIndex(k1=self.k1, b=self.b, snippet_chars=self.snippet_chars)
        for doc_id, text, meta in live:
            fresh.add(doc_id, text, meta)
        self.__dict__.update(fresh.__dict__)

    def _idf(self, term: str) -> float:
        n = len(self._index_of)
        df = self._df.get(term, 0)
        return math.log(1.0 + (n - df + 0.5) / (df + 0.5))

    def search(self, query: str, k: int = 5, exclude: set[str] | None = None) -> list[SearchHit]:
        """Top ``k`` documents for ``query``: score descending, then ``doc_id`` ascending."""
        if k <= 0 or not self._index_of:
            return []
        terms = sorted({t for t in tokenize(query) if t in self._postings})
        if not terms:
            return []
        ids = self._ids
        excluded = {self._index_of[d] for d in exclude or () if d in self._index_of}
        lengths = self._lengths
        avgdl = self._total_length / len(self._index_of) or 1.0
        k1 = self.k1
        c1 = k1 * (1.0 - self.b)
        c2 = k1 * self.b / avgdl
        scores: dict[int, float] = {}
        idfs: dict[str, float] = {}
        for term in terms:
            idf = idfs[term] = self._idf(term)
            weight = idf * (k1 + 1.0)
            plist = self._postings[term]
            get = scores.get
            for pos in range(0, len(plist), 2):
                doc = plist[pos]
                if ids[doc] is None or doc in excluded:
                    continue
                tf = plist[pos + 1]
                scores[doc] = get(doc, 0.0) + weight * tf / (tf + c1 + c2 * lengths[doc])
        best = heapq.nsmallest(k, scores.items(), key=lambda item: (-item[1], ids[item[0]] or ""))
        hits: list[SearchHit] = []
        for doc, score in best:
            doc_id = ids[doc]
            assert doc_id is not None
            hits.append(
                SearchHit(
                    doc_id=doc_id,
                    score=score,
                    snippet=self._snippet(self._texts[doc], idfs),
                    metadata=dict(self._meta[doc]),
                )
            )
        return hits

    def _snippet(self, text: str, weights: Mapping[str, float]) -> str:
        width = self.snippet_chars
        if len(text) <= width:
            return text.strip()
        matches: list[tuple[int, int, str, float]] = []
        for start, end, terms in _term_spans(text):
            best_term = max((t for t in terms if t in weights), key=lambda t: weights[t], default=None)
            if best_term is not None:
                matches.append((start, end, best_term, weights[best_term]))
        if not matches:
            return _trim(text, 0, width)
        # Sliding window over match positions: maximise the summed weight of distinct terms.
        counts: dict[str, int] = {}
        value = 0.0
        best_value = -1.0
        best_lo, best_hi = 0, 0
        lo = 0
        for hi, (_, end, term, weight) in enumerate(matches):
            if counts.get(term, 0) == 0:
                value += weight
            counts[term] = counts.get(term, 0) + 1
            while end - matches[lo][0] > width:
                old = matches[lo][2]
                counts[old] -= 1
                if counts[old] == 0:
                    value -= matches[lo][3]
                lo += 1
            if value > best_value + 1e-12:
                best_value, best_lo, best_hi = value, lo, hi
        first, last = matches[best_lo][0], matches[best_hi][1]
        slack = max(0, width - (last - first))
        start = max(0, first - slack // 3)
        end = min(len(text), start + width)
        start = max(0, min(start, end - width))
        return _trim(text, start, end)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the index as JSON lines: a header line, then one ``{id, text, metadata}`` per doc."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                header = {
                    "format": _FORMAT,
                    "version": _FORMAT_VERSION,
                    "k1": self.k1,
                    "b": self.b,
                    "snippet_chars": self.snippet_chars,
                    "count": len(self._index_of),
                }
                fh.write(json.dumps(header) + "\n")
                for idx, doc_id in enumerate(self._ids):
                    if doc_id is None:
                        continue
                    row = {"id": doc_id, "text": self._texts[idx], "metadata": self._meta[idx]}
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            os.replace(tmp_name, target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SearchIndex:
        with Path(path).open(encoding="utf-8") as fh:
            first = fh.readline()
            if not first:
                raise ValueError(f"{path}: empty file, not a search index")
            header = json.loads(first)
            if not isinstance(header, dict) or header.get("format") != _FORMAT:
                raise ValueError(f"{path}: not a {_FORMAT} file")
            if header.get("version") != _FORMAT_VERSION:
                raise ValueError(f"{path}: unsupported index version {header.get('version')!r}")
            index = cls(
                k1=float(header.get("k1", 1.5)),
                b=float(header.get("b", 0.75)),
                snippet_chars=int(header.get("snippet_chars", 300)),
            )
            for line_no, line in enumerate(fh, start=2):
                if not line.strip():
                    continue
                row = json.loads(line)
                if not isinstance(row, dict) or not isinstance(row.get("id"), str):
                    raise ValueError(f"{path}:{line_no}: malformed document row")
                meta = row.get("metadata")
                index.add(row["id"], str(row.get("text", "")), meta if isinstance(meta, dict) else None)
        return index


def _trim(text: str, start: int, end: int) -> str:
    """``text[start:end]`` widened or narrowed to whitespace boundaries, with ellipses at cuts."""
    if start > 0:
        cut = text.find(" ", start, min(end, start + 30))
        nl = text.find("\n", start, min(end, start + 30))
        boundary = min((c for c in (cut, nl) if c != -1), default=-1)
        if boundary != -1:
            start = boundary + 1
    if end < len(text):
        cut = max(text.rfind(" ", max(start, end - 30), end), text.rfind("\n", max(start, end - 30), end))
        if cut > start:
            end = cut
    body = text[start:end].strip()
    prefix = "..." if start > 0 else ""
    suffix = "..." if end < len(text) else ""
    return f"{prefix}{body}{suffix}"


# --------------------------------------------------------------------------------------------------
# Code units
# --------------------------------------------------------------------------------------------------

WHOLE_FILE = "<file>"

_PYTHON = {"python", "py", "python3", "pyi"}
_JS = {"javascript", "js", "jsx", "mjs", "cjs", "typescript", "ts", "tsx"}
_GO = {"go", "golang"}
_RUST = {"rust", "rs"}
_C_LIKE = {
    "java", "c", "h", "cpp", "c++", "cc", "cxx", "hpp", "hh", "csharp", "c#", "cs", "objc",
    "objective-c", "scala", "kotlin", "kt", "swift", "php", "dart", "groovy",
}  # fmt: skip

_KEYWORDS = frozenset(
    {
        "if", "else", "for", "while", "switch", "catch", "return", "new", "sizeof", "do", "try",
        "throw", "case", "await", "yield", "typeof", "delete", "in", "of", "using", "lock", "synchronized",
        "foreach", "elif", "with", "function", "fn", "func", "defer", "go", "select", "assert", "super",
        "this", "match", "when", "guard", "where", "until", "unless", "static_assert", "decltype",
        "alignof", "not", "and", "or",
    }
)  # fmt: skip

_JS_FUNCTION_RE = re.compile(
    r"^[ \t]*(?:export[ \t]+)?(?:default[ \t]+)?(?:async[ \t]+)?function\b[ \t]*\*?[ \t]*(?P<name>[\w$]+)",
    re.M,
)
_JS_BINDING_RE = re.compile(
    r"^[ \t]*(?:export[ \t]+)?(?:const|let|var)[ \t]+(?P<name>[\w$]+)[ \t]*(?::[^=\n]{1,200})?="
    r"[ \t]*(?:async[ \t]+)?(?P<rest>function\b|\(|[\w$]+[ \t]*=>)",
    re.M,
)
_GO_FUNC_RE = re.compile(r"^func[ \t]*(?:\((?P<recv>[^)\n]*)\)[ \t]*)?(?P<name>\w+)", re.M)
_RUST_FN_RE = re.compile(
    r"^[ \t]*(?:pub(?:\([^)\n]*\))?[ \t]+)?(?:(?:const|async|unsafe)[ \t]+)*(?:extern[ \t]+\"[^\"\n]*\"[ \t]+)?"
    r"fn[ \t]+(?P<name>\w+)",
    re.M,
)
_C_LIKE_RE = re.compile(r"^[ \t]*(?P<prefix>[^\n;{}()=#\"'/]{0,200}?)\b(?P<name>[A-Za-z_~$][\w~$]*+)[ \t]*\(", re.M)


def extract_code_units(text: str, language: str | None = None) -> list[tuple[str, str]]:
    """Split a source file into ``(name, code)`` units.

    Python is parsed with ``ast``: top-level functions, classes (whole source) and their methods
    (``Class.method``). Other languages use a heuristic for function-like definitions: JS/TS
    ``function f(`` and ``const f = (...) =>``, Go ``func``, Rust ``fn``, and Java/C-like
    ``type name(...) {``. If nothing is found the whole file is returned as one unit named
    ``"<file>"`` (an empty or blank file gives no units).
    """
    if not text.strip():
        return []
    lang = (language or "").strip().lower().lstrip(".")
    units: list[tuple[str, str]] | None = None
    if lang in _PYTHON:
        units = _python_units(text)
        if units is None:
            units = _regex_units(text, [(_PY_DEF_RE, "python")])
    elif lang in _JS:
        units = _regex_units(text, [(_JS_FUNCTION_RE, "js"), (_JS_BINDING_RE, "js-binding"), (_C_LIKE_RE, "js-method")])
    elif lang in _GO:
        units = _regex_units(text, [(_GO_FUNC_RE, "go")])
    elif lang in _RUST:
        units = _regex_units(text, [(_RUST_FN_RE, "rust")])
    elif lang in _C_LIKE:
        units = _regex_units(text, [(_C_LIKE_RE, "c")])
    else:
        units = _python_units(text) if not lang else None
        if not units:
            units = _regex_units(
                text,
                [
                    (_GO_FUNC_RE, "go"),
                    (_RUST_FN_RE, "rust"),
                    (_JS_FUNCTION_RE, "js"),
                    (_JS_BINDING_RE, "js-binding"),
                    (_C_LIKE_RE, "c"),
                ],
            )
    return units or [(WHOLE_FILE, text)]


def _python_units(text: str) -> list[tuple[str, str]] | None:
    """Units from Python source, or None when it does not parse."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    lines = text.splitlines(keepends=True)

    def source(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> str:
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        last = node.end_lineno or node.lineno
        return _dedent("".join(lines[first - 1 : last]))

    units: list[tuple[str, str]] = []

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                units.append((prefix + node.name, source(node)))
            elif isinstance(node, ast.ClassDef):
                units.append((prefix + node.name, source(node)))
                visit(node.body, f"{prefix}{node.name}.")
            elif isinstance(node, ast.If | ast.Try) and not prefix:
                # Definitions guarded by `if TYPE_CHECKING:` / `try: ... except ImportError:`.
                visit(node.body, prefix)
                visit(node.orelse, prefix)
                if isinstance(node, ast.Try):
                    for handler in node.handlers:
                        visit(handler.body, prefix)

    visit(tree.body, "")
    return units


def _dedent(code: str) -> str:
    return textwrap.dedent(code).rstrip() + "\n"


_PY_DEF_RE = re.compile(r"^(?P<indent>[ \t]*)(?:async[ \t]+)?def[ \t]+(?P<name>\w+)[ \t]*\(", re.M)


def _regex_units(text: str, patterns: list[tuple[re.Pattern[str], str]]) -> list[tuple[str, str]]:
    found: list[tuple[int, int, str]] = []
    for pattern, kind in patterns:
        for match in pattern.finditer(text):
            span = _unit_span(text, match, kind)
            if span is not None:
                found.append((span[0], span[1], span[2]))
    found.sort(key=lambda item: (item[0], -item[1]))
    units: list[tuple[str, str]] = []
    covered_until = -1
    for start, end, name in found:
        if start < covered_until:
            continue
        units.append((name, _dedent(text[start:end])))
        covered_until = end
    return units


def _unit_span(text: str, match: re.Match[str], kind: str) -> tuple[int, int, str] | None:
    name = match.group("name")
    start = match.start()
    if kind == "python":
        return _python_block_span(text, match)
    quotes = '"`' if kind == "rust" else "\"'`"
    if kind in ("c", "js-method"):
        prefix = match.group("prefix").strip()
        if name in _KEYWORDS or name.isdigit():
            return None
        if kind == "c":
            words = prefix.split()
            if not words or words[-1] in _KEYWORDS or words[0] in ("return", "else", "new", "throw"):
                return None
        elif prefix and not re.fullmatch(
            r"(?:(?:static|async|get|set|public|private|protected|readonly|override)\s+)*\*?", prefix + " "
        ):
            return None
        paren = match.end() - 1
    elif kind == "js-binding":
        rest = match.group("rest")
        if rest.startswith("function"):
            paren = text.find("(", match.end("rest"))
            if paren == -1:
                return None
        elif rest == "(":
            paren = match.start("rest")
            close = _match_bracket(text, paren, quotes)
            if close is None:
                return None
            arrow = re.compile(r"[ \t]*(?::[^=\n{;]{1,200})?[ \t]*=>").match(text, close + 1)
            if arrow is None:
                return None
            return _arrow_body_span(text, start, arrow.end(), name, quotes)
        else:
            return _arrow_body_span(text, start, match.end("rest"), name, quotes)
    else:
        paren_match = re.compile(r"[ \t]*(?:<[^>\n]{0,200}>|\[[^\]\n]{0,200}\])?[ \t]*\(").match(text, match.end())
        if paren_match is None:
            return None
        paren = paren_match.end() - 1
    close = _match_bracket(text, paren, quotes)
    if close is None:
        return None
    brace = _find_body_brace(text, close + 1, quotes)
    if brace is None:
        return None
    end = _match_bracket(text, brace, quotes)
    if end is None:
        return None
    if kind == "go" and match.group("recv"):
        recv_type = match.group("recv").split()[-1].lstrip("*")
        recv_type = recv_type.split("[", 1)[0]
        if recv_type:
            name = f"{recv_type}.{name}"
    line_start = text.rfind("\n", 0, start) + 1
    return line_start, end + 1, name


def _python_block_span(text: str, match: re.Match[str]) -> tuple[int, int, str] | None:
    indent = len(match.group("indent").expandtabs())
    start = match.start()
    lines_end = start
    pos = text.find("\n", match.end())
    if pos == -1:
        return start, len(text), match.group("name")
    lines_end = pos
    for line_match in re.finditer(r"[^\n]*(?:\n|$)", text[pos + 1 :]):
        line = line_match.group()
        if not line:
            break
        stripped = line.strip()
        if stripped and len(line) - len(line.lstrip(" \t")) <= indent and not stripped.startswith(("#", ")")):
            break
        lines_end = pos + 1 + line_match.end()
    return start, lines_end, match.group("name")


def _skip_literal(text: str, pos: int, quotes: str) -> int:
    """If a comment or string starts at ``pos``, the index just past it; otherwise ``pos``."""
    ch = text[pos]
    nxt = text[pos + 1] if pos + 1 < len(text) else ""
    if ch == "/" and nxt == "/":
        end = text.find("\n", pos)
        return len(text) if end == -1 else end
    if ch == "/" and nxt == "*":
        end = text.find("*/", pos + 2)
        return len(text) if end == -1 else end + 2
    if ch in quotes:
        i = pos + 1
        while i < len(text):
            c = text[i]
            if c == "\\":
                i += 2
                continue
            if c == ch:
                return i + 1
            if c == "\n" and ch != "`":
                return pos + 1
            i += 1
        return pos + 1
    return pos


_PAIRS = {"(": ")", "{": "}", "[": "]"}


def _match_bracket(text: str, open_pos: int, quotes: str, limit: int = 2_000_000) -> int | None:
    """Index of the bracket closing the one at ``open_pos`` (strings and comments skipped)."""
    stack = [_PAIRS[text[open_pos]]]
    i = open_pos + 1
    end = min(len(text), open_pos + limit)
    while i < end:
        skipped = _skip_literal(text, i, quotes)
        if skipped != i:
            i = skipped
            continue
        c = text[i]
        if c in _PAIRS:
            stack.append(_PAIRS[c])
        elif c in ")}]":
            if c != stack[-1]:
                return None
            stack.pop()
            if not stack:
                return i
        i += 1
    return None


def _find_body_brace(text: str, pos: int, quotes: str) -> int | None:
    """The ``{`` opening a body after a signature's parameter list, or None if this is no definition.

    Between ``)`` and ``{`` only return types, qualifiers and ``throws``/``where`` clauses are allowed:
    a ``;``, ``=`` (other than in ``=>``/``->``-free positions) or a closing brace means it is not one.
    """
    i = pos
    end = min(len(text), pos + 300)
    depth = 0
    while i < end:
        skipped = _skip_literal(text, i, quotes)
        if skipped != i:
            i = skipped
            continue
        c = text[i]
        if c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
            if depth < 0:
                return None
        elif depth == 0:
            if c == "{":
                return i
            if c in ";}" or (c == "=" and text[i + 1 : i + 2] != ">"):
                return None
        i += 1
    return None


def _arrow_body_span(text: str, start: int, body_pos: int, name: str, quotes: str) -> tuple[int, int, str] | None:
    i = body_pos
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    if i >= len(text):
        return None
    if text[i] == "{":
        end = _match_bracket(text, i, quotes)
        if end is None:
            return None
        stop = end + 1
        if text[stop : stop + 1] == ";":
            stop += 1
        return start, stop, name
    # Expression body: up to the first `;` or newline outside brackets.
    depth = 0
    while i < len(text):
        skipped = _skip_literal(text, i, quotes)
        if skipped != i:
            i = skipped
            continue
        c = text[i]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth < 0:
                break
        elif depth == 0 and c in ";\n":
            if c == ";":
                i += 1
            break
        i += 1
    return start, i, name
