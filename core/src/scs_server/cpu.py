"""One lane for CPU-heavy Python work, so that the event loop keeps answering.

Python threads take turns on one interpreter lock. Each time the event loop lets go of
it (a socket read, a SQLite step) a busy thread takes it, and the loop waits for the
next switch interval (5 ms by default) to get it back, once per busy thread in the worst
case: with six threads ranking search results, ``/health`` took ~250 ms while the loop
itself had little to do. So heavy work (ranking, index loads, previews) runs here, on
ONE thread per process, and a served process switches every millisecond
(:func:`prefer_event_loop`). Work that waits in C without the lock (SQLite, RapidFuzz's
scoring threads) does not need this lane.

Releasing the lock is not enough when the work itself wants the CPU (RapidFuzz scores
without the lock): the loop and the lane then compete for a core, and the kernel gives
each a few milliseconds in turn. So the lane's thread runs at a lower priority
(``LANE_NICE``, Linux, where a thread has a nice value of its own): a waking event loop
takes the core at once, and the lane gets every cycle the loop does not want.

Long jobs should be cut into pieces submitted one by one, so that jobs of several callers
take turns instead of queueing behind the longest.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, ParamSpec, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

P = ParamSpec("P")
T = TypeVar("T")

LANE_NICE = 10
"""How much lower than the event loop the lane's thread is scheduled (``nice``: 0-19)."""

SWITCH_INTERVAL_S = 0.001
"""The interpreter's switch interval in a served process (Python's default is 5 ms)."""

_lane: ThreadPoolExecutor | None = None
_lane_lock = threading.Lock()
_stats = {"jobs": 0, "busy_s": 0.0, "queued_s": 0.0}


def _executor() -> ThreadPoolExecutor:
    """The process's lane, made on first use and never shut down: it is shared by every
    App in the process, and an idle thread costs nothing."""
    global _lane
    with _lane_lock:
        if _lane is None:
            _lane = ThreadPoolExecutor(1, thread_name_prefix="scs-cpu", initializer=lower_priority)
        return _lane


async def run_cpu(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``fn(*args, **kwargs)`` on the CPU lane; the caller waits without holding the loop.

    Cancelling the caller does not stop a job already running: give long jobs a flag or
    budget they check between pieces.
    """
    queued = time.perf_counter()

    def job() -> T:
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:  # only the lane's one thread writes these
            _stats["jobs"] += 1
            _stats["queued_s"] += started - queued
            _stats["busy_s"] += time.perf_counter() - started

    return await asyncio.get_running_loop().run_in_executor(_executor(), job)


def lane_stats() -> dict[str, float]:
    """Jobs run on the lane, seconds they ran and seconds they waited for it, since the
    process started (``/metrics``: a lane busy most of the time means CPU-bound work is
    queueing)."""
    return {key: round(value, 6) for key, value in _stats.items()}


def lower_priority() -> None:
    """Schedule the calling thread ``LANE_NICE`` below the rest of the process: the
    initializer of threads that do background CPU work (the lane, a plugin's own scoring
    threads). Linux only (elsewhere the call would renice the whole process); a
    refusal is ignored."""
    if sys.platform != "linux":
        return
    with contextlib.suppress(OSError):
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + LANE_NICE)


def prefer_event_loop() -> None:
    """Give the lock back to a waiting event loop after at most ``SWITCH_INTERVAL_S``
    (called once when a server starts; a busy thread then runs in shorter turns)."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)
