"""A ring buffer of per-minute call figures, for charts of the last minutes."""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

MINUTES_KEPT = 15
DURATIONS_PER_TOOL = 256  # per minute: enough for a p95, bounded whatever the load


@dataclass
class ToolMinute:
    """One tool's calls within one minute."""

    calls: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    durations: list[float] = field(default_factory=list)

    def p95_ms(self) -> float | None:
        if not self.durations:
            return None
        ordered = sorted(self.durations)
        rank = max(1, -(-95 * len(ordered) // 100))  # nearest rank, ceil without floats
        return round(ordered[rank - 1] * 1000, 3)


@dataclass
class Minute:
    """Every tool's calls within the minute starting at ``start`` (epoch seconds)."""

    start: int
    tools: dict[str, ToolMinute] = field(default_factory=dict)


class CallHistory:
    """The last ``MINUTES_KEPT`` minutes of calls per tool (older minutes fall out)."""

    def __init__(self, minutes: int = MINUTES_KEPT, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.minutes: deque[Minute] = deque(maxlen=minutes)

    def add(self, tool: str, seconds: float, code: str | None) -> None:
        start = int(self.clock()) // 60 * 60
        if not self.minutes or self.minutes[-1].start != start:
            self.minutes.append(Minute(start))
        tools = self.minutes[-1].tools
        figures = tools.get(tool)
        if figures is None:  # not setdefault: that builds a ToolMinute on every call
            figures = tools[tool] = ToolMinute()
        figures.calls += 1
        if code is not None:
            figures.errors[code] += 1
        if len(figures.durations) < DURATIONS_PER_TOOL:
            figures.durations.append(seconds)

    def recent(self, minutes: int = MINUTES_KEPT) -> list[Minute]:
        """The minutes of the last ``minutes`` that saw calls, oldest first."""
        since = int(self.clock()) // 60 * 60 - (minutes - 1) * 60
        return [minute for minute in self.minutes if minute.start >= since]
