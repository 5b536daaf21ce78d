"""Versioned prompt templates (Jinja2 files) and their loader."""

from agentinstruct.prompts.loader import PromptTemplate, load_prompt

__all__ = ["PromptTemplate", "load_prompt"]
