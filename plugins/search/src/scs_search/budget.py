"""How long one search may rank, and how ranking work is estimated before it runs.

A call gets one ``Budget`` (``SCS_SEARCH_BUDGET_MS``) shared by every session it
ranks. Ranking proceeds in chunks and stops at the first chunk boundary after the
budget is spent, so a call overruns it by at most one chunk (``CHUNK_WORK``); at
least one chunk is always ranked. What was ranked is exact; ``truncated`` tells
that rows were left unscored.
"""

from __future__ import annotations

import time

# Work units: characters scored x a factor for long queries (RapidFuzz's
# partial_ratio slows down about quadratically once the query outgrows one 64-bit
# word). Measured on this machine: ~50,000 units per millisecond for every
# query length up to 256 (bench/search_abuse.py, plugins/search/README.md).
UNITS_PER_MS = 50_000
INLINE_WORK = 2 * UNITS_PER_MS  # rank on the event loop only below ~2 ms of work
CHUNK_WORK = 20 * UNITS_PER_MS  # one chunk scores at most ~20 ms of work
SESSION_WORK = UNITS_PER_MS // 2  # fixed cost of ranking one session (its score bounds)


def query_factor(query_chars: int) -> float:
    """How much slower than a one-word query (<= 64 characters) each scored character is."""
    return max(1.0, query_chars / 64) ** 2


def text_work(text_chars: int, query_chars: int) -> float:
    """Work units to score one text (a text shorter than the query costs as the query)."""
    return max(text_chars, query_chars) * query_factor(query_chars)


class Budget:
    """The time one search call may spend ranking, counted from ``start``."""

    def __init__(self, budget_ms: float) -> None:
        self.seconds = budget_ms / 1000
        self.deadline: float | None = None
        self.truncated = False
        self.chunks = 0

    def start(self) -> None:
        """Start the clock (once: the first index is ready); later calls do nothing."""
        if self.deadline is None:
            self.deadline = time.monotonic() + self.seconds

    def spent(self) -> bool:
        """True once the budget is used up (never before ``start``)."""
        return self.deadline is not None and time.monotonic() >= self.deadline

    def stop(self) -> None:
        """Make ranking stop at its next chunk boundary (the caller is gone)."""
        self.chunks = max(self.chunks, 1)
        self.deadline = float("-inf")
