"""Document ingestion: inputs to documents (or skips with reasons), documents to seeds with provenance."""

from __future__ import annotations

import io
import itertools
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from agentinstruct.ingest import (
    STDIN_URI,
    Document,
    IngestStats,
    SkipKind,
    Skipped,
    chunk_document,
    classify_path,
    ingest,
    iter_documents,
)
from agentinstruct_schemas import Seed
from agentinstruct_schemas.ids import content_id, derive_id

PNG_HEADER = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00"


def _docs(
    paths: list[str | Path], *, max_file_bytes: int = 20_000_000, stdin: io.BytesIO | None = None
) -> list[Document | Skipped]:
    return list(iter_documents(paths, max_file_bytes=max_file_bytes, stdin=stdin))


def _one(path: Path, *, max_file_bytes: int = 20_000_000) -> Document | Skipped:
    [item] = _docs([path], max_file_bytes=max_file_bytes)
    return item


def _skip(path: Path, *, max_file_bytes: int = 20_000_000) -> Skipped:
    item = _one(path, max_file_bytes=max_file_bytes)
    assert isinstance(item, Skipped), item
    return item


def _doc(path: Path) -> Document:
    item = _one(path)
    assert isinstance(item, Document), item
    return item


def _assert_provenance(text: str, seeds: list[Seed]) -> None:
    assert seeds
    for i, seed in enumerate(seeds):
        src = seed.source
        assert text[src.char_start : src.char_end] == seed.text
        assert src.chunk_index == i
        assert src.chunk_count == len(seeds)


# ------------------------------------------------------------------------------------------------------
# kinds


@pytest.mark.parametrize(
    ("name", "kind", "language"),
    [
        ("notes.txt", "text", None),
        ("NOTES", "text", None),
        ("guide.rst", "text", None),
        ("LICENSE", "text", None),
        ("LICENSE-MIT", "text", None),
        ("COPYING.LESSER", "text", None),
        ("README.md", "markdown", None),
        ("post.markdown", "markdown", None),
        ("main.py", "code", "python"),
        ("app.ts", "code", "typescript"),
        ("server.go", "code", "go"),
        ("lib.rs", "code", "rust"),
        ("Main.java", "code", "java"),
        ("x.h", "code", "c"),
        ("x.cpp", "code", "cpp"),
        ("run.sh", "code", "shell"),
        ("q.sql", "code", "sql"),
        ("A.kt", "code", "kotlin"),
        ("P.cs", "code", "csharp"),
        ("v.swift", "code", "swift"),
        ("Makefile", "code", "make"),
        ("Dockerfile", "code", "dockerfile"),
        ("Upper.PY", "code", "python"),
    ],
)
def test_kinds(tmp_path: Path, name: str, kind: str, language: str | None) -> None:
    path = tmp_path / name
    path.write_text("some content\n")
    doc = _doc(path)
    assert (doc.kind, doc.language) == (kind, language)
    assert doc.uri == path.as_posix()
    assert doc.text == "some content\n"
    assert doc.id is None


def test_classify_path() -> None:
    assert classify_path("a/b.jsonl") == "jsonl"
    assert classify_path("a.pdf") is None
    assert classify_path("a.md") == ("markdown", None)


@pytest.mark.parametrize("name", ["report.pdf", "photo.png", "bundle.zip", "deck.pptx", "sheet.xlsx", "a.so"])
def test_unsupported_types_are_skipped_with_their_suffix(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"PK\x03\x04 whatever")
    skipped = _skip(path)
    suffix = Path(name).suffix
    assert skipped.reason == f"unsupported file type '{suffix}'"
    assert skipped.kind is SkipKind.UNSUPPORTED
    assert skipped.path == path.as_posix()


# ------------------------------------------------------------------------------------------------------
# bad input never raises


def test_empty_and_whitespace_only(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "blank.md").write_text(" \n\t\n  \n")
    items = _docs([tmp_path])
    assert [(Path(i.path).name, i.reason, i.kind) for i in items if isinstance(i, Skipped)] == [
        ("blank.md", "empty", SkipKind.EMPTY),
        ("empty.txt", "empty", SkipKind.EMPTY),
    ]


