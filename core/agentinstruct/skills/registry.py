"""The skills this release ships, by name."""

from __future__ import annotations

from collections.abc import Iterable

from agentinstruct.skills.base import Skill

SKILLS: dict[str, Skill] = {}


def register(skill: Skill) -> Skill:
    if skill.name in SKILLS:
        raise ValueError(f"skill {skill.name!r} registered twice")
    SKILLS[skill.name] = skill
    return skill


def _load_builtin() -> None:
    """Import the built-in skill modules (idempotent: a module registers itself once, at import)."""
    import importlib

    for module in ("rc", "text_modification", "tool_use", "code"):
        try:
            importlib.import_module(f"agentinstruct.skills.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"agentinstruct.skills.{module}":
                raise


def get_skill(name: str) -> Skill:
    _load_builtin()
    try:
        return SKILLS[name]
    except KeyError:
        known = ", ".join(sorted(SKILLS)) or "none"
        raise KeyError(f"unknown skill {name!r}; known skills: {known}") from None


def resolve_skills(names: Iterable[str] | None = None) -> list[Skill]:
    """The named skills (all of them when `names` is empty), in registry order."""
    _load_builtin()
    wanted = [n.strip() for n in (names or []) if n.strip()]
    if not wanted:
        return list(SKILLS.values())
    return [get_skill(name) for name in wanted]
