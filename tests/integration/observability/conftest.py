"""Fixtures of the observability tests: the real broker and database (started if needed, stopped afterwards only
if this session started them) and a directory for the processes' logs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agentinstruct import devinfra

INFRA_TIMEOUT_S = 900


@pytest.fixture(scope="session")
def infra() -> Iterator[None]:
    before = devinfra.status()
    devinfra.up(timeout=INFRA_TIMEOUT_S)
    yield
    started = [name for name in devinfra.SERVICES if not before[name].running]
    if started:
        devinfra.down(started)


@pytest.fixture(scope="session")
def logs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("observability-logs")
