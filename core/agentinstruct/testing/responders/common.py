"""Mock answers for the shared prompts: the judge, and the generic critique.

The judge grades mostly 4 and sometimes 2 (deterministic per request), and grades 1 when the assistant turn is
nearly empty, so mock runs exercise both accepted and judge-rejected pairs.
"""

from __future__ import annotations

import random
from typing import Any

from agentinstruct.testing.mock_server import ChatRequest, register_responder


def _assistant_text(request: ChatRequest) -> str:
    text = request.user_text
    marker = "[assistant]"
    tail = text.rsplit(marker, 1)[-1] if marker in text else ""
    return tail.split('Return "reason"', 1)[0]


@register_responder("common/judge")
def judge(request: ChatRequest, rng: random.Random) -> dict[str, Any]:
    answer = _assistant_text(request).strip()
    if len(answer.split()) < 2:
        return {"score": 1, "reason": "the answer is empty or nearly so"}
    if rng.random() < 0.1:
        return {"score": 2, "reason": "the answer misses part of the instruction"}
    return {"score": 4, "reason": "correct and follows the instruction"}


@register_responder("common/critique")
def critique(request: ChatRequest, rng: random.Random) -> dict[str, Any]:
    if rng.random() < 0.2:
        return {"flaws": ["the answer could be more specific"], "verdict": "revise"}
    return {"flaws": [], "verdict": "ok"}
