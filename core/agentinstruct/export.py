"""Export of the pairs stored in MongoDB as JSONL or Parquet, in the rows of `agentinstruct.output.pair_to_row`.

A stored pair is the row `pair_to_row` made when it was accepted, plus `_id` and `stored_at`. Export rebuilds the
`Pair` from it and calls `pair_to_row` again, so the distributed mode writes exactly the rows the embedded mode
writes, in either messages format.

Pairs are streamed from a cursor (in the database's natural order) and written in batches; at most one batch is
in memory.

Parquet columns keep the row's nesting with native Arrow types where the shape is fixed: `messages` is a list of
`{role, content, name}` structs (or a string with `--messages-format string`, as the orca-agentinstruct-1M
release stores it), `lineage` a struct (with `source` a struct), `checks` a list of structs, `usage` a struct.
The three free-key mappings are JSON strings: `models`, `prompt_versions` and `usage.by_role` (Arrow maps read
back as lists of pairs, and several readers, Hugging Face `datasets` among them, do not support them). The file's
key-value metadata names them under `agentinstruct.json_columns`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections import Counter
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from agentinstruct.output import MessagesFormat, pair_to_row
from agentinstruct_schemas import ChatMessage, CheckResult, Lineage, Pair, SeedSource, Usage

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped]

ExportFormat = Literal["jsonl", "parquet"]
FORMATS: tuple[ExportFormat, ...] = ("jsonl", "parquet")
DEFAULT_BATCH_ROWS = 1000
JSON_COLUMNS = ("models", "prompt_versions", "usage.by_role")


class ExportError(RuntimeError):
    """The export could not be written (the message says why, in one line)."""


@dataclass(slots=True)
class ExportCounts:
    rows: int = 0
    by_skill: Counter[str] = field(default_factory=Counter)
    unreadable: int = 0
    unreadable_examples: list[str] = field(default_factory=list)


class RowSink(Protocol):
    def write(self, rows: list[dict[str, Any]]) -> None: ...

    def close(self) -> None: ...


# -- stored document -> Pair -> row ---------------------------------------------------------------------------


def pair_from_document(document: Mapping[str, Any]) -> Pair:
    """The `Pair` a stored document (a `pair_to_row` row plus `_id`) was made from."""
    lineage = document["lineage"]
    messages = document["messages"]
    if isinstance(messages, str):
        messages = json.loads(messages)
    skill, split = str(document["skill"]), str(document["split"])
    return Pair(
        id=str(document.get("id") or document["_id"]),
        messages=[ChatMessage.model_validate(m) for m in messages],
        split=split,
        skill=skill,
        subcategory=str(document["subcategory"]),
        lineage=Lineage(
            seed_id=str(lineage["seed_id"]),
            source=SeedSource.model_validate(lineage["source"]),
            skill=skill,
            split=split,
            transform_agent=lineage.get("transform_agent"),
            instruction_type=lineage.get("instruction_type"),
            refinement_path=list(lineage.get("refinement_path") or []),
            prompt_versions=dict(document.get("prompt_versions") or {}),
            models=dict(document.get("models") or {}),
            usage=Usage.model_validate(document.get("usage") or {}),
        ),
        checks=[CheckResult.model_validate(c) for c in document.get("checks") or []],
        judge_score=document.get("judge_score"),
        content_hash=str(document["content_hash"]),
    )


def document_to_row(document: Mapping[str, Any], messages_format: MessagesFormat = "list") -> dict[str, Any]:
    return pair_to_row(pair_from_document(document), messages_format)


# -- sinks ------------------------------------------------------------------------------------------------------


class JsonlSink:
    """One JSON object per line, as `agentinstruct generate` writes them."""

    def __init__(self, path: Path) -> None:
        self._fh = path.open("w", encoding="utf-8")

    def write(self, rows: list[dict[str, Any]]) -> None:
        self._fh.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)

    def close(self) -> None:
        self._fh.close()


def parquet_schema(messages_format: MessagesFormat) -> pa.Schema:
    import pyarrow as pa

    message = pa.struct([("role", pa.string()), ("content", pa.string()), ("name", pa.string())])
    source = pa.struct(
        [
            ("uri", pa.string()),
            ("kind", pa.string()),
            ("language", pa.string()),
            ("chunk_index", pa.int64()),
            ("chunk_count", pa.int64()),
            ("char_start", pa.int64()),
            ("char_end", pa.int64()),
            ("document_id", pa.string()),
        ]
    )
    lineage = pa.struct(
        [
            ("seed_id", pa.string()),
            ("source", source),
            ("transform_agent", pa.string()),
            ("instruction_type", pa.string()),
            ("refinement_path", pa.list_(pa.string())),
        ]
    )
    check = pa.struct([("name", pa.string()), ("passed", pa.bool_()), ("detail", pa.string()), ("score", pa.float64())])
    usage = pa.struct(
        [
            ("calls", pa.int64()),
            ("cached_calls", pa.int64()),
            ("prompt_tokens", pa.int64()),
            ("completion_tokens", pa.int64()),
            ("by_role", pa.string()),
        ]
    )
    metadata = {
        "agentinstruct.format": "orca-agentinstruct-1M chat messages plus lineage (agentinstruct.output.pair_to_row)",
        "agentinstruct.messages_format": messages_format,
        "agentinstruct.json_columns": ",".join(JSON_COLUMNS),
    }
    return pa.schema(
        [
            ("id", pa.string()),
            ("messages", pa.string() if messages_format == "string" else pa.list_(message)),
            ("split", pa.string()),
            ("skill", pa.string()),
            ("subcategory", pa.string()),
            ("lineage", lineage),
            ("checks", pa.list_(check)),
            ("judge_score", pa.float64()),
            ("models", pa.string()),
            ("usage", usage),
            ("prompt_versions", pa.string()),
            ("content_hash", pa.string()),
        ],
        metadata=metadata,
    )


def _json(value: Any) -> str:
    return json.dumps(value or {}, ensure_ascii=False, sort_keys=True)


def parquet_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A `pair_to_row` row with its free-key mappings as JSON strings (see the module docstring)."""
    usage = dict(row["usage"])
    usage["by_role"] = _json(usage.get("by_role"))
    return {**row, "models": _json(row["models"]), "prompt_versions": _json(row["prompt_versions"]), "usage": usage}


