"""Quality gate: structural checks, the skill's own checks, an LLM judge, exact-duplicate removal.

Checks run cheapest first and stop at the first failing family, so a rejected item costs no judge call. Every
rejection keeps its reason (the first failed check) and every check result computed so far.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from typing import Protocol

from agentinstruct.llm.base import Role
from agentinstruct.prompts import load_prompt
from agentinstruct.skills.base import Calls, JudgeVerdict, Skill, StageContext
from agentinstruct.stages.common import failure_reason
from agentinstruct_schemas import Candidate, CheckResult, Pair, Rejection, derive_id
from agentinstruct_schemas.ids import normalize_text

STAGE = "validate"
JUDGE_PROMPT = "common/judge"
MAX_USER_CHARS = 60_000
_TEMPLATE_LEFTOVER = re.compile(r"\{\{|\}\}|\{%|%\}")


class DedupPort(Protocol):
    async def claim(self, content_hash: str, pair_id: str) -> bool:
        """True if `content_hash` is new or already held by `pair_id` (a replay); False for a duplicate."""
        ...


class MemoryDedup:
    def __init__(self) -> None:
        self._owners: dict[str, str] = {}

    async def claim(self, content_hash: str, pair_id: str) -> bool:
        owner = self._owners.setdefault(content_hash, pair_id)
        return owner == pair_id


def content_hash(candidate: Candidate) -> str:
    """Exact-duplicate key: the normalized user and assistant turns."""
    turns = [(m.role, normalize_text(m.content).lower()) for m in candidate.messages if m.role != "system"]
    return hashlib.sha256(json.dumps(turns, ensure_ascii=False).encode()).hexdigest()


def structural_checks(candidate: Candidate, skill: Skill) -> list[CheckResult]:
    msgs = candidate.messages
    results: list[CheckResult] = []

    def add(name: str, ok: bool, detail: str = "") -> None:
        results.append(CheckResult(name=f"structure.{name}", passed=ok, detail="" if ok else detail))

    add(
        "system_first",
        bool(msgs) and msgs[0].role == "system" and msgs[0].content == "",
        "the first message must be an empty system message",
    )
    turns = msgs[1:]
    add(
        "user_then_assistant",
        len(turns) >= 2 and turns[0].role == "user" and turns[-1].role == "assistant",
        "the transcript must start with a user turn and end with an assistant turn",
    )
    add("non_empty", all(m.content.strip() for m in turns), "a turn is empty")
    roles_ok = all(not (a.role == b.role and a.role in ("user", "assistant")) for a, b in itertools.pairwise(turns))
    add("alternating", roles_ok, "two user or two assistant turns follow each other")
    # Template markup in the written instruction means a placeholder leaked; in the source text it is content.
    add(
        "no_template_leftovers",
        not _TEMPLATE_LEFTOVER.search(candidate.instruction.instruction),
        "the instruction contains template markup",
    )
    user = turns[0].content if turns else ""
    add("user_length", 10 <= len(user) <= MAX_USER_CHARS, f"user turn has {len(user)} characters")
    final = turns[-1].content if turns else ""
    add("answer_not_echo", normalize_text(final) != normalize_text(user), "the answer repeats the instruction")
    return results


async def judge(candidate: Candidate, skill: Skill, ctx: StageContext, calls: Calls) -> JudgeVerdict:
    template = load_prompt(JUDGE_PROMPT)
    transcript = [{"role": m.role, "content": m.content} for m in candidate.messages if m.role != "system"]
    result = await ctx.llm.generate(
        Role.JUDGE,
        template.render(
            skill=skill,
            transcript=transcript,
            rubric=skill.judge_rubric,
            answer_key=candidate.instruction.answer_key,
        ),
        JudgeVerdict,
        prompt=template.ref,
    )
    calls.add(result.record)
    return result.parsed


async def validate_candidate(
    candidate: Candidate, skill: Skill, ctx: StageContext, dedup: DedupPort
) -> Pair | Rejection:
    calls = Calls()
    checks = structural_checks(candidate, skill)
    judge_score: float | None = None
    reason: str | None = _first_failure(checks)
    detail = ""
    if reason is None:
        try:
            checks.extend(await skill.check(candidate, ctx, calls))
        except Exception as exc:
            code, detail, _partial = failure_reason(exc)
            checks.append(CheckResult(name="skill.error", passed=False, detail=f"{code}: {detail}"))
        reason = _first_failure(checks)
    if reason is None:
        try:
            verdict = await judge(candidate, skill, ctx, calls)
        except Exception as exc:
            code, detail, _partial = failure_reason(exc)
            checks.append(CheckResult(name="judge", passed=False, detail=f"{code}: {detail}"))
        else:
            judge_score = float(verdict.score)
            passed = judge_score >= ctx.config.judge_threshold
            checks.append(
                CheckResult(
                    name="judge",
                    passed=passed,
                    score=judge_score,
                    detail=verdict.reason
                    if passed
                    else f"score {verdict.score} < {ctx.config.judge_threshold}: {verdict.reason}",
                )
            )
        reason = _first_failure(checks)
    lineage = candidate.lineage.extended(calls=calls.records)
    digest = content_hash(candidate)
    pair_id = derive_id(candidate.id, "pair", "1", 0)
    if reason is None and not await dedup.claim(digest, pair_id):
        checks.append(CheckResult(name="dedup.exact", passed=False, detail="an identical pair was already accepted"))
        reason = "dedup.exact"
    if reason is not None:
        failed = next(c for c in checks if not c.passed)
        return Rejection(
            id=derive_id(candidate.id, "reject:validate", "1", 0),
            stage=STAGE,
            reason=reason,
            detail=detail or failed.detail,
            skill=skill.name,
            subcategory=lineage.instruction_type,
            lineage=lineage,
            checks=checks,
            item={
                "messages": [m.model_dump() for m in candidate.messages],
                "answer_key": candidate.instruction.answer_key,
                "data": candidate.data,
            },
        )
    return Pair(
        id=pair_id,
        messages=candidate.messages,
        split=skill.split,
        skill=skill.name,
        subcategory=lineage.instruction_type or "",
        lineage=lineage,
        checks=checks,
        judge_score=judge_score,
        content_hash=digest,
    )


def _first_failure(checks: list[CheckResult]) -> str | None:
    for check in checks:
        if not check.passed:
            return check.name
    return None
