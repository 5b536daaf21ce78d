"""Prompt templates are files: `prompts/<skill>/<agent>.j2`.

Each file starts with `{# version: N #}` and defines two blocks, `system` and `user`. Rendering uses
StrictUndefined, so a placeholder that is not filled is an error, never an empty string. The version that
reaches the output rows and the response cache is `<name>@<N>`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

PROMPTS_DIR = Path(__file__).parent
_VERSION_RE = re.compile(r"\{#\s*version:\s*(\d+)\s*#\}")

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(PROMPTS_DIR)),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=False,
    trim_blocks=True,
    lstrip_blocks=True,
    autoescape=False,
)
_env.filters["tojson_pretty"] = lambda value: __import__("json").dumps(value, indent=2, ensure_ascii=False)


class PromptError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class PromptTemplate:
    name: str
    version: int
    template: jinja2.Template

    @property
    def ref(self) -> str:
        """`name@version`, recorded in every row and part of the cache key."""
        return f"{self.name}@{self.version}"

    def render(self, **variables: Any) -> list[dict[str, str]]:
        """Render to chat messages: a system message (when the block is not empty) and a user message."""
        messages: list[dict[str, str]] = []
        for role in ("system", "user"):
            block = self.template.blocks.get(role)
            if block is None:
                continue
            ctx = self.template.new_context(dict(variables))
            text = "".join(block(ctx)).strip()
            if text:
                messages.append({"role": role, "content": text})
        if not messages or messages[-1]["role"] != "user":
            raise PromptError(f"prompt {self.name} rendered no user message")
        return messages


@cache
def load_prompt(name: str) -> PromptTemplate:
    """Load `prompts/<name>.j2`, e.g. `load_prompt("rc/transform_argument")`."""
    path = PROMPTS_DIR / f"{name}.j2"
    if not path.is_file():
        raise PromptError(f"no prompt template {name!r} (looked for {path})")
    source = path.read_text(encoding="utf-8")
    match = _VERSION_RE.search(source.split("\n", 1)[0])
    if match is None:
        raise PromptError(f"prompt {name!r} must start with '{{# version: N #}}'")
    return PromptTemplate(name=name, version=int(match.group(1)), template=_env.get_template(f"{name}.j2"))