class ParquetSink:
    """Row groups of one batch each, written as they come (pyarrow's `ParquetWriter`)."""

    def __init__(self, path: Path, messages_format: MessagesFormat) -> None:
        import pyarrow.parquet as pq  # type: ignore[import-untyped]

        self._schema = parquet_schema(messages_format)
        self._writer = pq.ParquetWriter(str(path), self._schema, compression="zstd")

    def write(self, rows: list[dict[str, Any]]) -> None:
        import pyarrow as pa

        table = pa.Table.from_pylist([parquet_row(row) for row in rows], schema=self._schema)
        self._writer.write_table(table)

    def close(self) -> None:
        self._writer.close()


def open_sink(path: Path, fmt: ExportFormat, messages_format: MessagesFormat) -> RowSink:
    if fmt == "jsonl":
        return JsonlSink(path)
    if fmt == "parquet":
        return ParquetSink(path, messages_format)
    raise ValueError(f"unknown export format {fmt!r}; expected one of {', '.join(FORMATS)}")


# -- the export ------------------------------------------------------------------------------------------------


def pairs_query(skills: Sequence[str] = ()) -> dict[str, Any]:
    return {"skill": {"$in": list(skills)}} if skills else {}


async def export_documents(
    documents: AsyncIterable[Mapping[str, Any]] | Iterable[Mapping[str, Any]],
    out: Path,
    fmt: ExportFormat,
    *,
    messages_format: MessagesFormat = "list",
    batch_rows: int = DEFAULT_BATCH_ROWS,
    progress: Callable[[ExportCounts], None] | None = None,
) -> ExportCounts:
    """Write `documents` (stored pairs) to `out`; returns the counts.

    The file appears only when complete: rows go to a temporary file next to `out`, renamed at the end.
    Documents that are not stored pairs are counted as unreadable and left out.
    """
    if batch_rows < 1:
        raise ValueError("batch_rows must be positive")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.part")
    counts = ExportCounts()
    batch: list[dict[str, Any]] = []
    try:
        sink = open_sink(tmp, fmt, messages_format)
        try:

            async def flush() -> None:
                if batch:
                    await asyncio.to_thread(sink.write, list(batch))
                    batch.clear()
                    if progress is not None:
                        progress(counts)

            async for document in _aiter(documents):
                try:
                    row = document_to_row(document, messages_format)
                except (KeyError, TypeError, ValueError) as exc:
                    counts.unreadable += 1
                    if len(counts.unreadable_examples) < 5:
                        counts.unreadable_examples.append(f"{document.get('_id')}: {type(exc).__name__}: {exc}")
                    continue
                batch.append(row)
                counts.rows += 1
                counts.by_skill[str(row["skill"])] += 1
                if len(batch) >= batch_rows:
                    await flush()
            await flush()
        finally:
            sink.close()
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return counts


async def _aiter(
    documents: AsyncIterable[Mapping[str, Any]] | Iterable[Mapping[str, Any]],
) -> AsyncIterator[Mapping[str, Any]]:
    if isinstance(documents, AsyncIterable):
        async for document in documents:
            yield document
    else:
        for document in documents:
            yield document


async def export_pairs(
    uri: str,
    db: str,
    out: Path,
    fmt: ExportFormat,
    *,
    skills: Sequence[str] = (),
    messages_format: MessagesFormat = "list",
    batch_rows: int = DEFAULT_BATCH_ROWS,
    timeout_ms: int = 5000,
    progress: Callable[[ExportCounts], None] | None = None,
) -> ExportCounts:
    """Stream the `pairs` collection of `db` (optionally only `skills`) into `out`."""
    from pymongo import AsyncMongoClient

    client: Any = AsyncMongoClient(
        uri, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms, socketTimeoutMS=120_000
    )
    try:
        # Natural order: FerretDB v1 on SQLite sorts in its own memory after fetching the whole collection.
        cursor = client[db]["pairs"].find(pairs_query(skills), {"stored_at": 0}).batch_size(max(100, batch_rows))
        return await export_documents(
            cursor, out, fmt, messages_format=messages_format, batch_rows=batch_rows, progress=progress
        )
    finally:
        await client.close()
