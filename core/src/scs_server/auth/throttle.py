"""Throttling of failed authentication, per failing source and per wrong credential.

The throttle never sees a correct credential: callers check the credential first and
only report wrong ones here. So a source's failures can slow down that source's next
*wrong* attempts (exponential backoff), never anybody's right one.

Failures are counted per window (``auth_failure_window_s``) for the source address and
for the presented credential's fingerprint (a digest: the same wrong token replayed
from many addresses backs off too). Each source gets one audit row per window: written
at its first failure, its count brought up to date when the window closes (or on
``flush``), instead of one write per attempt.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from scs_server.settings import Settings

SWEEP_EVERY_S = 30.0


def fingerprint(credential: str | None) -> str:
    """A short digest of a presented credential (never stored or logged as is)."""
    data = (credential or "").encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, digest_size=12).hexdigest()


@dataclass
class Failures:
    """Failures of one source (or one credential) in the current window."""

    opened: float
    count: int = 0
    backoff_until: float = 0.0
    kinds: Counter[str] = field(default_factory=Counter)
    audit_row: int | None = None  # the source's audit row for this window, once written
    audited: int = 0  # the count that row shows

    def summary(self, window_s: int) -> str:
        kinds = ",".join(f"{kind}:{n}" for kind, n in sorted(self.kinds.items()))
        return f"count={self.count} kinds={kinds} window_s={window_s}"


@dataclass
class AuditUpdate:
    """An audit row whose count must be brought up to date."""

    row: int
    detail: str


class FailureThrottle:
    """In-memory failure counts with backoff; bounded (least recently failing first out)."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = settings.auth_failure_window_s
        self.free = settings.auth_backoff_after
        self.base_s = settings.auth_backoff_base_s
        self.max_s = settings.auth_backoff_max_s
        self.max_tracked = settings.auth_max_tracked
        self.clock = clock
        self._records: OrderedDict[tuple[str, str], Failures] = OrderedDict()
        self._pending: list[AuditUpdate] = []
        self._next_sweep = clock() + SWEEP_EVERY_S
        self.failures_by_kind: Counter[str] = Counter()
        self.throttled = 0

    def _current(self, key: tuple[str, str], now: float) -> Failures | None:
        record = self._records.get(key)
        if record is not None and now - record.opened >= self.window_s:
            if now < record.backoff_until:
                return record  # a backoff outlives its window
            self._close(key, record)
            return None
        return record

    def _close(self, key: tuple[str, str], record: Failures) -> None:
        del self._records[key]
        self._queue_update(record)

    def _queue_update(self, record: Failures) -> None:
        if record.audit_row is not None and record.count > record.audited:
            record.audited = record.count
            self._pending.append(AuditUpdate(record.audit_row, record.summary(self.window_s)))

    def wait(self, source: str, credential: str | None) -> float:
        """Seconds until ``source`` (or this wrong credential) may try again; 0 if now."""
        now = self.clock()
        waits = [0.0]
        for key in (("source", source), ("credential", fingerprint(credential))):
            record = self._current(key, now)
            if record is not None:
                waits.append(record.backoff_until - now)
        return max(waits)

    def refused(self) -> None:
        """Count a wrong attempt refused early (during its backoff)."""
        self.throttled += 1

    def record(self, source: str, credential: str | None, kind: str) -> Failures | None:
        """Count a wrong credential; return the source's record when this failure opened
        its window (the caller writes the audit row and sets ``audit_row``)."""
        now = self.clock()
        if now >= self._next_sweep:
            self.sweep(now)
        self.failures_by_kind[kind] += 1
        opened: Failures | None = None
        for scope, ident in (("source", source), ("credential", fingerprint(credential))):
            key = (scope, ident)
            record = self._current(key, now)
            if record is None:
                record = self._records[key] = Failures(opened=now)
                if scope == "source":
                    opened = record
            else:
                self._records.move_to_end(key)
            record.count += 1
            record.kinds[kind] += 1
            beyond = record.count - self.free  # after `free` failures: base, 2 base, 4 base...
            if beyond >= 0:
                delay = min(self.max_s, self.base_s * 2 ** min(beyond, 32))
                record.backoff_until = max(record.backoff_until, now + delay)
        while len(self._records) > self.max_tracked:
            _, evicted = self._records.popitem(last=False)
            self._queue_update(evicted)
        return opened

    def sweep(self, now: float | None = None) -> None:
        """Close every window that has ended (their audit counts are queued)."""
        now = self.clock() if now is None else now
        for key in list(self._records):
            self._current(key, now)
        self._next_sweep = now + SWEEP_EVERY_S

    def flush(self) -> list[AuditUpdate]:
        """Queue every open window's count and return the audit updates to write."""
        for record in self._records.values():
            self._queue_update(record)
        return self.take_updates()

    def take_updates(self) -> list[AuditUpdate]:
        """The audit updates queued since the last call."""
        updates, self._pending = self._pending, []
        return updates

    def __len__(self) -> int:
        return len(self._records)

    def stats(self) -> dict[str, object]:
        return {
            "failures": dict(self.failures_by_kind),
            "throttled": self.throttled,
            "tracked": len(self._records),
        }
