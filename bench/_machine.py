"""The machine's CPU time as ``/proc/stat`` counts it, sampled in a thread: how busy the
cores were and how much the hypervisor took from this VM (*steal*: time a virtual CPU
was ready to run but the host ran something else), for any stretch of a run.

On a shared host, a run's stalls line up with steal (bench/README.md, load.py's open
loop): a second in which the host takes a third of the CPU is a slow second for any
server, the no-op floor included.
"""

from __future__ import annotations

import bisect
import threading
import time
from pathlib import Path

STAT = Path("/proc/stat")


def _counters() -> tuple[int, int, int] | None:
    """Total, idle (with iowait) and steal jiffies of all CPUs, or None off Linux."""
    try:
        first = STAT.read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    if not first or first[0] != "cpu" or len(first) < 9:
        return None
    user, nice, system, idle, iowait, irq, softirq, steal = (int(x) for x in first[1:9])
    return user + nice + system + idle + iowait + irq + softirq + steal, idle + iowait, steal


class CpuSampler:
    """``start()``, then ``over(start, end)`` for any stretch (``time.monotonic()``
    seconds) since; ``stop()`` at the end. Samples every ``interval_s``."""

    def __init__(self, interval_s: float = 0.25) -> None:
        self.interval_s = interval_s
        self.times: list[float] = []
        self.counts: list[tuple[int, int, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)

    @property
    def available(self) -> bool:
        return _counters() is not None

    def start(self) -> CpuSampler:
        if self.available:
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2)

    def _run(self) -> None:
        while not self._stop.is_set():
            counts = _counters()
            if counts is not None:
                self.times.append(time.monotonic())  # appended together: readers see pairs
                self.counts.append(counts)
            self._stop.wait(self.interval_s)

    def over(self, start: float, end: float) -> dict[str, float] | None:
        """Steal and busy shares (% of the machine's CPU time) from the last sample at or
        before ``start`` to the first at or after ``end``; None if the samples do not
        cover it."""
        self._sampled_past(end)
        times = self.times[: len(self.counts)]
        first = bisect.bisect_right(times, start) - 1
        last = bisect.bisect_left(times, end)
        if first < 0 or last >= len(times) or last <= first:
            return None
        (total0, idle0, steal0), (total1, idle1, steal1) = self.counts[first], self.counts[last]
        total = total1 - total0
        if total <= 0:
            return None
        steal = steal1 - steal0
        return {
            "steal_pct": round(100.0 * steal / total, 1),
            "busy_pct": round(100.0 * (total - (idle1 - idle0) - steal) / total, 1),
        }

    def _sampled_past(self, end: float) -> None:
        """Wait (a sample's interval or two) until a sample at or after ``end`` is taken."""
        deadline = time.monotonic() + 3 * self.interval_s
        while (
            self._thread.is_alive()
            and (not self.counts or self.times[len(self.counts) - 1] < end)
            and time.monotonic() < min(deadline, end + 3 * self.interval_s)
        ):
            time.sleep(self.interval_s / 5)

    def worst_second(self, start: float, end: float) -> float | None:
        """The highest steal share (%) of any one-second step from ``start`` to ``end``."""
        shares = [
            share["steal_pct"]
            for second in range(int(end - start))
            if (share := self.over(start + second, start + second + 1)) is not None
        ]
        return max(shares) if shares else None
