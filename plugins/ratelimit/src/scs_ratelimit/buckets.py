"""Token buckets, and a bounded table of them keyed by (who, class)."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable


@dataclass
class TokenBucket:
    """``burst`` tokens at most, refilled at ``rate`` tokens per second."""

    rate: float
    burst: int
    tokens: float
    updated: float

    def refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
            self.updated = now

    def take(self, now: float) -> float:
        """Take one token: 0.0 when allowed, else the seconds until one is available."""
        self.refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate

    def give_back(self) -> None:
        """Return one token taken for a call that turned out not to count."""
        self.tokens = min(float(self.burst), self.tokens + 1.0)

    def wait(self, now: float) -> float:
        """Seconds until a token is available (0.0 if one is), without taking it."""
        self.refill(now)
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate

    def full_at(self) -> float:
        """When the bucket will be full again; a full bucket is the same as no bucket."""
        return self.updated + (self.burst - self.tokens) / self.rate


def retry_after_seconds(wait: float) -> int:
    """Whole seconds for a ``retry_after`` field (as HTTP's Retry-After), at least 1."""
    return max(1, math.ceil(wait))


class BucketTable:
    """Buckets by key, bounded: full (idle) buckets are dropped by a periodic sweep,
    and past ``max_buckets`` the least recently used bucket goes first."""

    def __init__(
        self,
        max_buckets: int,
        clock: Callable[[], float] = time.monotonic,
        sweep_every: float = 30.0,
    ) -> None:
        self.max_buckets = max_buckets
        self.clock = clock
        self.sweep_every = sweep_every
        self._buckets: OrderedDict[Hashable, TokenBucket] = OrderedDict()
        self._next_sweep = clock() + sweep_every
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._buckets)

    def get(self, key: Hashable, rate: float, burst: int, now: float | None = None) -> TokenBucket:
        now = self.clock() if now is None else now
        if now >= self._next_sweep:
            self.sweep(now)
        bucket = self._buckets.get(key)
        if bucket is None or bucket.rate != rate or bucket.burst != burst:
            bucket = TokenBucket(rate, burst, float(burst), now)
            self._buckets[key] = bucket
            while len(self._buckets) > self.max_buckets:
                self._buckets.popitem(last=False)
                self.dropped += 1
        else:
            self._buckets.move_to_end(key)
        return bucket

    def peek(self, key: Hashable) -> TokenBucket | None:
        return self._buckets.get(key)

    def sweep(self, now: float | None = None) -> int:
        """Drop every bucket that has refilled completely; return how many went."""
        now = self.clock() if now is None else now
        idle = [key for key, bucket in self._buckets.items() if bucket.full_at() <= now]
        for key in idle:
            del self._buckets[key]
        self.dropped += len(idle)
        self._next_sweep = now + self.sweep_every
        return len(idle)
