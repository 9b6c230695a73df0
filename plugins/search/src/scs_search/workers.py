"""The threads a search spreads its CPU work over (RapidFuzz and the locality kernel
release the GIL)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar

from scs_server.cpu import lower_priority

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

Part = TypeVar("Part")

_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def pool(workers: int) -> ThreadPoolExecutor:
    """``workers - 1`` threads (the caller's thread is the last worker).

    Shared by every App in the process and never shut down: idle threads cost nothing,
    and one App closing must not cancel another's search.
    """
    with _pools_lock:
        found = _pools.get(workers)
        if found is None:
            found = ThreadPoolExecutor(
                max_workers=workers - 1, thread_name_prefix="scs-search", initializer=lower_priority
            )
            _pools[workers] = found
        return found


def slices(count: int, step: int) -> list[slice]:
    """``0 .. count`` cut every ``step`` items, for ``spread``."""
    return [slice(start, start + step) for start in range(0, count, step)]


def spread(run: Callable[[Part], None], parts: Sequence[Part], workers: int) -> None:
    """``run(part)`` for every part, on ``workers`` threads (the caller's among them), each
    taking the next part when it is done: a thread the OS gives less time to does less
    of the work (the pool's threads run at a lower priority)."""
    if workers <= 1 or len(parts) <= 1:
        for part in parts:
            run(part)
        return
    following = iter(parts)
    lock = threading.Lock()

    def drain() -> None:
        while True:
            with lock:
                part = next(following, None)
            if part is None:
                return
            run(part)

    futures = [pool(workers).submit(drain) for _ in range(min(workers, len(parts)) - 1)]
    try:
        drain()
    finally:
        for future in futures:
            future.result()
