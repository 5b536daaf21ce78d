"""Realistic mock-server answers for the skills' prompts; importing this package registers them all."""

from agentinstruct.testing.responders import code as code
from agentinstruct.testing.responders import common as common
from agentinstruct.testing.responders import rc as rc
from agentinstruct.testing.responders import text_modification as text_modification
from agentinstruct.testing.responders import tool_use as tool_use
