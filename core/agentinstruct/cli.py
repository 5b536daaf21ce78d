"""The `agentinstruct` command line."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from agentinstruct.skills import resolve_skills

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


def main(argv: list[str] | None = None) -> Any:
    return app(args=argv)


if __name__ == "__main__":
    main()
