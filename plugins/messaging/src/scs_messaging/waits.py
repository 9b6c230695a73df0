"""Blocking waits (``wait_for_messages``): who waits on what, and waking them.

A waiter holds no database connection while it waits: it registers an ``asyncio.Event``
under a key (``("session", id)`` or ``("agent", id)``), and a change-feed subscription
sets the events of the key a committed change names. In-process writes arrive right
after their commit; other processes' and replicas' through the feed's watcher. A woken
waiter re-queries with its own visibility, so an invisible write never ends a wait.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from typing import TYPE_CHECKING, Any

from scs_server import ErrorCode, ScsError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator

    from scs_server.storage import Change, Subscription

Key = tuple[str, str]


class Wakeups:
    """Events of the waiters per key, woken from the change feed; per-agent wait counts.

    The messaging plugin provides the app's one ``Wakeups`` as a service; other plugins
    (the inbox) add their topics to it."""

    def __init__(self, max_per_agent: int) -> None:
        self.max_per_agent = max_per_agent
        self.waiters: dict[Key, set[asyncio.Event]] = {}
        self.per_agent: Counter[str] = Counter()
        self.key_of: dict[str, Callable[[Any], Key | None]] = {}
        self.subscriptions: list[Subscription] = []

    def watch(self, topic: str, key_of: Callable[[Any], Key | None]) -> None:
        """Wake the waiters of ``key_of(payload)`` on each change of ``topic``."""
        self.key_of[topic] = key_of

    async def start(self, subscribe: Callable[..., Awaitable[Subscription]]) -> None:
        self.subscriptions.append(await subscribe(self.on_change, topics=tuple(self.key_of)))

    def close(self) -> None:
        for subscription in self.subscriptions:
            subscription.close()
        self.subscriptions.clear()

    def on_change(self, change: Change) -> None:
        if change.gap:  # changes were missed: every waiter re-queries
            for events in self.waiters.values():
                for event in events:
                    event.set()
            return
        key_of = self.key_of.get(change.topic)
        if key_of is None or not isinstance(change.payload, dict):
            return
        key = key_of(change.payload)
        for event in self.waiters.get(key, ()) if key is not None else ():
            event.set()

    @contextlib.contextmanager
    def waiting(self, agent_id: str, key: Key) -> Iterator[asyncio.Event]:
        """Register a waiter (refused over the agent's cap); always unregistered on exit,
        whether the wait ends, times out, is cancelled or its client goes away."""
        if self.per_agent[agent_id] >= self.max_per_agent:
            raise ScsError(
                ErrorCode.LIMIT_EXCEEDED,
                f"agent {agent_id} already has {self.max_per_agent} waits running",
                "let one finish (or lower timeout_s); raise SCS_MESSAGING_MAX_WAITS_PER_AGENT",
                limit=self.max_per_agent,
            )
        event = asyncio.Event()
        self.per_agent[agent_id] += 1
        self.waiters.setdefault(key, set()).add(event)
        try:
            yield event
        finally:
            events = self.waiters.get(key)
            if events is not None:
                events.discard(event)
                if not events:
                    del self.waiters[key]
            self.per_agent[agent_id] -= 1
            if self.per_agent[agent_id] <= 0:
                del self.per_agent[agent_id]

    def count(self) -> int:
        """Waiters registered now (for tests and stats)."""
        return sum(len(events) for events in self.waiters.values())


async def wait_until(
    wakeups: Wakeups,
    agent_id: str,
    key: Key,
    query: Callable[[], Awaitable[list[dict[str, Any]]]],
    timeout_s: float,
    progress: Callable[[float, float], Awaitable[None]] | None,
    progress_every_s: float,
) -> tuple[list[dict[str, Any]], bool]:
    """Run ``query`` until it finds something or ``timeout_s`` passes; (found, timed_out).

    The waiter is registered before the first query and its event cleared before each
    one, so a change committed between a query and the wait still wakes it.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + timeout_s
    with wakeups.waiting(agent_id, key) as event:
        next_progress = started + progress_every_s
        while True:
            event.clear()
            found = await query()
            if found:
                return found, False
            now = loop.time()
            if now >= deadline:
                return [], True
            until = min(deadline, next_progress) if progress is not None else deadline
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(until):
                    await event.wait()
            if progress is not None and not event.is_set() and loop.time() >= next_progress:
                await progress(loop.time() - started, timeout_s)
                next_progress += progress_every_s
