"""The `agentinstruct` command line."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Iterator, Mapping
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from agentinstruct.skills import resolve_skills
from agentinstruct.tools.search import INDEX_SAMPLE_SEEDS

if TYPE_CHECKING:
    from agentinstruct.devinfra import InfraError

app = typer.Typer(
    name="agentinstruct",
    help="Turn raw documents into instruction/response pairs with AgentInstruct's agentic flows.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)
out = Console()


def _split_csv(values: list[str] | None) -> list[str]:
    names: list[str] = []
    for value in values or []:
        names.extend(part.strip() for part in value.split(",") if part.strip())
    return names


@app.command()
def skills(as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False) -> None:
    """List the skills with their split names, transformation agents and subcategories."""
    described = [skill.describe() for skill in resolve_skills()]
    if as_json:
        out.print_json(json.dumps(described))
        return
    table = Table(title="Skills", show_lines=True)
    for column in ("skill", "split", "agents", "subcategories"):
        table.add_column(column, overflow="fold")
    for d in described:
        table.add_row(
            f"{d['name']}\n[dim]{d['title']}[/dim]",
            d["split"],
            "\n".join(d["transformation_agents"]),
            f"{len(d['subcategories'])}: " + ", ".join(d["subcategories"]),
        )
    out.print(table)


@app.command()
def generate(
    paths: Annotated[list[str], typer.Argument(help="files and folders (text, markdown, source code); - for stdin")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="output JSONL file of pairs")] = Path("pairs.jsonl"),
    skill_names: Annotated[
        list[str] | None, typer.Option("--skills", "-s", help="skills to run (comma-separated); default all")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="process at most N seeds (chunks)", min=1)] = None,
    base_url: Annotated[
        str | None, typer.Option(envvar="OPENAI_BASE_URL", help="OpenAI-compatible endpoint; none: local model")
    ] = None,
    model: Annotated[
        str | None, typer.Option(envvar="AGENTINSTRUCT_MODEL", help="default model for every role")
    ] = None,
    role_models: Annotated[
        list[str] | None, typer.Option("--role-model", help="ROLE=MODEL, e.g. teacher=gpt-4o (repeatable)")
    ] = None,
    concurrency: Annotated[int | None, typer.Option(help="budget of in-flight LLM calls", min=1)] = None,
    rpm: Annotated[int | None, typer.Option(help="requests per minute limit", min=1)] = None,
    tpm: Annotated[int | None, typer.Option(help="tokens per minute limit", min=1)] = None,
    refine_rounds: Annotated[int | None, typer.Option(help="Suggester->Editor rounds", min=0)] = None,
    suggestions: Annotated[int | None, typer.Option(help="suggestions per refinement round", min=1)] = None,
    reflection_rounds: Annotated[int | None, typer.Option(help="teacher critique/revise rounds", min=0)] = None,
    types_per_content: Annotated[int | None, typer.Option(help="taxonomy entries per transformed text", min=1)] = None,
    judge_threshold: Annotated[float, typer.Option(help="minimum judge score (1-5) to accept a pair")] = 3.0,
    function_calling: Annotated[
        bool, typer.Option(help="let the teacher call tools itself (endpoint must support it)")
    ] = False,
    messages_format: Annotated[
        str, typer.Option(help="'list' of {role, content}, or 'string' (JSON text, as the 1M release)")
    ] = "list",
    fresh: Annotated[bool, typer.Option(help="ignore previous output and state instead of resuming")] = False,
    search_index_max_seeds: Annotated[
        int,
        typer.Option(
            help="tool_use's in-memory search index covers a seeded uniform sample of at most this many seeds",
            min=1,
        ),
    ] = INDEX_SAMPLE_SEEDS,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run every stage in one process: documents -> pairs.jsonl (+ .rejected.jsonl), resumable."""
    from agentinstruct.runner import GenerateRequest, run_generate

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if messages_format not in ("list", "string"):
        raise typer.BadParameter("--messages-format must be 'list' or 'string'")
    try:
        skills_wanted = _split_csv(skill_names)
        resolve_skills(skills_wanted)
    except KeyError as exc:
        raise typer.BadParameter(str(exc.args[0])) from None
    request = GenerateRequest(
        paths=paths,
        out=out_path,
        skills=skills_wanted,
        limit=limit,
        base_url=base_url,
        api_key=os.environ.get("OPENAI_API_KEY"),
        model=model,
        role_models=_parse_role_models(role_models),
        concurrency=concurrency,
        rpm=rpm,
        tpm=tpm,
        refine_rounds=refine_rounds,
        suggestions=suggestions,
        reflection_rounds=reflection_rounds,
        types_per_content=types_per_content,
        judge_threshold=judge_threshold,
        function_calling=function_calling,
        messages_format=messages_format,  # type: ignore[arg-type]
        fresh=fresh,
        search_index_max_seeds=search_index_max_seeds,
    )
    code = asyncio.run(run_generate(request, err))
    raise typer.Exit(code)