def test_binary_content_with_a_text_name(tmp_path: Path) -> None:
    png_named_txt = tmp_path / "image.txt"
    png_named_txt.write_bytes(PNG_HEADER + bytes(range(256)))
    assert _skip(png_named_txt).reason == "binary"
    no_suffix = tmp_path / "program"
    no_suffix.write_bytes(b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 64)
    assert _skip(no_suffix).kind is SkipKind.BINARY


def test_binary_by_control_characters_without_nul(tmp_path: Path) -> None:
    path = tmp_path / "noise.txt"
    path.write_bytes(bytes([1, 2, 3, 4, 5, 6, 14, 15, 16, 17]) * 100 + b"text")
    assert _skip(path).reason == "binary"


def test_text_with_a_few_control_characters_is_text(tmp_path: Path) -> None:
    path = tmp_path / "log.txt"
    path.write_bytes(b"\x1b[1mbold\x1b[0m and a form feed\x0c\n" + b"plain words " * 50)
    assert _doc(path).text.startswith("\x1b[1mbold")


def test_latin1_is_not_guessed(tmp_path: Path) -> None:
    path = tmp_path / "cafe.txt"
    path.write_bytes("Un café à Paris".encode("latin-1"))
    skipped = _skip(path)
    assert skipped.reason == "not UTF-8 (invalid byte at offset 6)"
    assert skipped.kind is SkipKind.NOT_UTF8


def test_utf16_is_reported_as_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "wide.txt"
    path.write_bytes("hello".encode("utf-16"))
    assert _skip(path).reason == "not UTF-8 (UTF-16/UTF-32 byte order mark)"


def test_utf8_with_bom_and_non_ascii(tmp_path: Path) -> None:
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbf" + "Grüße, 世界\r\nzweite Zeile\r\n".encode())
    doc = _doc(path)
    assert doc.text == "Grüße, 世界\r\nzweite Zeile\r\n"


