"""A scripted in-memory LLM for unit tests (no HTTP). Integration tests use the mock server instead."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from agentinstruct.llm.base import LLMResult, Role, T
from agentinstruct.llm.errors import ErrorKind, LLMError
from agentinstruct_schemas import LLMCallRecord

Reply = dict[str, Any] | str | BaseModel | Exception
Script = Callable[[Role, list[dict[str, Any]], str], Reply]


@dataclass
class FakeCall:
    role: Role
    messages: list[dict[str, Any]]
    schema: str
    prompt: str


@dataclass
class FakeLLM:
    """Answers each call from `replies[prompt name]` (a reply or a list consumed in order) or from `script`.

    The prompt name is the part of the prompt ref before '@'. A reply that is a string is parsed as the raw
    JSON content, so malformed and truncated answers can be scripted; an Exception is raised as is.
    """

    replies: dict[str, Reply | list[Reply]] = field(default_factory=dict)
    script: Script | None = None
    model: str = "fake-model"
    calls: list[FakeCall] = field(default_factory=list)

    def model_for(self, role: Role) -> str:
        return self.model

    async def generate(
        self,
        role: Role,
        messages: list[dict[str, Any]],
        schema: type[T],
        *,
        prompt: str,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> LLMResult[T]:
        name = prompt.split("@", 1)[0]
        self.calls.append(FakeCall(role, messages, schema.__name__, prompt))
        reply = self._reply(name, role, messages, prompt)
        if isinstance(reply, Exception):
            raise reply
        if isinstance(reply, BaseModel):
            text = reply.model_dump_json()
        elif isinstance(reply, dict):
            text = json.dumps(reply)
        else:
            text = reply
        try:
            parsed = schema.model_validate_json(text)
        except ValidationError as exc:
            raise LLMError(ErrorKind.SCHEMA_INVALID, str(exc).splitlines()[0], raw=text) from exc
        words = sum(len(str(m.get("content", "")).split()) for m in messages)
        record = LLMCallRecord(
            role=role.value, model=self.model, prompt=prompt, prompt_tokens=words, completion_tokens=len(text.split())
        )
        return LLMResult(parsed=parsed, text=text, record=record)

    def _reply(self, name: str, role: Role, messages: list[dict[str, Any]], prompt: str) -> Reply:
        if name in self.replies:
            entry = self.replies[name]
            if isinstance(entry, list):
                if not entry:
                    raise AssertionError(f"FakeLLM: no scripted reply left for {name}")
                return entry.pop(0) if len(entry) > 1 else entry[0]
            return entry
        if self.script is not None:
            return self.script(role, messages, prompt)
        raise AssertionError(f"FakeLLM: no reply scripted for prompt {name!r}")

    def prompts_called(self) -> list[str]:
        return [c.prompt.split("@", 1)[0] for c in self.calls]