def _parse_role_models(values: list[str] | None) -> dict[str, str]:
    from agentinstruct.llm.base import Role

    parsed: dict[str, str] = {}
    for value in values or []:
        role, sep, name = value.partition("=")
        if not sep or role not in {r.value for r in Role} or not name:
            raise typer.BadParameter(f"--role-model expects ROLE=MODEL with ROLE in {[r.value for r in Role]}")
        parsed[role] = name
    return parsed


# -- distributed mode ----------------------------------------------------------------------------------------


class Stage(StrEnum):
    """The four stage services (`services.common.settings.STAGES`)."""

    transformer = "transformer"
    suggester = "suggester"
    refiner = "refiner"
    validator = "validator"


class ExportFormatOption(StrEnum):
    jsonl = "jsonl"
    parquet = "parquet"


class MessagesFormatOption(StrEnum):
    list = "list"
    string = "string"


def _fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextlib.contextmanager
def _command_errors() -> Iterator[None]:
    """`CommandError` (and Ctrl-C) as a one-line message and an exit code, never a traceback."""
    from services.common.cli_support import CommandError

    try:
        yield
    except CommandError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        _fail("interrupted", 130)


def _quiet_client_logs() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    for name in ("aiokafka", "pymongo", "kafka"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


@app.command()
def serve(
    stage: Annotated[Stage, typer.Argument(help="the stage service to run", case_sensitive=False)],
) -> None:
    """Run one stage service until SIGTERM/SIGINT (configured by the environment: see the README).

    Serves /metrics and /health on HTTP_PORT (default 8000); on a signal it stops taking messages, drains the
    ones in flight (DRAIN_TIMEOUT_S), commits and exits 0.
    """
    from services.common.cli_support import CommandError, load_settings
    from services.common.runner import run_stage

    try:
        load_settings()
    except CommandError as exc:
        _fail(str(exc))
    try:
        run_stage(stage.value)
    except KeyboardInterrupt:
        pass
    except Exception as exc:
        _fail(f"{stage.value} stopped: {type(exc).__name__}: {exc}")


@app.command("ingest")
def ingest_command(
    paths: Annotated[
        list[str], typer.Argument(help="files, folders, .jsonl files (id, text, metadata per line); - for stdin")
    ],
    max_chars: Annotated[int, typer.Option(help="maximum characters per seed (chunk)", min=200)] = 6000,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON on stdout")] = False,
) -> None:
    """Stream documents into the seed topic; seeds already ingested are skipped (a second run is a no-op)."""
    from services.common.cli_support import IngestRun, load_settings, run_ingest

    _quiet_client_logs()
    with _command_errors():
        settings = load_settings()
        shown = 0
        last_line = 0.0
        progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]ingest[/bold] {task.fields[status]}"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            disable=not err.is_terminal,
        )
        task = progress.add_task("ingest", status="")

        def status(run: IngestRun) -> str:
            p = run.publishing
            return (
                f"documents {run.reading.documents}  seeds {p.seeds}  published {p.published}  "
                f"already ingested {p.already_ingested}  inputs skipped {run.reading.skipped_total}"
            )

        def on_progress(run: IngestRun) -> None:
            nonlocal shown, last_line
            while shown < len(run.skipped):
                event = run.skipped[shown]
                shown += 1
                if shown <= 20:
                    progress.console.print(f"[yellow]skipped[/yellow] {escape(str(event))}", highlight=False)
                elif shown == 21:
                    progress.console.print("[yellow]... more skipped inputs are counted in the summary[/yellow]")
            progress.update(task, status=status(run))
            now = time.monotonic()
            if not err.is_terminal and now - last_line >= 5.0:
                last_line = now
                err.print(status(run), highlight=False)

        with progress:
            run = asyncio.run(run_ingest(paths, settings, max_chars=max_chars, progress=on_progress))
        on_progress(run)
    summary = run.as_dict()
    if as_json:
        out.print_json(json.dumps(summary))
    table = Table(title=f"Ingest summary (topic {settings.seeds_topic})")
    table.add_column("what")
    table.add_column("count", justify="right")
    for key in ("documents", "seeds", "published", "already_ingested", "duplicates_in_input"):
        table.add_row(key.replace("_", " "), str(summary[key]))
    for reason, n in summary["inputs_skipped"].items():
        table.add_row(f"inputs skipped: {reason}", str(n))
    err.print(table)