def test_too_large(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_text("word " * 30)
    skipped = _skip(path, max_file_bytes=100)
    assert skipped.reason == "too large (150 bytes > 100 byte limit)"
    assert skipped.kind is SkipKind.TOO_LARGE
    assert isinstance(_one(path, max_file_bytes=150), Document)


def test_broken_symlink(tmp_path: Path) -> None:
    link = tmp_path / "dangling.txt"
    link.symlink_to(tmp_path / "gone.txt")
    skipped = _skip(link)
    assert skipped.kind is SkipKind.UNREADABLE
    assert skipped.reason == "broken symbolic link (No such file or directory)"
    assert _docs([tmp_path]) == [skipped]


def test_missing_path(tmp_path: Path) -> None:
    skipped = _skip(tmp_path / "nope.md")
    assert skipped.reason == "cannot read (No such file or directory)"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_permission_denied(tmp_path: Path) -> None:
    path = tmp_path / "secret.txt"
    path.write_text("hidden")
    path.chmod(0)
    try:
        skipped = _skip(path)
    finally:
        path.chmod(0o600)
    assert skipped.reason == "cannot read (Permission denied)"
    assert skipped.kind is SkipKind.UNREADABLE


def test_open_errors_are_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "locked.txt"
    path.write_text("content")
    real_open = Path.open

    def failing_open(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", failing_open)
    skipped = _skip(path)
    assert (skipped.kind, skipped.reason) == (SkipKind.UNREADABLE, "cannot read (Permission denied)")


def test_fifo_is_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    assert _skip(fifo).reason == "not a regular file"


def test_a_mixed_folder_keeps_going(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("first document")
    (tmp_path / "b.zip").write_bytes(b"PK\x03\x04")
    (tmp_path / "c.txt").write_bytes(b"\xff\xfe\xfd bad")
    (tmp_path / "d.md").write_text("# last\n\nbody")
    (tmp_path / "e.txt").symlink_to(tmp_path / "missing")
    items = _docs([tmp_path])
    assert [(Path(i.path).name, type(i).__name__) for i in items] == [
        ("a.txt", "Document"),
        ("b.zip", "Skipped"),
        ("c.txt", "Skipped"),
        ("d.md", "Document"),
        ("e.txt", "Skipped"),
    ]


# ------------------------------------------------------------------------------------------------------
# folder walk


def test_folder_walk_is_sorted_recursive_and_skips_hidden_and_junk(tmp_path: Path) -> None:
    for rel in [
        "b.txt",
        "a.txt",
        "sub/z.md",
        "sub/deeper/y.py",
        "a_dir/x.txt",
        ".hidden.txt",
        ".git/config",
        "node_modules/pkg/index.js",
        "__pycache__/m.txt",
        ".venv/lib/site.py",
        "venv/lib/site.py",
        "pkg.egg-info/PKG-INFO",
        "sub/.cache/c.txt",
    ]:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"content of {rel}")
    items = _docs([tmp_path])
    rels = [Path(i.path).relative_to(tmp_path).as_posix() for i in items]
    assert rels == ["a.txt", "a_dir/x.txt", "b.txt", "sub/deeper/y.py", "sub/z.md"]
    assert all(isinstance(i, Document) for i in items)
    assert rels == [Path(i.path).relative_to(tmp_path).as_posix() for i in _docs([tmp_path])]


def test_an_explicit_hidden_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / ".notes"
    path.write_text("explicit")
    assert _doc(path).text == "explicit"


def test_relative_paths_give_relative_uris(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("alpha")
    monkeypatch.chdir(tmp_path)
    [doc] = _docs(["docs"])
    assert doc.path == "docs/a.txt"


def test_symlink_loops_are_walked_once(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "a.txt").write_text("alpha")
    (tmp_path / "real" / "loop").symlink_to(tmp_path / "real")
    items = _docs([tmp_path])
    assert [Path(i.path).name for i in items] == ["a.txt"]


# ------------------------------------------------------------------------------------------------------
# JSONL


def test_jsonl_good_and_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "docs.jsonl"
    lines = [
        json.dumps({"text": "First document.", "id": "doc-1", "metadata": {"lang": "en", "n": 3}}),
        "",
        "{not json",
        json.dumps({"id": "no-text"}),
        json.dumps(["a", "list"]),
        json.dumps({"text": 42}),
        json.dumps({"text": "   "}),
        json.dumps({"text": "nested", "metadata": {"a": {"b": 1}}}),
        json.dumps({"text": "bad id", "id": ["x"]}),
        '{"text": "nan", "metadata": {"x": NaN}}',
        json.dumps({"text": "Second document.", "extra": "ignored", "skills": ["rc"]}),
        json.dumps({"text": "Third.", "id": 7}),
    ]
    path.write_bytes("\n".join(lines).encode() + b"\n" + b'{"text": "caf\xe9"}\n')
    items = _docs([path])
    docs = [i for i in items if isinstance(i, Document)]
    skips = [i for i in items if isinstance(i, Skipped)]
    assert [(d.text, d.id, d.line) for d in docs] == [
        ("First document.", "doc-1", 1),
        ("Second document.", None, 11),
        ("Third.", "7", 12),
    ]
    assert docs[0].metadata == {"lang": "en", "n": 3}
    assert docs[0].uri == f"{path.as_posix()}#L1"
    assert docs[1].skills == ["rc"]
    assert {d.path for d in docs} == {path.as_posix()}
    by_line = {s.line or 0: s for s in skips}
    assert sorted(by_line) == [3, 4, 5, 6, 7, 8, 9, 10, 13]
    assert by_line[3].reason.startswith("invalid JSON")
    assert by_line[4].reason == "missing required field 'text'"
    assert by_line[5].reason == "expected a JSON object, got list"
    assert by_line[6].reason == "field 'text' must be a string"
    assert (by_line[7].reason, by_line[7].kind) == ("empty", SkipKind.EMPTY)
    assert by_line[8].reason == "metadata field 'a' must be a string, number, boolean or null"
    assert by_line[9].reason == "field 'id' must be a string or an integer"
    assert by_line[10].reason.startswith("invalid JSON")
    assert (by_line[13].kind, by_line[13].reason) == (
        SkipKind.NOT_UTF8,
        "not UTF-8 (invalid byte at offset 13 of the line)",
    )
    assert all(s.path == path.as_posix() for s in skips)
    assert str(by_line[4]) == f"{path.as_posix()}:4: missing required field 'text'"


def test_jsonl_limit_applies_per_line(tmp_path: Path) -> None:
    path = tmp_path / "docs.jsonl"
    long_line = json.dumps({"text": "x" * 500})
    path.write_text("\n".join([json.dumps({"text": "short"}), long_line, json.dumps({"text": "after"})]))
    items = _docs([path], max_file_bytes=100)
    assert [(type(i).__name__, i.line) for i in items] == [
        ("Document", 1),
        ("Skipped", 2),
        ("Document", 3),
    ]
    skipped = items[1]
    assert isinstance(skipped, Skipped)
    assert skipped.reason == f"too large ({len(long_line) + 1} bytes > 100 byte limit)"


def test_jsonl_user_ids_make_seed_ids(tmp_path: Path) -> None:
    path = tmp_path / "docs.jsonl"
    long_text = "\n\n".join(f"Paragraph {i} " + "word " * 40 for i in range(10))
    path.write_text(json.dumps({"text": "short one", "id": "s1"}) + "\n" + json.dumps({"text": long_text, "id": "L"}))
    seeds = [e for e in ingest([path], max_chars=500, overlap_chars=50) if isinstance(e, Seed)]
    assert seeds[0].id == "s1"
    assert seeds[0].source.document_id == "s1"
    rest = seeds[1:]
    assert len(rest) > 1
    assert [s.id for s in rest] == [derive_id("L", "chunk", "1", i) for i in range(len(rest))]
    assert {s.source.document_id for s in rest} == {"L"}
    _assert_provenance(long_text, rest)


# ------------------------------------------------------------------------------------------------------
# stdin


def test_stdin_plain_text() -> None:
    stream = io.BytesIO(b"\n\nJust some text from a pipe.\nSecond line.\n")
    [doc] = _docs(["-"], stdin=stream)
    assert isinstance(doc, Document)
    assert doc.uri == STDIN_URI
    assert doc.kind == "text"
    assert doc.text == "\n\nJust some text from a pipe.\nSecond line.\n"


def test_stdin_jsonl() -> None:
    body = "\n" + "\n".join([json.dumps({"text": "one"}), "oops", json.dumps({"text": "two", "id": "b"})])
    items = _docs(["-"], stdin=io.BytesIO(body.encode()))
    assert [(type(i).__name__, i.line) for i in items] == [("Document", 2), ("Skipped", 3), ("Document", 4)]
    assert isinstance(items[0], Document)
    assert items[0].uri == f"{STDIN_URI}#L2"


def test_stdin_text_that_starts_with_a_brace_is_text() -> None:
    [doc] = _docs(["-"], stdin=io.BytesIO(b"{\n  this is not json\n}\n"))
    assert isinstance(doc, Document)
    assert doc.text.startswith("{")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"  \n\n ", "empty"),
        (PNG_HEADER, "binary"),
        (b"caf\xe9", "not UTF-8 (invalid byte at offset 3)"),
        (b"word " * 50, "too large (250 bytes > 100 byte limit)"),
        (b"x" * 300 + b"\nmore\n", "too large (306 bytes > 100 byte limit)"),
    ],
)
def test_stdin_bad_input(data: bytes, reason: str) -> None:
    [item] = _docs(["-"], stdin=io.BytesIO(data), max_file_bytes=100)
    assert isinstance(item, Skipped)
    assert (item.path, item.reason) == (STDIN_URI, reason)


