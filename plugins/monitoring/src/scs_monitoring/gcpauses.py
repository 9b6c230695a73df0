"""Pauses of Python's cyclic garbage collector in this process.

A collection runs on the event loop's thread and holds it for its whole length, so
every call in flight waits for it: under load, collections of the youngest generation
take several milliseconds and older ones tens, which is what a latency tail is made of.
``gc.callbacks`` is process-wide, so one recorder serves every App of the process;
it is installed while at least one App with monitoring runs.
"""

from __future__ import annotations

import gc
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

GENERATIONS = (0, 1, 2)
RECENT_S = 60.0  # how far back ``longest_recent`` looks
RECENT_MIN_S = 0.001  # pauses shorter than this are only counted
LONGEST_SHOWN = 5


@dataclass
class Generation:
    """Collections of one generation since the recorder was installed."""

    collections: int = 0
    seconds: float = 0.0
    max_seconds: float = 0.0
    collected: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "collections": self.collections,
            "seconds": round(self.seconds, 6),
            "max_ms": round(self.max_seconds * 1000, 3),
            "collected": self.collected,
        }


class GcPauses:
    """Counts and times every collection (``gc.callbacks``) while installed."""

    def __init__(self) -> None:
        self.generations = [Generation() for _ in GENERATIONS]
        # (monotonic end, generation, seconds) of the pauses of at least RECENT_MIN_S
        self.recent: deque[tuple[float, int, float]] = deque(maxlen=512)
        self._started = 0.0
        self._users = 0

    def acquire(self) -> None:
        """Install the callback (once, however many Apps ask)."""
        self._users += 1
        if self._users == 1:
            gc.callbacks.append(self._callback)

    def release(self) -> None:
        """Remove the callback when the last App using it stops."""
        self._users = max(0, self._users - 1)
        if self._users == 0 and self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        seconds = time.perf_counter() - self._started
        figures = self.generations[info["generation"]]
        figures.collections += 1
        figures.seconds += seconds
        figures.collected += info["collected"]
        figures.max_seconds = max(figures.max_seconds, seconds)
        if seconds >= RECENT_MIN_S:
            self.recent.append((time.monotonic(), info["generation"], seconds))

    def stats(self) -> dict[str, Any]:
        """Per generation since start, and the longest pauses of the last minute."""
        now = time.monotonic()
        recent = [item for item in self.recent if now - item[0] <= RECENT_S]
        longest = sorted(recent, key=lambda item: item[2], reverse=True)[:LONGEST_SHOWN]
        return {
            "generations": {f"gen{n}": self.generations[n].as_dict() for n in GENERATIONS},
            "thresholds": list(gc.get_threshold()),
            "longest_recent": [
                {
                    "generation": generation,
                    "ms": round(seconds * 1000, 3),
                    "seconds_ago": round(now - ended, 3),
                }
                for ended, generation, seconds in longest
            ],
        }


PAUSES = GcPauses()
