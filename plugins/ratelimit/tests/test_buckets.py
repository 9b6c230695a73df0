"""The bucket table stays bounded: idle (full) buckets are swept, the cap evicts LRU."""

from __future__ import annotations

from scs_ratelimit.buckets import BucketTable, TokenBucket, retry_after_seconds


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_refills_at_its_rate() -> None:
    bucket = TokenBucket(rate=1.0, burst=2, tokens=2.0, updated=0.0)
    assert bucket.take(0.0) == 0.0
    assert bucket.take(0.0) == 0.0
    assert bucket.take(0.0) == 1.0
    assert bucket.wait(0.5) == 0.5
    assert bucket.take(1.0) == 0.0
    assert retry_after_seconds(0.01) == 1 and retry_after_seconds(2.2) == 3


def test_sweep_drops_only_full_buckets() -> None:
    clock = Clock()
    table = BucketTable(100, clock=clock, sweep_every=10)
    table.get("busy", 1.0, 5).take(clock.now)
    table.get("idle", 1.0, 5)
    clock.now += 0.5
    assert table.sweep() == 1  # "idle" never lost a token
    assert table.peek("busy") is not None and table.peek("idle") is None
    clock.now += 1.0
    assert table.sweep() == 1
    assert len(table) == 0


def test_cap_evicts_least_recently_used() -> None:
    clock = Clock()
    table = BucketTable(10, clock=clock, sweep_every=1e9)
    for n in range(25):
        table.get(n, 1.0, 5).take(clock.now)
        table.get(0, 1.0, 5)  # keep 0 recently used
    assert len(table) == 10
    assert table.peek(0) is not None and table.peek(1) is None
    assert table.dropped == 15


def test_periodic_sweep_runs_on_use() -> None:
    clock = Clock()
    table = BucketTable(100, clock=clock, sweep_every=10)
    for n in range(50):
        table.get(n, 1.0, 5).take(clock.now)
    clock.now += 11
    table.get("new", 1.0, 5)
    assert len(table) == 1
