"""Versioned pydantic message models exchanged between the AgentInstruct stages.

Every stage consumes one of these and produces others; the embedded runner chains them in-process and the Kafka
services put them on topics. Nothing here depends on the rest of the project.
"""

from agentinstruct_schemas.ids import content_id, derive_id
from agentinstruct_schemas.messages import (
    SCHEMA_VERSION,
    Candidate,
    ChatMessage,
    CheckResult,
    DeadLetter,
    Instruction,
    Lineage,
    LLMCallRecord,
    Pair,
    Rejection,
    Seed,
    SeedSource,
    Transformed,
    Usage,
)

__all__ = [
    "SCHEMA_VERSION",
    "Candidate",
    "ChatMessage",
    "CheckResult",
    "DeadLetter",
    "Instruction",
    "LLMCallRecord",
    "Lineage",
    "Pair",
    "Rejection",
    "Seed",
    "SeedSource",
    "Transformed",
    "Usage",
    "content_id",
    "derive_id",
]
