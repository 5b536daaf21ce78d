"""Skills: declarative specs of AgentInstruct flows (agents, taxonomy, refinement goals, checks)."""

from agentinstruct.skills.base import Skill
from agentinstruct.skills.registry import SKILLS, get_skill, resolve_skills

__all__ = ["SKILLS", "Skill", "get_skill", "resolve_skills"]
