"""`agentinstruct generate`: builds the LLM (an endpoint, or the local model), runs the embedded pipeline,
shows progress and prints the summary table."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from agentinstruct.embedded import RunOptions, RunStats, build_search_index, run_pipeline
from agentinstruct.ingest import Skipped
from agentinstruct.llm.base import Role
from agentinstruct.llm.openai_llm import LLMSnapshot, OpenAILLM
from agentinstruct.output import MessagesFormat
from agentinstruct.skills import resolve_skills
from agentinstruct.skills.base import FlowConfig, StageContext, ToolsPort
from agentinstruct.tools.search import INDEX_SAMPLE_SEEDS

LOCAL_MAX_TOKENS = {
    Role.TRANSFORM: 700,
    Role.SUGGEST: 400,
    Role.EDIT: 500,
    Role.TEACHER: 600,
    Role.JUDGE: 120,
}


@dataclass(slots=True)
class GenerateRequest:
    paths: list[str]
    out: Path
    skills: list[str] = field(default_factory=list)
    limit: int | None = None
    base_url: str | None = None
    api_key: str | None = None
    model: str | None = None
    role_models: dict[str, str] = field(default_factory=dict)
    concurrency: int | None = None
    rpm: int | None = None
    tpm: int | None = None
    refine_rounds: int | None = None
    suggestions: int | None = None
    reflection_rounds: int | None = None
    types_per_content: int | None = None
    judge_threshold: float = 3.0
    function_calling: bool = False
    messages_format: MessagesFormat = "list"
    fresh: bool = False
    search_index_max_seeds: int = INDEX_SAMPLE_SEEDS


def flow_config(request: GenerateRequest, *, local: bool) -> FlowConfig:
    """Defaults: the method doc's minimal configuration; lighter on the small local model."""
    base = (
        FlowConfig(max_instruction_types=2, max_instructions_per_type=1, suggestions_per_round=1)
        if local
        else (FlowConfig())
    )
    return FlowConfig(
        refine_rounds=base.refine_rounds if request.refine_rounds is None else request.refine_rounds,
        suggestions_per_round=request.suggestions or base.suggestions_per_round,
        reflection_rounds=base.reflection_rounds if request.reflection_rounds is None else request.reflection_rounds,
        max_instruction_types=request.types_per_content or base.max_instruction_types,
        max_instructions_per_type=base.max_instructions_per_type,
        judge_threshold=request.judge_threshold,
        sandbox_timeout_s=base.sandbox_timeout_s,
    )


@contextlib.asynccontextmanager
async def open_llm(
    request: GenerateRequest, cache_path: Path, console: Console
) -> AsyncIterator[tuple[OpenAILLM, bool]]:
    """The configured endpoint, or the small offline model served in-process. Yields (llm, is_local)."""
    from pydantic import SecretStr

    from agentinstruct.llm.cache import SQLiteCache
    from agentinstruct.llm.settings import LLMSettings

    models = {Role(role): name for role, name in request.role_models.items()}
    local_server = None
    if request.base_url:
        settings = LLMSettings(
            base_url=request.base_url,
            api_key=SecretStr(request.api_key) if request.api_key else None,
            default_model=request.model or "gpt-4o-mini",
            models=models,
            concurrency=request.concurrency or 64,
            rpm=request.rpm,
            tpm=request.tpm,
            function_calling=request.function_calling,
        )
    else:
        from agentinstruct.llm.local import LOCAL_MODEL_EXTRA_BODY, LocalModelServer

        console.print(
            "[dim]No endpoint configured (OPENAI_BASE_URL / --base-url): serving the small offline "
            "model SmolLM2-135M-Instruct in-process. It proves the pipeline; it is no quality signal.[/dim]"
        )
        local_server = LocalModelServer()
        local_server.start()
        settings = LLMSettings(
            base_url=local_server.base_url,
            api_key=SecretStr("local"),
            default_model=local_server.model,
            models=models,
            concurrency=request.concurrency or 2,
            max_tokens=dict(LOCAL_MAX_TOKENS),
            extra_body=dict(LOCAL_MODEL_EXTRA_BODY),
            timeout_s=300.0,
            # Retrying a truncated or malformed answer of a 135M model rarely helps and costs minutes.
            max_attempts=2,
        )
    llm = OpenAILLM(settings, cache=SQLiteCache(cache_path))
    try:
        yield llm, local_server is not None
    finally:
        await llm.aclose()
        if local_server is not None:
            local_server.stop()


