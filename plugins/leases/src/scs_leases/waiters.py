"""Waiting for leases: an in-process, first-come-first-served queue of waiters.

A waiter holds no database connection while it waits. It is woken by the change feed
(topic ``leases``: every grant, renewal, release and expiry batch, from this process or
any other on the same database), by another waiter leaving the queue, or by its own
timer (the earliest expiry among the leases in its way, and ``wait_poll_s`` at most).

First come, first served: a waiter tries only when no earlier waiter of this process
asks for an overlapping resource, so in one process overlapping requests are granted in
arrival order. Across processes and replicas the order is best effort: each process
retries its own head waiter when it learns of a change, and whichever commits first wins.
A request with ``wait_s=0`` never queues (it may take a resource a waiter is queued for).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from dataclasses import dataclass, field

from scs_leases.globs import overlaps


@dataclass(eq=False)
class Waiter:
    resources: tuple[str, ...]
    order: int
    woken: asyncio.Event = field(default_factory=asyncio.Event)

    def wants_any_of(self, resources: tuple[str, ...]) -> bool:
        return any(overlaps(mine, theirs) for mine in self.resources for theirs in resources)


@dataclass
class WaitQueue:
    """The waiters of one App, in arrival order."""

    waiters: list[Waiter] = field(default_factory=list)
    _counter: itertools.count[int] = field(default_factory=itertools.count)

    def join(self, resources: tuple[str, ...]) -> Waiter:
        waiter = Waiter(resources, next(self._counter))
        self.waiters.append(waiter)
        return waiter

    def leave(self, waiter: Waiter) -> None:
        if waiter in self.waiters:
            self.waiters.remove(waiter)
        self.wake_all()  # the next in line may now try

    def may_try(self, waiter: Waiter) -> bool:
        """True when no earlier waiter wants a resource overlapping this one's."""
        for earlier in self.waiters:
            if earlier is waiter:
                return True
            if earlier.wants_any_of(waiter.resources):
                return False
        return True

    def wake_all(self) -> None:
        for waiter in self.waiters:
            waiter.woken.set()

    def __len__(self) -> int:
        return len(self.waiters)


async def sleep_until_woken(waiter: Waiter, timeout: float) -> None:
    """Wait for a wake-up or ``timeout`` seconds, whichever comes first."""
    if timeout <= 0:
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(waiter.woken.wait(), timeout)