@app.command("export")
def export_command(
    fmt: Annotated[ExportFormatOption, typer.Option("--format", "-f", help="jsonl or parquet")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="file to write (replaced when complete)")],
    skill_names: Annotated[
        list[str] | None, typer.Option("--skills", "-s", help="only these skills (comma-separated); default all")
    ] = None,
    messages_format: Annotated[
        MessagesFormatOption,
        typer.Option(help="'list' of {role, content}, or 'string' (JSON text, as the 1M release)"),
    ] = MessagesFormatOption.list,
    batch_rows: Annotated[int, typer.Option(help="rows per write (and per Parquet row group)", min=1)] = 1000,
) -> None:
    """Write the accepted pairs from MongoDB in the orca-agentinstruct-1M chat format, with their metadata."""
    from agentinstruct.export import ExportCounts, export_pairs
    from services.common.cli_support import check_mongo, load_settings

    _quiet_client_logs()
    try:
        skills_wanted = _split_csv(skill_names)
        resolve_skills(skills_wanted)
    except KeyError as exc:
        raise typer.BadParameter(str(exc.args[0])) from None
    with _command_errors():
        settings = load_settings()
        asyncio.run(check_mongo(settings))
        progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]export[/bold] {task.completed} rows"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            disable=not err.is_terminal,
        )
        task = progress.add_task("export", total=None)

        def on_progress(counts: ExportCounts) -> None:
            progress.update(task, completed=counts.rows)

        with progress:
            counts = asyncio.run(
                export_pairs(
                    settings.mongodb_uri.get_secret_value(),
                    settings.mongodb_db,
                    out_path,
                    fmt.value,
                    skills=skills_wanted,
                    messages_format=messages_format.value,
                    batch_rows=batch_rows,
                    timeout_ms=settings.mongodb_timeout_ms,
                    progress=on_progress,
                )
            )
    for example in counts.unreadable_examples:
        err.print(f"[yellow]left out[/yellow] {escape(example)}", highlight=False)
    by_skill = ", ".join(f"{skill} {n}" for skill, n in sorted(counts.by_skill.items())) or "none"
    err.print(
        f"wrote {counts.rows} pairs to {out_path} ({fmt.value}; {by_skill})"
        + (f"; {counts.unreadable} unreadable left out" if counts.unreadable else ""),
        highlight=False,
    )


@app.command()
def stats(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    scan_topics: Annotated[
        bool,
        typer.Option(help="also read the rejected and dead-letter topics: every stage's rejections by reason"),
    ] = False,
    kafka: Annotated[bool, typer.Option(help="include the Kafka figures (record counts, lags, dead letters)")] = True,
) -> None:
    """Counts: pairs per skill, rejections per stage and reason, dead letters and lag per stage."""
    from services.common.cli_support import collect_stats, load_settings

    _quiet_client_logs()
    with _command_errors():
        settings = load_settings()
        figures = asyncio.run(collect_stats(settings, kafka=kafka, scan=scan_topics))
    if as_json:
        out.print_json(json.dumps(figures))
        return
    _print_stats(figures)


def _cells(*values: object) -> list[str]:
    return [escape(str(value)) for value in values]