async def run_generate(request: GenerateRequest, console: Console) -> int:
    options = RunOptions(
        paths=request.paths,
        out=request.out,
        skills=request.skills,
        limit=request.limit,
        fresh=request.fresh,
        messages_format=request.messages_format,
        search_index_max_seeds=request.search_index_max_seeds,
    )
    skills = resolve_skills(request.skills)
    tools = build_search_index(options) if any(s.name == "tool_use" for s in skills) else _plain_tools()
    skipped_shown = 0

    def on_skip(event: Skipped) -> None:
        nonlocal skipped_shown
        skipped_shown += 1
        if skipped_shown <= 20:
            console.print(f"[yellow]skipped[/yellow] {event.path}: {event.reason}")
        elif skipped_shown == 21:
            console.print("[yellow]... more skipped inputs are counted in the summary[/yellow]")

    options.state_dir.mkdir(parents=True, exist_ok=True)
    async with open_llm(request, options.state_dir / "llm-cache.sqlite", console) as (llm, local):
        options.seeds_in_flight = max(2, ctx_budget(llm))
        ctx = StageContext(llm=llm, config=flow_config(request, local=local), tools=tools)
        progress = Progress(
            TextColumn("[bold]seeds"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        task = progress.add_task("seeds", total=None, status="")
        current = RunStats()
        interval = 1.0 if console.is_terminal else 15.0

        def on_progress(stats: RunStats) -> None:
            nonlocal current
            current = stats

        def refresh() -> None:
            usage = llm.snapshot().usage
            status = (
                f"pairs {current.pairs}  rejected {current.rejections}  LLM calls {usage.calls}"
                f" (cached {usage.cached_calls})  tokens {usage.total_tokens}"
            )
            progress.update(task, completed=current.seeds_done, total=current.seeds_total or None, status=status)
            if not console.is_terminal:
                console.print(f"seeds {current.seeds_done}/{current.seeds_total}  {status}  {current.wall_s:.0f} s")

        async def ticker() -> None:
            while True:
                await asyncio.sleep(interval)
                refresh()

        with progress:
            ticking = asyncio.create_task(ticker())
            try:
                stats = await run_pipeline(options, ctx, progress=on_progress, on_skip=on_skip)
            finally:
                ticking.cancel()
            current = stats
            refresh()
        print_summary(console, stats, llm.snapshot(), options)
    return 0 if stats.rejections_by_reason.get("internal.error", 0) == 0 else 1


def ctx_budget(llm: OpenAILLM) -> int:
    """Seeds processed at once: as many as the LLM budget, so every stage has calls ready to send."""
    return llm.settings.concurrency


def _plain_tools() -> ToolsPort:
    from agentinstruct.tools.toolbox import Toolbox

    return Toolbox(None)


def print_summary(console: Console, stats: RunStats, llm: LLMSnapshot, options: RunOptions) -> None:
    table = Table(title="Run summary", show_header=True)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row(
        "seeds processed",
        f"{stats.seeds_done} of {stats.seeds_total}"
        + (f" ({stats.seeds_skipped_done} already done)" if stats.seeds_skipped_done else ""),
    )
    for reason, n in sorted(stats.inputs_skipped.items()):
        table.add_row(f"inputs skipped: {reason}", str(n))
    for skill, n in sorted(stats.pairs_by_skill.items()):
        table.add_row(f"pairs: {skill}", str(n))
    table.add_row("pairs (total)", str(stats.pairs))
    for reason, n in sorted(stats.rejections_by_reason.items(), key=lambda kv: (-kv[1], kv[0])):
        table.add_row(f"rejected: {reason}", str(n))
    usage = llm.usage
    table.add_row("LLM calls (answered)", str(usage.calls))
    table.add_row("LLM calls (from cache, not paid)", str(usage.cached_calls))
    table.add_row("LLM HTTP requests (incl. retries)", str(llm.requests))
    for kind, n in sorted(llm.failures.items()):
        table.add_row(f"LLM calls failed: {kind}", str(n))
    table.add_row("tokens (prompt + completion)", f"{usage.prompt_tokens} + {usage.completion_tokens}")
    if llm.cost_usd:
        table.add_row("estimated cost", f"${llm.cost_usd:.4f}")
    table.add_row("wall time", f"{stats.wall_s:.1f} s")
    console.print(table)
    console.print(f"pairs: {options.out}   rejections: {options.rejected_path}")