def test_stdin_defaults_to_sys_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    class FakeStdin:
        buffer = io.BytesIO(b"from the real stdin")

    monkeypatch.setattr("sys.stdin", FakeStdin())
    [doc] = _docs(["-"])
    assert isinstance(doc, Document)
    assert doc.text == "from the real stdin"


# ------------------------------------------------------------------------------------------------------
# chunking


def _prose(paragraphs: int, words: int = 60) -> str:
    return "\n\n".join(
        " ".join(f"w{p}x{i}" + ("." if i % 12 == 11 else "") for i in range(words)) for p in range(paragraphs)
    )


def test_short_document_is_one_seed() -> None:
    doc = Document(uri="mem://a", text="  A short note.\n\n", kind="text")
    [seed] = chunk_document(doc)
    assert seed.text == "  A short note."
    assert seed.id == content_id("A short note.")
    assert seed.id == doc.document_id
    src = seed.source
    assert (src.uri, src.kind, src.chunk_index, src.chunk_count) == ("mem://a", "text", 0, 1)
    assert doc.text[src.char_start : src.char_end] == seed.text
    assert src.document_id == content_id(doc.text)


def test_user_id_single_chunk_is_the_seed_id() -> None:
    doc = Document(uri="u", text="hello", id="my-id", metadata={"k": "v"}, skills=["rc"])
    [seed] = chunk_document(doc)
    assert seed.id == "my-id"
    assert seed.metadata == {"k": "v"}
    assert seed.skills == ["rc"]


