"""Assertions shared by the `generate` tests: every row well-formed and traceable to its seed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agentinstruct.ingest import Skipped, ingest
from agentinstruct.skills import resolve_skills


def read_rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def seeds_of(paths: list[str]) -> dict[str, list[Any]]:
    """Seed id -> the seeds with that id (identical chunks of different files share an id)."""
    seeds: dict[str, list[Any]] = {}
    for event in ingest(paths):
        if not isinstance(event, Skipped):
            seeds.setdefault(event.id, []).append(event)
    return seeds


def assert_pair_rows_well_formed(rows: list[dict[str, Any]], inputs: list[str]) -> None:
    seeds = seeds_of(inputs)
    splits = {skill.name: skill.split for skill in resolve_skills()}
    ids = set()
    for row in rows:
        assert row["id"] not in ids, "a pair is written once"
        ids.add(row["id"])
        messages = row["messages"]
        assert messages[0] == {"role": "system", "content": ""}
        turns = messages[1:]
        assert turns[0]["role"] == "user" and turns[-1]["role"] == "assistant"
        assert all(m["content"].strip() for m in turns)
        assert all(m["role"] in ("user", "assistant", "tool") for m in turns)
        assert row["split"] == splits[row["skill"]]
        assert row["subcategory"]
        lineage = row["lineage"]
        candidates = seeds.get(lineage["seed_id"], [])
        assert candidates, f"pair {row['id']} does not trace back to an input seed"
        source = lineage["source"]
        assert source["uri"] in {seed.source.uri for seed in candidates}
        original = Path(source["uri"]).read_text(encoding="utf-8")
        assert original[source["char_start"] : source["char_end"]] == candidates[0].text
        assert lineage["transform_agent"]
        assert lineage["instruction_type"] == row["subcategory"]
        assert all(check["passed"] for check in row["checks"]), "an accepted pair passed every check"
        assert any(check["name"] == "judge" for check in row["checks"])
        assert row["judge_score"] is not None
        assert row["usage"]["prompt_tokens"] > 0
        assert "teacher" in row["models"] and "judge" in row["models"]
        assert row["prompt_versions"], "prompt versions are recorded"
        assert all("@" in version for version in row["prompt_versions"].values())


def assert_rejection_rows_have_reasons(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        assert row["reason"], f"rejection {row['id']} has no reason"
        assert row["stage"] in ("transform", "suggest", "refine", "validate")
        assert row["lineage"]["seed_id"]