def _print_stats(figures: dict[str, Any]) -> None:
    def table(*columns: str) -> Table:
        made = Table(min_width=60)
        for i, column in enumerate(columns):
            made.add_column(column, justify="right" if i == len(columns) - 1 else "left")
        return made

    where = f"database {figures['database']} at {figures['mongodb']}"
    if figures["kafka"]:
        where += f"; topics {figures['topic_namespace']}.* at {figures['kafka']}"
    out.print(where, highlight=False)
    out.print(f"seeds ingested: {figures['seeds_ingested']}", highlight=False)
    out.print(f"\n[bold]pairs: {figures['pairs']['total']}[/bold]", highlight=False)
    pairs = table("skill", "pairs")
    for skill, n in figures["pairs"]["by_skill"].items():
        pairs.add_row(*_cells(skill, str(n)))
    out.print(pairs)
    if "stages" in figures:
        out.print("\n[bold]stages[/bold] (records from Kafka offsets)", highlight=False)
        stages = table("stage", "input records", "lag", "outputs", "dead letters")
        for stage, row in figures["stages"].items():
            output = row["output_records"] if stage != "validator" else f"{row['pairs_stored']} pairs"
            cells = (row["input_records"], row["lag"], output, row["dead_letters"])
            stages.add_row(*_cells(stage, *("-" if v is None else str(v) for v in cells)))
        out.print(stages)
    scan = figures.get("scan")
    rejections = scan["rejections"] if scan is not None else figures["rejections"]
    out.print(f"\n[bold]rejections: {rejections['total']}[/bold]", highlight=False)
    out.print(f"[dim]source: {escape(rejections['source'])}[/dim]", highlight=False)
    by = table("by", "value", "count")
    for stage, n in rejections["by_stage"].items():
        by.add_row(*_cells("stage", stage, str(n)))
    for reason, n in rejections["by_reason"].items():
        by.add_row(*_cells("reason", reason, str(n)))
    out.print(by)
    if scan is not None:
        out.print("\n[bold]dead letters[/bold] (dead-letter topics)", highlight=False)
        letters = table("stage", "reason", "count")
        for stage, row in scan["dead_letters"]["by_stage"].items():
            for reason, n in row["by_reason"].items():
                letters.add_row(*_cells(stage, reason, str(n)))
        out.print(letters)
        if not scan["complete"]:
            out.print("[yellow]reading the topics stalled before their end: the scan counts are partial[/yellow]")


dev = typer.Typer(
    help="Local Kafka broker and FerretDB for development and tests (scripts/infra/infra.sh).",
    no_args_is_help=True,
)
app.add_typer(dev, name="dev")

DevServices = Annotated[list[str] | None, typer.Argument(help="kafka, ferretdb (default both)")]


def _dev_names(services: list[str] | None) -> list[str]:
    from agentinstruct import devinfra

    names = services or list(devinfra.SERVICES)
    unknown = [name for name in names if name not in devinfra.SERVICES]
    if unknown:
        raise typer.BadParameter(f"unknown service(s) {', '.join(unknown)}; expected {', '.join(devinfra.SERVICES)}")
    return names


def _infra_failed(exc: InfraError, streamed: bool) -> NoReturn:
    if streamed:
        _fail(
            f"`infra.sh {exc.command[2] if len(exc.command) > 2 else ''}` failed with exit code {exc.returncode} "
            "(its output is above)"
        )
    lines = [line for line in exc.stderr.strip().splitlines() if line.strip()]
    _fail(lines[-1] if lines else str(exc).splitlines()[0])


@dev.command("up")
def dev_up(services: DevServices = None) -> None:
    """Install (first time) and start the services; those already running are left alone."""
    from agentinstruct import devinfra

    names = _dev_names(services)
    try:
        devinfra.up(names, stream=True)  # type: ignore[arg-type]
        _print_dev_status(devinfra.status(names))  # type: ignore[arg-type]
        for key, value in devinfra.connection_env().items():
            out.print(f"export {key}={value}", highlight=False)
    except devinfra.InfraError as exc:
        _infra_failed(exc, streamed=True)


@dev.command("down")
def dev_down(
    services: DevServices = None,
    wipe: Annotated[bool, typer.Option("--wipe", help="also delete their data and logs")] = False,
) -> None:
    """Stop the services (SIGTERM, then SIGKILL after 30 s)."""
    from agentinstruct import devinfra

    names = _dev_names(services)
    try:
        devinfra.down(names, wipe=wipe, stream=True)  # type: ignore[arg-type]
    except devinfra.InfraError as exc:
        _infra_failed(exc, streamed=True)


@dev.command("status")
def dev_status(
    services: DevServices = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Each service's address and state; exit code 3 when not all are up."""
    from agentinstruct import devinfra

    names = _dev_names(services)
    try:
        statuses = devinfra.status(names)  # type: ignore[arg-type]
    except devinfra.InfraError as exc:
        _infra_failed(exc, streamed=False)
    if as_json:
        out.print_json(
            json.dumps(
                {s.name: {"address": s.address, "running": s.running, "state": s.detail} for s in statuses.values()}
            )
        )
    else:
        _print_dev_status(statuses)
    if not all(s.running for s in statuses.values()) or len(statuses) < len(names):
        raise typer.Exit(devinfra.STATUS_NOT_ALL_UP)


def _print_dev_status(statuses: Mapping[str, Any]) -> None:
    for status in statuses.values():
        colour = "green" if status.running else "red"
        out.print(f"{status.name:<9} {status.address:<18} [{colour}]{status.detail}[/{colour}]", highlight=False)


def main(argv: list[str] | None = None) -> Any:
    return app(args=argv)


if __name__ == "__main__":
    main()
