"""Stalls of the event loop: stretches in which it did not get back to its callbacks.

Whatever holds the loop's thread (a statement run on the loop that waits for the disk,
a long computation, a garbage collection, or simply too much queued work) makes every
call in flight wait. A heartbeat on the loop notes each turn it gets; a watcher thread
wakes when the next beat is due ``threshold`` late and, if it is, notes where the
loop's thread is (its innermost frames), so that each record says what held it. This
found a WAL file being cut back inside a commit on the loop (300-540 ms).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
import traceback
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from types import FrameType

log = logging.getLogger("scs.monitoring.loop")

MIN_BEAT_S = 0.01  # the heartbeat's period on the loop is half the threshold, not less
RECENT_S = 60.0  # how far back ``longest_recent`` looks
LONGEST_SHOWN = 5
FRAMES_SHOWN = 6
LOG_EVERY_S = 10.0  # at most one warning this often (the rest are counted)


def where(frame: FrameType | None) -> str:
    """The innermost frames of a stack, innermost first: ``file.py:12 function < ...``
    (the import machinery's own frames left out: a module imported on the loop shows as
    its ``<module>`` and the line importing it)."""
    if frame is None:
        return "unknown"
    stack = [f for f in traceback.extract_stack(frame) if not f.filename.startswith("<frozen")]
    shown = reversed(stack[-FRAMES_SHOWN:])
    return " < ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in shown)


class LoopStalls:
    """Times the event loop's late turns of at least ``threshold_s`` and says where it was."""

    def __init__(self, threshold_s: float) -> None:
        self.threshold_s = threshold_s
        # each wake-up costs ~0.2 ms of CPU on a small VM: the heartbeat runs every half
        # threshold and the watcher only wakes when the next beat would be late
        self.beat_s = max(MIN_BEAT_S, threshold_s / 2)
        self.count = 0
        self.seconds = 0.0
        self.max_seconds = 0.0
        # (monotonic end, seconds, where) of the recent stalls
        self.recent: deque[tuple[float, float, str]] = deque(maxlen=256)
        self._beat = 0.0
        self._seen: tuple[float, str] | None = None  # (the beat it was late after, where)
        self._handle: asyncio.TimerHandle | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop_thread = 0
        self._logged_at = -LOG_EVERY_S
        self._unlogged = 0

    def start(self) -> None:
        """Begin on the running loop (the watcher is a daemon thread)."""
        loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._beat = time.monotonic()
        self._handle = loop.call_later(self.beat_s, self._tick, loop)
        self._thread = threading.Thread(target=self._watch, name="scs-loop-stalls", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._handle is not None:
            self._handle.cancel()
        if self._thread is not None:
            self._thread.join(1.0)

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        now = time.monotonic()
        late = now - self._beat - self.beat_s
        if late >= self.threshold_s:
            seen = self._seen
            self._record(now, late, seen[1] if seen and seen[0] == self._beat else "unknown")
        self._beat = now
        self._handle = loop.call_later(self.beat_s, self._tick, loop)

    def _watch(self) -> None:
        wait = self.beat_s + self.threshold_s
        while not self._stop.wait(wait):
            beat = self._beat
            wait = beat + self.beat_s + self.threshold_s - time.monotonic()
            if wait > 0:
                continue  # the loop beat meanwhile: look again when the next beat is late
            wait = self.beat_s + self.threshold_s  # late: note where, once per stall
            seen = self._seen
            if seen is None or seen[0] != beat:
                frame = sys._current_frames().get(self._loop_thread)
                self._seen = (beat, where(frame))

    def _record(self, now: float, seconds: float, place: str) -> None:
        self.count += 1
        self.seconds += seconds
        self.max_seconds = max(self.max_seconds, seconds)
        self.recent.append((now, seconds, place))
        if now - self._logged_at < LOG_EVERY_S:
            self._unlogged += 1
            return
        more = f" ({self._unlogged} more since the last report)" if self._unlogged else ""
        log.warning("the event loop stalled %.0f ms in %s%s", seconds * 1000, place, more)
        self._logged_at, self._unlogged = now, 0

    def stats(self) -> dict[str, Any]:
        """Since start, and the longest stalls of the last minute."""
        now = time.monotonic()
        recent = [item for item in self.recent if now - item[0] <= RECENT_S]
        longest = sorted(recent, key=lambda item: item[1], reverse=True)[:LONGEST_SHOWN]
        return {
            "threshold_ms": round(self.threshold_s * 1000, 3),
            "count": self.count,
            "seconds": round(self.seconds, 6),
            "max_ms": round(self.max_seconds * 1000, 3),
            "longest_recent": [
                {"ms": round(seconds * 1000, 3), "seconds_ago": round(now - ended, 3), "where": at}
                for ended, seconds, at in longest
            ],
        }
