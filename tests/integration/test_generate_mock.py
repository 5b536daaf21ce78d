"""`agentinstruct generate` end to end over real HTTP against the mock OpenAI-compatible server."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agentinstruct.testing import responders as _responders  # noqa: F401 - registers the skills' answers
from agentinstruct.testing.mock_server import MockConfig, MockServer
from tests.helpers.generate_checks import assert_pair_rows_well_formed, assert_rejection_rows_have_reasons, read_rows

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "documents"


@pytest.fixture
async def mock() -> AsyncIterator[MockServer]:
    async with MockServer(MockConfig(seed=7)) as server:
        yield server


def run_generate(base_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.update(OPENAI_BASE_URL=base_url, OPENAI_API_KEY="test-key-not-a-secret")
    return subprocess.run(
        [sys.executable, "-m", "agentinstruct.cli", "generate", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=600,
        check=False,
    )


async def test_generate_writes_traceable_pairs_and_resumes_without_paying(mock: MockServer, tmp_path: Path) -> None:
    inputs = [str(p) for p in sorted(EXAMPLES.iterdir())]
    out = tmp_path / "pairs.jsonl"
    first = await _in_thread(run_generate, mock.base_url, *inputs, "--out", str(out))
    assert first.returncode == 0, first.stderr
    assert "Run summary" in first.stderr
    pairs = read_rows(out)
    rejected = read_rows(out.with_name("pairs.rejected.jsonl"))
    assert pairs, "at least one pair is accepted"
    assert {row["skill"] for row in pairs} >= {"text_modification", "rc"}
    assert_pair_rows_well_formed(pairs, inputs)
    assert_rejection_rows_have_reasons(rejected)
    paid = mock.stats()["requests_total"]
    assert paid > 0

    # Lose the progress record and the outputs, keep the response cache: a rerun pays for nothing.
    state = out.with_name("pairs.jsonl.state")
    (state / "done_seeds.txt").unlink()
    out.unlink()
    second = await _in_thread(run_generate, mock.base_url, *inputs, "--out", str(out))
    assert second.returncode == 0, second.stderr
    assert mock.stats()["requests_total"] == paid, "finished calls are answered from the cache"
    # Which of two identical candidates wins exact-duplicate removal depends on completion order once the
    # output (and so the record of accepted content) is gone; the accepted content itself is the same.
    assert sorted(r["content_hash"] for r in read_rows(out)) == sorted(r["content_hash"] for r in pairs)
    assert len(read_rows(out.with_name("pairs.rejected.jsonl"))) == len(rejected), "no rejection written twice"

    # Everything done: a third run skips every seed.
    third = await _in_thread(run_generate, mock.base_url, *inputs, "--out", str(out))
    assert third.returncode == 0
    assert "already done" in third.stderr
    assert mock.stats()["requests_total"] == paid


async def test_bad_inputs_are_reported_counted_and_do_not_stop_the_run(mock: MockServer, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "empty.txt").write_text("")
    (docs / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    (docs / "latin1.txt").write_bytes("caf\xe9 cr\xe8me br\xfbl\xe9e".encode("latin-1"))
    (docs / "nul.txt").write_bytes(b"abc\x00\x00\x00def" * 100)
    (docs / "good.md").write_text((EXAMPLES / "urban-heat-islands.md").read_text())
    out = tmp_path / "pairs.jsonl"
    result = await _in_thread(run_generate, mock.base_url, str(docs), "--out", str(out), "--skills", "rc")
    assert result.returncode == 0, result.stderr
    for name in ("empty.txt", "image.png", "latin1.txt", "nul.txt"):
        assert name in result.stderr, f"{name} is reported"
    for reason in ("empty", "binary", "not UTF-8", "unsupported"):
        assert f"inputs skipped: {reason}" in result.stderr.replace("\n", " ") or reason in result.stderr
    assert "1 of 1" in result.stderr, "the good document is processed"


async def test_unknown_skill_is_a_clear_error(mock: MockServer, tmp_path: Path) -> None:
    result = await _in_thread(
        run_generate, mock.base_url, str(EXAMPLES), "--skills", "nope", "--out", str(tmp_path / "p.jsonl")
    )
    assert result.returncode != 0
    assert "unknown skill 'nope'" in result.stderr


async def _in_thread(fn, *args):  # type: ignore[no-untyped-def]
    import asyncio

    return await asyncio.to_thread(fn, *args)