def test_prose_splits_at_paragraphs_with_exact_offsets() -> None:
    text = _prose(12)
    doc = Document(uri="u", text=text)
    seeds = chunk_document(doc, max_chars=1200, overlap_chars=0)
    assert len(seeds) > 1
    _assert_provenance(text, seeds)
    for seed in seeds:
        assert len(seed.text) <= 1200
        assert seed.text.startswith("w")
        assert text[seed.source.char_end :].startswith("\n\n") or seed.source.char_end == len(text)
    assert "".join(s.text + "\n\n" for s in seeds).rstrip() == text
    assert {s.source.document_id for s in seeds} == {content_id(text)}
    assert [s.id for s in seeds] == [content_id(s.text) for s in seeds]


def test_overlap_repeats_the_end_of_the_previous_chunk_at_a_boundary() -> None:
    text = _prose(12)
    seeds = chunk_document(Document(uri="u", text=text), max_chars=1200, overlap_chars=200)
    _assert_provenance(text, seeds)
    for prev, cur in itertools.pairwise(seeds):
        assert cur.source.char_start < prev.source.char_end
        assert prev.source.char_end - cur.source.char_start <= 200
        assert text[cur.source.char_start - 1].isspace()
        assert cur.source.char_start > prev.source.char_start


def test_long_paragraph_splits_at_sentences_then_words() -> None:
    sentences = " ".join(f"Sentence number {i} has several plain words in it." for i in range(60))
    seeds = chunk_document(Document(uri="u", text=sentences), max_chars=500, overlap_chars=0)
    _assert_provenance(sentences, seeds)
    assert all(s.text.endswith(".") for s in seeds)
    no_punct = " ".join(f"word{i}" for i in range(400))
    seeds = chunk_document(Document(uri="u", text=no_punct), max_chars=300, overlap_chars=0)
    _assert_provenance(no_punct, seeds)
    for seed in seeds:
        assert re.fullmatch(r"word\d+( word\d+)*", seed.text)


def test_a_token_longer_than_the_limit_is_cut() -> None:
    text = "short " + "x" * 250 + " tail words here"
    seeds = chunk_document(Document(uri="u", text=text), max_chars=100, overlap_chars=10)
    _assert_provenance(text, seeds)
    assert all(len(s.text) <= 100 for s in seeds)
    assert seeds[0].text == "short"
    assert "".join(s.text for s in seeds[1:]) == "x" * 250 + " tail words here"
    assert all(set(s.text) == {"x"} for s in seeds[1:-1])


def test_code_splits_at_top_level_definitions() -> None:
    functions = [
        f"def function_{i}(x):\n    total = x\n\n    for k in range({i}):\n        total += k\n    return total\n"
        for i in range(30)
    ]
    text = "import os\n\n\n" + "\n\n".join(functions)
    doc = Document(uri="m.py", text=text, kind="code", language="python")
    seeds = chunk_document(doc, max_chars=600, overlap_chars=0)
    assert len(seeds) > 2
    _assert_provenance(text, seeds)
    for seed in seeds[1:]:
        assert seed.text.startswith("def function_")
        assert seed.text.endswith("return total")
        assert seed.source.language == "python"
        assert seed.source.kind == "code"


