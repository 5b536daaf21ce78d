"""`agentinstruct generate` end to end with the real small model (no endpoint configured) on real documents
that nobody on this project wrote: the licence texts Debian installs in /usr/share/common-licenses.

The model is SmolLM2-135M-Instruct served in-process; most of its answers fail the checks, which is the point:
every check stays as strict as for a large model, and the test asserts that rows are well-formed and
traceable, that every rejection carries its reason, and that the pipeline still accepts at least one pair.
One request at a time keeps the model's output deterministic (same requests, same answers).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.generate_checks import assert_pair_rows_well_formed, assert_rejection_rows_have_reasons, read_rows

REPO = Path(__file__).resolve().parents[2]
LICENSES = Path("/usr/share/common-licenses")
INPUTS = [LICENSES]
LIMIT = "16"

pytestmark = [pytest.mark.slow, pytest.mark.real_model]


@pytest.mark.timeout(3600)
@pytest.mark.skipif(not LICENSES.is_dir(), reason="needs Debian's /usr/share/common-licenses")
def test_generate_with_the_embedded_small_model(tmp_path: Path) -> None:
    out = tmp_path / "pairs.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_") and k != "AGENTINSTRUCT_MODEL"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "agentinstruct.cli",
            "generate",
            *map(str, INPUTS),
            "--out",
            str(out),
            "--skills",
            "rc,text_modification",
            "--limit",
            LIMIT,
            "--concurrency",
            "1",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=3500,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert "serving the small offline" in result.stderr
    assert "Run summary" in result.stderr
    pairs = read_rows(out)
    rejected = read_rows(out.with_name("pairs.rejected.jsonl"))
    inputs = sorted(str(p) for p in LICENSES.iterdir() if p.is_file())
    assert_pair_rows_well_formed(pairs, inputs)
    assert_rejection_rows_have_reasons(rejected)
    assert rejected, "a 135M model fails some checks: rejections are expected and kept"
    assert len(pairs) >= 1, f"no pair accepted; rejection reasons: {sorted({r['reason'] for r in rejected})}"
    assert all(row["models"]["teacher"] == "smollm2" for row in pairs)
