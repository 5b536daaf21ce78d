"""The four generic stages. Pure async functions over messages: no Kafka, no database, no metrics globals.

The embedded runner chains them in one process; each Kafka service runs one of them.
"""

from agentinstruct.stages.common import StageResult
from agentinstruct.stages.refine import refine_and_answer
from agentinstruct.stages.suggest import suggest_instructions
from agentinstruct.stages.transform import transform_seed
from agentinstruct.stages.validate import DedupPort, MemoryDedup, validate_candidate

__all__ = [
    "DedupPort",
    "MemoryDedup",
    "StageResult",
    "refine_and_answer",
    "suggest_instructions",
    "transform_seed",
    "validate_candidate",
]
