"""One table for every scenario: a row per (scenario, configuration, metric), a column per tool."""

from __future__ import annotations

from dataclasses import dataclass, field

from tools import TOOLS

COLUMNS = list(TOOLS)


@dataclass
class Row:
    scenario: str
    config: str
    metric: str
    target: str = ""
    values: dict[str, str] = field(default_factory=dict)
    verdict: str = ""

    def cells(self) -> list[str]:
        return [
            self.scenario,
            self.config,
            self.metric,
            self.target or "-",
            *(self.values.get(name, "-") for name in COLUMNS),
            self.verdict or "-",
        ]


HEADER = ["scenario", "config", "metric", "target (ours)", *(TOOLS[n].label for n in COLUMNS), "ours vs target"]


def verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("**met**" if ok else "**missed**")


def fmt(value: float | None, digits: int = 2, suffix: str = "") -> str:
    return "n/a" if value is None else f"{value:.{digits}f}{suffix}"


def failed(result: dict[str, object]) -> str | None:
    """A short cell for a run that produced no figures."""
    error = result.get("error")
    if error is None:
        return None
    text = str(error)
    return "stalled" if "stalled" in text else "failed"
