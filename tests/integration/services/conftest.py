"""Fixtures of the service tests: the real broker and database, the mock LLM process, isolated pipelines.

Helpers live in `pipeline_harness.py` (imported by the tests directly, never through this file).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pipeline_harness import MockLLM, Pipeline

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
    return tmp_path_factory.mktemp("service-logs")


@pytest.fixture(scope="session")
def mock_llm(logs_dir: Path) -> Iterator[MockLLM]:
    """Deterministic answers, no faults, 0-20 ms latency."""
    server = MockLLM(logs_dir, "--latency-median-ms", "10", "--latency-dist", "uniform").start()
    yield server
    server.stop()


@pytest.fixture
def make_pipeline(infra: None, logs_dir: Path) -> Iterator[Callable[..., Pipeline]]:
    made: list[Pipeline] = []

    def make(llm_base_url: str, **extra_env: str) -> Pipeline:
        pipeline = Pipeline(logs_dir, llm_base_url, extra_env)
        made.append(pipeline)
        return pipeline

    yield make
    for pipeline in made:
        pipeline.cleanup()
