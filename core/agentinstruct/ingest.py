"""Document ingestion: files, folders, JSONL and stdin in, `Seed` messages out.

Three steps, usable separately:

* `iter_documents(paths)` walks the inputs and yields a `Document` per readable text document and a
  `Skipped` (with a reason) per input it cannot use. Bad input never raises.
* `chunk_document(doc)` splits a document into `Seed`s of at most `max_chars` characters at natural
  boundaries, with provenance (`SeedSource`) and deterministic ids.
* `ingest(paths)` does both; `IngestStats.observe(event)` keeps counts.

Offsets: `SeedSource.char_start/char_end` index `Document.text`, which is the file decoded as UTF-8 (a
leading byte order mark removed, line endings kept as they are) or a JSONL line's `text` field, so
`doc.text[char_start:char_end] == seed.text` always holds.

Ids: a user-given id (JSONL `id`) is the seed id of a single-chunk document and the parent of its chunks'
ids (`derive_id(id, "chunk", "1", i)`); otherwise a seed's id is `content_id` of its text. Re-ingesting the
same documents yields the same ids.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import chain
from pathlib import Path
from typing import BinaryIO, Final, Literal

from agentinstruct_schemas.ids import content_id, derive_id
from agentinstruct_schemas.messages import JSONScalar, Seed, SeedSource

__all__ = [
    "CHUNK_PROMPT_VERSION",
    "DEFAULT_MAX_CHARS",
    "DEFAULT_MAX_FILE_BYTES",
    "DEFAULT_OVERLAP_CHARS",
    "STDIN_URI",
    "Document",
    "DocumentKind",
    "IngestStats",
    "SkipKind",
    "Skipped",
    "chunk_document",
    "classify_path",
    "ingest",
    "iter_documents",
]

DocumentKind = Literal["text", "markdown", "code"]

DEFAULT_MAX_FILE_BYTES: Final = 20_000_000
DEFAULT_MAX_CHARS: Final = 6000
DEFAULT_OVERLAP_CHARS: Final = 200
STDIN_URI: Final = "<stdin>"
CHUNK_PROMPT_VERSION: Final = "1"
"""The version part of chunk ids (`derive_id(id, "chunk", CHUNK_PROMPT_VERSION, i)`)."""

_SNIFF_BYTES = 8192
_CONTROL_RATIO = 0.10
_READ_BLOCK = 1 << 20


class SkipKind(StrEnum):
    """Why an input was skipped, as a small set of categories (for counting)."""

    UNSUPPORTED = "unsupported"
    EMPTY = "empty"
    BINARY = "binary"
    NOT_UTF8 = "not_utf8"
    TOO_LARGE = "too_large"
    UNREADABLE = "unreadable"
    INVALID_JSONL = "invalid_jsonl"


@dataclass(frozen=True, slots=True)
class Document:
    """A readable text document. `id` is the user-given id (JSONL only); `line` the JSONL line number."""

    uri: str
    text: str
    kind: DocumentKind = "text"
    language: str | None = None
    id: str | None = None
    metadata: dict[str, JSONScalar] = field(default_factory=dict)
    skills: list[str] = field(default_factory=list)
    path: str = ""
    line: int | None = None

    @property
    def document_id(self) -> str:
        """The user-given id, else the content id of the whole text."""
        return self.id if self.id is not None else content_id(self.text)


@dataclass(frozen=True, slots=True)
class Skipped:
    """An input that yields no document: `path` (or `<stdin>`), a readable reason, its category and, for a
    JSONL line, the 1-based line number."""

    path: str
    reason: str
    kind: SkipKind = SkipKind.UNSUPPORTED
    line: int | None = None

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.reason}"


@dataclass(slots=True)
class IngestStats:
    """Counts over ingestion events; feed every event to `observe`."""

    files: int = 0
    documents: int = 0
    seeds: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    _paths: set[str] = field(default_factory=set, init=False, repr=False, compare=False)

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    def observe(self, event: Document | Seed | Skipped) -> None:
        """Count one event from `iter_documents` (documents, skips) or `ingest` (seeds, skips)."""
        if isinstance(event, Skipped):
            self.skipped[event.kind.value] += 1
            self._see(event.path)
        elif isinstance(event, Document):
            self.documents += 1
            self._see(event.path or event.uri)
        else:
            self.seeds += 1
            if event.source.chunk_index == 0:
                self.documents += 1
            self._see(_path_of_uri(event.source.uri))

    def _see(self, path: str) -> None:
        if path not in self._paths:
            self._paths.add(path)
            self.files = len(self._paths)

    def as_dict(self) -> dict[str, object]:
        return {
            "files": self.files,
            "documents": self.documents,
            "seeds": self.seeds,
            "skipped": dict(sorted(self.skipped.items())),
        }


# --------------------------------------------------------------------------------------------------------
# File types

_TEXT_SUFFIXES: Final = frozenset(
    {".txt", ".text", ".rst", ".rest", ".tex", ".org", ".adoc", ".asciidoc", ".csv", ".tsv"}
)
_MARKDOWN_SUFFIXES: Final = frozenset({".md", ".markdown", ".mdown", ".mkd", ".mdx"})
_CODE_SUFFIXES: Final[dict[str, str]] = {
    ".py": "python",
    ".pyi": "python",
    ".pyx": "cython",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".tsx": "typescript",
    ".go": "go",
    ".java": "java",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
    ".hpp": "cpp",
    ".hh": "cpp",
    ".hxx": "cpp",
    ".rs": "rust",
    ".rb": "ruby",
    ".sh": "shell",
    ".bash": "shell",
    ".zsh": "shell",
    ".fish": "fish",
    ".ps1": "powershell",
    ".bat": "batch",
    ".cmd": "batch",
    ".sql": "sql",
    ".kt": "kotlin",
    ".kts": "kotlin",
    ".scala": "scala",
    ".sc": "scala",
    ".php": "php",
    ".cs": "csharp",
    ".fs": "fsharp",
    ".swift": "swift",
    ".m": "objective-c",
    ".mm": "objective-c",
    ".r": "r",
    ".jl": "julia",
    ".lua": "lua",
    ".pl": "perl",
    ".pm": "perl",
    ".hs": "haskell",
    ".ml": "ocaml",
    ".mli": "ocaml",
    ".ex": "elixir",
    ".exs": "elixir",
    ".erl": "erlang",
    ".clj": "clojure",
    ".dart": "dart",
    ".groovy": "groovy",
    ".gradle": "groovy",
    ".zig": "zig",
    ".nim": "nim",
    ".sol": "solidity",
    ".v": "verilog",
    ".vhd": "vhdl",
    ".asm": "assembly",
    ".proto": "protobuf",
    ".graphql": "graphql",
    ".gql": "graphql",
    ".tf": "terraform",
    ".html": "html",
    ".htm": "html",
    ".xml": "xml",
    ".css": "css",
    ".scss": "scss",
    ".less": "less",
    ".vue": "vue",
    ".svelte": "svelte",
    ".json": "json",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".toml": "toml",
    ".ini": "ini",
    ".cfg": "ini",
}
_CODE_FILENAMES: Final[dict[str, str]] = {
    "makefile": "make",
    "gnumakefile": "make",
    "dockerfile": "dockerfile",
    "containerfile": "dockerfile",
    "cmakelists.txt": "cmake",
    "jenkinsfile": "groovy",
    "gemfile": "ruby",
    "rakefile": "ruby",
    "vagrantfile": "ruby",
}
_TEXT_NAME_STEMS: Final = frozenset(
    {
        "license",
        "licence",
        "copying",
        "copyright",
        "notice",
        "patents",
        "authors",
        "contributors",
        "maintainers",
        "readme",
        "changelog",
        "changes",
        "history",
        "news",
        "install",
        "todo",
    }
)
_JUNK_DIRS: Final = frozenset(
    {"node_modules", "__pycache__", "venv", "site-packages", "CVS", "_darcs", "bower_components"}
)


def classify_path(path: str | Path) -> tuple[DocumentKind, str | None] | Literal["jsonl"] | None:
    """The document kind and language a file name stands for, `"jsonl"`, or None when unsupported."""
    p = Path(path)
    name = p.name.lower()
    if name in _CODE_FILENAMES:
        return "code", _CODE_FILENAMES[name]
    suffix = p.suffix.lower()
    if suffix == ".jsonl":
        return "jsonl"
    if suffix in _MARKDOWN_SUFFIXES:
        return "markdown", None
    if suffix in _TEXT_SUFFIXES:
        return "text", None
    if suffix in _CODE_SUFFIXES:
        return "code", _CODE_SUFFIXES[suffix]
    if not suffix or suffix[1:].isdigit():
        # No extension, or a version number as one ("GPL-2.0", "CC0-1.0"): text; binaries are caught on read.
        return "text", None
    stem = re.split(r"[.\-_]", name, maxsplit=1)[0]
    if stem in _TEXT_NAME_STEMS:
        return "text", None
    return None


def _is_junk_dir(name: str) -> bool:
    return name.startswith(".") or name in _JUNK_DIRS or name.endswith(".egg-info")


# --------------------------------------------------------------------------------------------------------
# Reading


def _os_reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _decode(data: bytes) -> tuple[str | None, SkipKind, str]:
    """Decode file bytes; on failure (None, kind, reason)."""
    if not data:
        return None, SkipKind.EMPTY, "empty"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None, SkipKind.NOT_UTF8, "not UTF-8 (UTF-16/UTF-32 byte order mark)"
    head = data[:_SNIFF_BYTES]
    if b"\x00" in head:
        return None, SkipKind.BINARY, "binary"
    controls = sum(1 for b in head if (b < 32 and b not in (8, 9, 10, 12, 13, 27)) or b == 127)
    if controls > _CONTROL_RATIO * len(head):
        return None, SkipKind.BINARY, "binary"
    bom = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    try:
        text = data[bom:].decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, SkipKind.NOT_UTF8, f"not UTF-8 (invalid byte at offset {exc.start + bom})"
    if not text.strip():
        return None, SkipKind.EMPTY, "empty"
    return text, SkipKind.EMPTY, ""


def _too_large(size: int, limit: int) -> str:
    return f"too large ({size} bytes > {limit} byte limit)"


def _read_file(path: Path, uri: str, max_bytes: int) -> Iterator[Document | Skipped]:
    try:
        st = path.stat()
    except OSError as exc:
        if path.is_symlink():
            yield Skipped(uri, f"broken symbolic link ({_os_reason(exc)})", SkipKind.UNREADABLE)
        else:
            yield Skipped(uri, f"cannot read ({_os_reason(exc)})", SkipKind.UNREADABLE)
        return
    if not stat.S_ISREG(st.st_mode):
        yield Skipped(uri, "not a regular file", SkipKind.UNREADABLE)
        return
    cls = classify_path(path)
    if cls is None:
        yield Skipped(uri, f"unsupported file type '{path.suffix.lower()}'", SkipKind.UNSUPPORTED)
        return
    if cls == "jsonl":
        try:
            with path.open("rb") as fh:
                yield from _jsonl_documents(_read_lines(fh, max_bytes), uri, max_bytes)
        except OSError as exc:
            yield Skipped(uri, f"cannot read ({_os_reason(exc)})", SkipKind.UNREADABLE)
        return
    if st.st_size > max_bytes:
        yield Skipped(uri, _too_large(st.st_size, max_bytes), SkipKind.TOO_LARGE)
        return
    try:
        with path.open("rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        yield Skipped(uri, f"cannot read ({_os_reason(exc)})", SkipKind.UNREADABLE)
        return
    if len(data) > max_bytes:
        yield Skipped(uri, _too_large(len(data), max_bytes), SkipKind.TOO_LARGE)
        return
    text, kind, reason = _decode(data)
    if text is None:
        yield Skipped(uri, reason, kind)
        return
    doc_kind, language = cls
    yield Document(uri=uri, text=text, kind=doc_kind, language=language, path=uri)


def _read_lines(stream: BinaryIO, limit: int) -> Iterator[tuple[bytes | None, int]]:
    """Lines of a binary stream as (bytes, size); a line longer than `limit` bytes is (None, its size)
    and is never held in memory whole."""
    while True:
        line = stream.readline(limit + 1)
        if not line:
            return
        if len(line) <= limit:
            yield line, len(line)
            continue
        size = len(line)
        while not line.endswith(b"\n"):
            line = stream.readline(_READ_BLOCK)
            if not line:
                break
            size += len(line)
        yield None, size


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def _jsonl_documents(
    lines: Iterable[tuple[bytes | None, int]], path: str, max_bytes: int
) -> Iterator[Document | Skipped]:
    for number, (raw, size) in enumerate(lines, start=1):
        if raw is None:
            yield Skipped(path, _too_large(size, max_bytes), SkipKind.TOO_LARGE, number)
            continue
        if not raw.strip():
            continue
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            reason = f"not UTF-8 (invalid byte at offset {exc.start} of the line)"
            yield Skipped(path, reason, SkipKind.NOT_UTF8, number)
            continue
        yield _jsonl_document(line, path, number)


def _jsonl_document(line: str, path: str, number: int) -> Document | Skipped:
    def bad(reason: str) -> Skipped:
        return Skipped(path, reason, SkipKind.INVALID_JSONL, number)

    try:
        obj = json.loads(line, parse_constant=_reject_constant)
    except (json.JSONDecodeError, ValueError, RecursionError) as exc:
        return bad(f"invalid JSON ({exc})")
    if not isinstance(obj, dict):
        return bad(f"expected a JSON object, got {type(obj).__name__}")
    text = obj.get("text")
    if text is None:
        return bad("missing required field 'text'")
    if not isinstance(text, str):
        return bad("field 'text' must be a string")
    if not text.strip():
        return Skipped(path, "empty", SkipKind.EMPTY, number)
    doc_id = obj.get("id")
    if doc_id is not None:
        if isinstance(doc_id, bool) or not isinstance(doc_id, str | int):
            return bad("field 'id' must be a string or an integer")
        doc_id = str(doc_id).strip()
        if not doc_id:
            return bad("field 'id' must not be empty")
    metadata = obj.get("metadata")
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        return bad("field 'metadata' must be an object")
    for key, value in metadata.items():
        if value is not None and not isinstance(value, str | int | float | bool):
            return bad(f"metadata field '{key}' must be a string, number, boolean or null")
        if isinstance(value, float) and not math.isfinite(value):
            return bad(f"metadata field '{key}' must be a finite number")
    skills = obj.get("skills")
    if skills is None:
        skills = []
    if not isinstance(skills, list) or not all(isinstance(s, str) for s in skills):
        return bad("field 'skills' must be a list of strings")
    return Document(
        uri=f"{path}#L{number}",
        text=text,
        kind="text",
        id=doc_id,
        metadata=dict(metadata),
        skills=list(skills),
        path=path,
        line=number,
    )


def _looks_like_json_object(line: bytes | None) -> bool:
    if line is None:
        return False
    stripped = line.strip()
    if not stripped.startswith(b"{"):
        return False
    try:
        return isinstance(json.loads(stripped), dict)
    except ValueError:
        return False


def _stdin_documents(stream: BinaryIO, max_bytes: int) -> Iterator[Document | Skipped]:
    """stdin: JSONL when its first non-blank line is a JSON object, otherwise one text document."""
    lines = _read_lines(stream, max_bytes)
    head: list[tuple[bytes | None, int]] = []
    first: bytes | None = None
    for item in lines:
        head.append(item)
        if item[0] is None or item[0].strip():
            first = item[0]
            break
    if _looks_like_json_object(first):
        yield from _jsonl_documents(chain(head, lines), STDIN_URI, max_bytes)
        return
    size = sum(n for _, n in head)
    parts = [raw for raw, _ in head if raw is not None]
    if size <= max_bytes:
        rest = stream.read(max_bytes + 1 - size)
        parts.append(rest)
        size += len(rest)
    if size > max_bytes:
        while block := stream.read(_READ_BLOCK):
            size += len(block)
        yield Skipped(STDIN_URI, _too_large(size, max_bytes), SkipKind.TOO_LARGE)
        return
    text, kind, reason = _decode(b"".join(parts))
    if text is None:
        yield Skipped(STDIN_URI, reason, kind)
        return
    yield Document(uri=STDIN_URI, text=text, kind="text", path=STDIN_URI)


def _walk(root: Path, visited: set[str]) -> Iterator[Path | Skipped]:
    """Files under `root`, depth first, entries in name order; hidden and junk entries left out."""
    try:
        real = os.path.realpath(root)
        if real in visited:
            return
        visited.add(real)
        with os.scandir(root) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        yield Skipped(root.as_posix(), f"cannot read directory ({_os_reason(exc)})", SkipKind.UNREADABLE)
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = root / entry.name
        try:
            is_dir = entry.is_dir()
        except OSError:
            is_dir = False
        if is_dir:
            if not _is_junk_dir(entry.name):
                yield from _walk(path, visited)
        else:
            yield path


def iter_documents(
    paths: Sequence[str | Path],
    *,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    stdin: BinaryIO | None = None,
) -> Iterator[Document | Skipped]:
    """Documents from files, folders (recursively), `.jsonl` files and `-` (stdin), in a stable order.

    Folders are walked depth first with entries sorted by name; hidden entries and junk folders
    (`node_modules`, `__pycache__`, `venv`, `*.egg-info`, ...) are left out silently. A path given
    explicitly is read even if hidden. `.jsonl` files (and stdin whose first non-blank line is a JSON
    object) hold one document per line: `text` (required), `id`, `metadata` (string/number/boolean/null
    values), `skills` (list of strings); other fields are ignored. For JSONL, `max_file_bytes` limits each
    line, not the file. Every input that yields no document yields a `Skipped`.
    """
    if max_file_bytes < 1:
        raise ValueError("max_file_bytes must be positive")
    visited: set[str] = set()
    for given in paths:
        if str(given) == "-":
            stream = stdin if stdin is not None else sys.stdin.buffer
            yield from _stdin_documents(stream, max_file_bytes)
            continue
        path = Path(given)
        uri = path.as_posix()
        if path.is_dir():
            for item in _walk(path, visited):
                if isinstance(item, Skipped):
                    yield item
                else:
                    yield from _read_file(item, item.as_posix(), max_file_bytes)
        else:
            yield from _read_file(path, uri, max_file_bytes)


# --------------------------------------------------------------------------------------------------------
# Chunking

_HSPACE = r"[^\S\n]"
_DEFINITION = re.compile(rf"\n(?:{_HSPACE}*\n)+(?=\S)")
_PARAGRAPH = re.compile(rf"\n(?:{_HSPACE}*\n)+")
_HEADING = re.compile(r"\n(?=#{1,6}\s)")
_LINE = re.compile(r"\n")
_SENTENCE = re.compile(r"[.!?…。！？][)\]\"'’”»]*(?=\s)")
_WORD = re.compile(r"\s")
_LINE_START = re.compile(r"\n")
_WORD_START = re.compile(r"\s+")

# (pattern, break at the match's end rather than its start, needs a well-filled chunk)
_Level = tuple[re.Pattern[str], bool, bool]
_LOOKAHEAD = 256


def _levels(kind: DocumentKind) -> list[list[_Level]]:
    words: list[_Level] = [(_WORD, False, False)]
    if kind == "code":
        return [
            [(_DEFINITION, False, True)],
            [(_PARAGRAPH, False, True)],
            [(_LINE, False, True)],
            words,
        ]
    if kind == "markdown":
        return [
            [(_HEADING, False, True)],
            [(_PARAGRAPH, False, True)],
            [(_LINE, False, True), (_SENTENCE, True, True)],
            words,
        ]
    return [
        [(_PARAGRAPH, False, True)],
        [(_LINE, False, True), (_SENTENCE, True, True)],
        words,
    ]


def _last_break(text: str, level: list[_Level], lo: int, hi: int, fill_lo: int) -> int | None:
    """The last break position b of this level with lo <= b <= hi (fill_lo instead of lo if required)."""
    best: int | None = None
    end = min(len(text), hi + _LOOKAHEAD)
    for pattern, at_end, needs_fill in level:
        start = max(lo, fill_lo) if needs_fill else lo
        if start > hi:
            continue
        search_from = start - 8 if at_end else start
        for m in pattern.finditer(text, max(0, search_from), end):
            b = m.end() if at_end else m.start()
            if b > hi:
                break
            if b >= start and (best is None or b > best):
                best = b
    return best


def _overlap_start(text: str, b: int, overlap: int, floor: int) -> int:
    """Where the next chunk starts so that it repeats up to `overlap` characters before `b`."""
    lo = max(b - overlap, floor)
    if overlap <= 0 or lo >= b:
        return b
    for pattern, at_end in ((_LINE_START, True), (_SENTENCE, True), (_WORD_START, True)):
        for m in pattern.finditer(text, max(0, lo - 1), b):
            pos = m.end() if at_end else m.start()
            if lo <= pos < b:
                return pos if text[pos:b].strip() else b
    return b


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """The span without leading blank lines/spaces and trailing whitespace; indentation of the first line
    is kept when the span starts at or before its line."""
    while end > start and text[end - 1].isspace():
        end -= 1
    first = start
    while first < end and text[first].isspace():
        first += 1
    line_start = text.rfind("\n", 0, first) + 1
    return (line_start if line_start >= start else first), end


def _chunk_spans(text: str, kind: DocumentKind, max_chars: int, overlap_chars: int) -> list[tuple[int, int]]:
    content_end = len(text.rstrip())
    if content_end <= max_chars:
        s, e = _trim(text, 0, content_end)
        return [(s, e)] if e > s else []
    levels = _levels(kind)
    spans: list[tuple[int, int]] = []
    start = 0
    prev_end = 0
    while prev_end < content_end:
        b = None
        for attempt_start in (start, prev_end) if start < prev_end else (start,):
            hi = attempt_start + max_chars
            if hi >= content_end:
                b = content_end
                start = attempt_start
                break
            lo = max(prev_end + 1, attempt_start + 1)
            fill_lo = attempt_start + max_chars // 2
            for level in levels:
                b = _last_break(text, level, lo, hi, fill_lo)
                if b is not None:
                    break
            if b is not None:
                start = attempt_start
                break
        if b is None:
            start = prev_end
            b = start + max_chars
        s, e = _trim(text, start, b)
        if e > s:
            spans.append((s, e))
        prev_end = b
        if prev_end >= content_end:
            break
        start = _overlap_start(text, b, overlap_chars, floor=s + 1)
    return spans


def chunk_document(
    doc: Document,
    *,
    max_chars: int = DEFAULT_MAX_CHARS,
    overlap_chars: int = DEFAULT_OVERLAP_CHARS,
) -> list[Seed]:
    """Split `doc` into seeds of at most `max_chars` characters each.

    Breaks fall, in order of preference, at top-level definitions (code: a blank line followed by a
    non-indented line) or headings (markdown), paragraphs (blank lines), lines and sentences, then words; a
    token longer than `max_chars` is cut. A structural break is only taken if it leaves the chunk at least
    half full. Consecutive chunks repeat up to `overlap_chars` characters, starting at a line, sentence or
    word boundary. Each chunk is an exact slice `doc.text[char_start:char_end]` without leading blank lines
    and trailing whitespace (the first line's indentation is kept).
    """
    if max_chars < 1:
        raise ValueError("max_chars must be positive")
    if not 0 <= overlap_chars < max_chars:
        raise ValueError("overlap_chars must be between 0 and max_chars - 1")
    spans = _chunk_spans(doc.text, doc.kind, max_chars, overlap_chars)
    document_id = doc.document_id
    count = len(spans)
    seeds: list[Seed] = []
    for index, (start, end) in enumerate(spans):
        chunk = doc.text[start:end]
        if doc.id is not None:
            seed_id = doc.id if count == 1 else derive_id(doc.id, "chunk", CHUNK_PROMPT_VERSION, index)
        else:
            seed_id = content_id(chunk)
        seeds.append(
            Seed(
                id=seed_id,
                text=chunk,
                source=SeedSource(
                    uri=doc.uri,
                    kind=doc.kind,
                    language=doc.language,
                    chunk_index=index,
                    chunk_count=count,
                    char_start=start,
                    char_end=end,
                    document_id=document_id,
                ),
                metadata=dict(doc.metadata),
                skills=list(doc.skills),
            )
        )
    return seeds


def ingest(
    paths: Sequence[str | Path],
    *,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    max_chars: int = DEFAULT_MAX_CHARS,
    overlap_chars: int = DEFAULT_OVERLAP_CHARS,
    stdin: BinaryIO | None = None,
    stats: IngestStats | None = None,
) -> Iterator[Seed | Skipped]:
    """Seeds (and skips) from the given inputs: `iter_documents` then `chunk_document`.

    When `stats` is given, every yielded event is counted in it.
    """
    if not 0 <= overlap_chars < max_chars:
        raise ValueError("overlap_chars must be between 0 and max_chars - 1")
    for item in iter_documents(paths, max_file_bytes=max_file_bytes, stdin=stdin):
        events: list[Seed | Skipped]
        if isinstance(item, Skipped):
            events = [item]
        else:
            events = list(chunk_document(item, max_chars=max_chars, overlap_chars=overlap_chars))
        for event in events:
            if stats is not None:
                stats.observe(event)
            yield event


def _path_of_uri(uri: str) -> str:
    base, sep, line = uri.rpartition("#L")
    return base if sep and line.isdigit() else uri