def test_markdown_prefers_headings() -> None:
    sections = [f"## Section {i}\n\n" + _prose(2, 30) for i in range(8)]
    text = "# Title\n\n" + "\n\n".join(sections)
    seeds = chunk_document(Document(uri="r.md", text=text, kind="markdown"), max_chars=900, overlap_chars=0)
    _assert_provenance(text, seeds)
    assert all(s.text.startswith("#") for s in seeds)


def test_indentation_of_the_first_line_is_kept() -> None:
    body = "\n".join(f"    line {i} of an indented block" for i in range(40))
    text = "class A:\n" + body
    seeds = chunk_document(Document(uri="a.py", text=text, kind="code"), max_chars=300, overlap_chars=0)
    _assert_provenance(text, seeds)
    assert all(s.text.startswith("    line") for s in seeds[1:])


def test_crlf_text_keeps_exact_offsets() -> None:
    text = _prose(10).replace("\n", "\r\n")
    seeds = chunk_document(Document(uri="u", text=text), max_chars=800, overlap_chars=100)
    _assert_provenance(text, seeds)
    assert all(not s.text.endswith("\r") for s in seeds)


def test_chunking_is_deterministic_and_independent_of_the_uri(tmp_path: Path) -> None:
    text = _prose(15)
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    (tmp_path / "one" / "a.txt").write_text(text)
    (tmp_path / "two" / "b.txt").write_text(text)
    first = [e for e in ingest([tmp_path / "one"], max_chars=1000) if isinstance(e, Seed)]
    again = [e for e in ingest([tmp_path / "one"], max_chars=1000) if isinstance(e, Seed)]
    other = [e for e in ingest([tmp_path / "two"], max_chars=1000) if isinstance(e, Seed)]
    assert [s.model_dump() for s in first] == [s.model_dump() for s in again]
    assert [s.id for s in first] == [s.id for s in other]
    assert len({s.id for s in first}) == len(first)


def test_bad_chunk_parameters_raise() -> None:
    doc = Document(uri="u", text="x")
    with pytest.raises(ValueError):
        chunk_document(doc, max_chars=0)
    with pytest.raises(ValueError):
        chunk_document(doc, max_chars=100, overlap_chars=100)


# ------------------------------------------------------------------------------------------------------
# ingest and stats


def test_ingest_and_stats(tmp_path: Path) -> None:
    (tmp_path / "long.md").write_text(_prose(20))
    (tmp_path / "short.txt").write_text("tiny")
    (tmp_path / "pic.png").write_bytes(PNG_HEADER)
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "rows.jsonl").write_text(json.dumps({"text": "row one"}) + "\nbad\n" + json.dumps({"text": "row 2"}))
    stats = IngestStats()
    events = list(ingest([tmp_path], max_chars=1000, stats=stats))
    seeds = [e for e in events if isinstance(e, Seed)]
    long_seeds = [s for s in seeds if s.source.uri.endswith("long.md")]
    assert len(long_seeds) > 1
    assert stats.files == 5
    assert stats.documents == 4
    assert stats.seeds == len(seeds) == len(long_seeds) + 3
    assert stats.skipped == {"unsupported": 1, "empty": 1, "invalid_jsonl": 1}
    assert stats.skipped_total == 3
    assert stats.as_dict()["skipped"] == {"empty": 1, "invalid_jsonl": 1, "unsupported": 1}

    by_hand = IngestStats()
    for event in events:
        by_hand.observe(event)
    assert by_hand.as_dict() == stats.as_dict()

    doc_stats = IngestStats()
    for item in iter_documents([tmp_path]):
        doc_stats.observe(item)
    assert (doc_stats.files, doc_stats.documents, doc_stats.seeds) == (5, 4, 0)


def test_version_numbered_names_are_text(tmp_path: Path) -> None:
    path = tmp_path / "CC0-1.0"
    path.write_text("Creative Commons Legal Code\n\nCC0 1.0 Universal\n")
    events = list(ingest([str(path)]))
    assert [type(e).__name__ for e in events] == ["Seed"]
