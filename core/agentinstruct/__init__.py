"""AgentInstruct core: stage logic, skills, prompts, the LLM layer and storage ports.

Dependencies point one way: services -> agentinstruct (core) -> agentinstruct_schemas.
"""

__version__ = "0.1.0"
