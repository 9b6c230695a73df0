"""``workers.spread``: every part runs once, on the caller's thread and the pool's;
``workers.slices`` cuts a range into them."""

from __future__ import annotations

import threading

import pytest
from scs_search.workers import slices, spread


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_every_part_runs_once(workers: int) -> None:
    done: list[int] = []
    threads: set[int] = set()
    lock = threading.Lock()
    both = threading.Barrier(min(workers, 2), timeout=5)

    def run(part: int) -> None:
        if part < 2 and workers > 1:
            both.wait()  # the first two parts run at once: two threads take parts
        with lock:
            done.append(part)
            threads.add(threading.get_ident())

    spread(run, list(range(40)), workers)
    assert sorted(done) == list(range(40))
    if workers == 1:
        assert threads == {threading.get_ident()}
    else:  # (with one thread the barrier would have timed out)
        assert len(threads) >= 2


def test_an_error_in_a_part_reaches_the_caller() -> None:
    def run(part: int) -> None:
        if part == 7:
            raise ValueError("part 7")

    with pytest.raises(ValueError, match="part 7"):
        spread(run, list(range(20)), 2)


def test_slices_cover_a_range_once() -> None:
    assert slices(10, 4) == [slice(0, 4), slice(4, 8), slice(8, 12)]
    assert slices(8, 4) == [slice(0, 4), slice(4, 8)]
    assert slices(0, 4) == []
