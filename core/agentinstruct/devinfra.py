"""Local Kafka broker and FerretDB for development and tests, driven through `scripts/infra/infra.sh`.

The script does the work (install into `~/.cache/agentinstruct`, state in `<repo>/.infra`); this module is a
thin typed wrapper used by the integration tests and by `agentinstruct dev up|down|status`.

    from agentinstruct import devinfra
    devinfra.up()                         # both services; no-op for those already running
    devinfra.status()["kafka"].running
    devinfra.down(["kafka"])              # stop one service; devinfra.down(wipe=True) also deletes data
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

ServiceName = Literal["kafka", "ferretdb"]

SERVICES: Final[tuple[ServiceName, ...]] = ("kafka", "ferretdb")
SCRIPT: Final[Path] = Path(__file__).resolve().parents[2] / "scripts" / "infra" / "infra.sh"
STATUS_NOT_ALL_UP: Final = 3


class InfraError(RuntimeError):
    """The infra script failed; `stderr` holds its diagnostics (including service log tails)."""

    def __init__(self, command: list[str], returncode: int, stderr: str) -> None:
        self.command = command
        self.returncode = returncode
        self.stderr = stderr
        detail = stderr.strip() or "(no output)"
        super().__init__(f"`{' '.join(command)}` exited with code {returncode}:\n{detail}")


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    name: str
    address: str
    running: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class _Result:
    returncode: int
    stdout: str
    stderr: str


def _script() -> Path:
    if not SCRIPT.is_file():
        raise InfraError([str(SCRIPT)], 127, f"infra script not found at {SCRIPT} (not a source checkout?)")
    return SCRIPT


def _environment(extra: Mapping[str, str] | None) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("AGENTINSTRUCT_PYTHON", sys.executable)
    if extra:
        env.update(extra)
    return env


def _names(services: Iterable[str]) -> list[str]:
    names = list(services)
    unknown = [name for name in names if name not in SERVICES]
    if unknown:
        raise ValueError(f"unknown service(s) {unknown}; expected some of {list(SERVICES)}")
    return names


def _run(
    args: list[str],
    *,
    env: Mapping[str, str] | None,
    timeout: float | None,
    stream: bool,
    ok_codes: tuple[int, ...] = (0,),
) -> _Result:
    command = ["bash", str(_script()), *args]
    if not stream:
        try:
            done = subprocess.run(
                command,
                env=_environment(env),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            stderr = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
            raise InfraError(command, -1, f"timed out after {timeout}s\n{stderr}") from exc
        result = _Result(done.returncode, done.stdout, done.stderr)
    else:
        # Progress lines go to our stderr as they come, and are kept for the error message.
        with subprocess.Popen(
            command,
            env=_environment(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as proc:
            assert proc.stderr is not None and proc.stdout is not None
            timer = threading.Timer(timeout, proc.kill) if timeout is not None else None
            if timer is not None:
                timer.start()
            lines: list[str] = []
            try:
                for line in proc.stderr:
                    sys.stderr.write(line)
                    lines.append(line)
                stdout = proc.stdout.read()
                returncode = proc.wait()
            finally:
                if timer is not None:
                    timer.cancel()
            if timer is not None and timer.finished.is_set() and returncode < 0:
                lines.append(f"timed out after {timeout}s\n")
        result = _Result(returncode, stdout, "".join(lines))
    if result.returncode not in ok_codes:
        raise InfraError(command, result.returncode, result.stderr)
    return result


def install(
    services: Iterable[ServiceName] = SERVICES,
    *,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    stream: bool = False,
) -> None:
    """Fetch the Kafka jars and build FerretDB into the cache; fast when already done."""
    _run(["install", *_names(services)], env=env, timeout=timeout, stream=stream)


def up(
    services: Iterable[ServiceName] = SERVICES,
    *,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    stream: bool = False,
) -> None:
    """Install if needed, start the services and wait until they answer; running ones are left alone."""
    _run(["up", *_names(services)], env=env, timeout=timeout, stream=stream)


def down(
    services: Iterable[ServiceName] = SERVICES,
    wipe: bool = False,
    *,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    stream: bool = False,
) -> None:
    """Stop the services (SIGTERM, then SIGKILL after 30 s); `wipe` also deletes their data and logs."""
    args = ["down", *(["--wipe"] if wipe else []), *_names(services)]
    _run(args, env=env, timeout=timeout, stream=stream)


def status(
    services: Iterable[ServiceName] = SERVICES,
    *,
    env: Mapping[str, str] | None = None,
    timeout: float | None = 30,
) -> dict[str, ServiceStatus]:
    """Each service's address and whether it is up (started from this state dir and accepting connections)."""
    result = _run(
        ["status", *_names(services)],
        env=env,
        timeout=timeout,
        stream=False,
        ok_codes=(0, STATUS_NOT_ALL_UP),
    )
    statuses: dict[str, ServiceStatus] = {}
    for line in result.stdout.splitlines():
        parts = line.split(maxsplit=2)
        if len(parts) < 3:
            continue
        name, address, state = parts
        statuses[name] = ServiceStatus(name, address, state.split()[0] == "up", state)
    return statuses


def connection_env(*, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """`KAFKA_BOOTSTRAP_SERVERS` and `MONGODB_URI` for the local services."""
    result = _run(["env"], env=env, timeout=30, stream=False)
    values: dict[str, str] = {}
    for line in result.stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    return values
