"""Output rows: the chat format of orca-agentinstruct-1M plus the lineage and checks of each pair."""

from __future__ import annotations

import json
from typing import Any, Literal

from agentinstruct_schemas import Pair, Rejection

MessagesFormat = Literal["string", "list"]


def pair_to_row(pair: Pair, messages_format: MessagesFormat = "list") -> dict[str, Any]:
    """One JSONL/Parquet row. `messages` is a list of {role, content} (or, with "string", the JSON-encoded
    string the 1M release stores), starting with an empty system message."""
    messages = [{"role": m.role, "content": m.content} | ({"name": m.name} if m.name else {}) for m in pair.messages]
    lineage = pair.lineage
    return {
        "id": pair.id,
        "messages": json.dumps(messages, ensure_ascii=False) if messages_format == "string" else messages,
        "split": pair.split,
        "skill": pair.skill,
        "subcategory": pair.subcategory,
        "lineage": {
            "seed_id": lineage.seed_id,
            "source": lineage.source.model_dump(),
            "transform_agent": lineage.transform_agent,
            "instruction_type": lineage.instruction_type,
            "refinement_path": lineage.refinement_path,
        },
        "checks": [c.model_dump(exclude_none=True) for c in pair.checks],
        "judge_score": pair.judge_score,
        "models": lineage.models,
        "usage": lineage.usage.model_dump(),
        "prompt_versions": lineage.prompt_versions,
        "content_hash": pair.content_hash,
    }


def rejection_to_row(rejection: Rejection) -> dict[str, Any]:
    row = rejection.model_dump(exclude={"lineage"})
    row["lineage"] = {
        "seed_id": rejection.lineage.seed_id,
        "source": rejection.lineage.source.model_dump(),
        "transform_agent": rejection.lineage.transform_agent,
        "instruction_type": rejection.lineage.instruction_type,
        "refinement_path": rejection.lineage.refinement_path,
    }
    row["usage"] = rejection.lineage.usage.model_dump()
    return row
