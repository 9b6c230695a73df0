"""The threads a search spreads its CPU work over (RapidFuzz and the locality kernel
release the GIL)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from scs_server.cpu import lower_priority

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
