"""The change feed: committed changes from this process at once, from others via a watcher.

Each engine writes ``tx.emit(topic, payload)`` into the durable ``scs_changes`` table in
the committing transaction (so ``seq`` follows commit order), hands this process's own
changes to ``Feed.deliver`` right after the commit, and runs one watcher (started by the
first subscriber) that delivers the changes of every other process: SQLite polls
``PRAGMA data_version``, PostgreSQL listens for ``NOTIFY``. A watcher remembers the last
``seq`` it saw and reads ``seq > last`` whenever it may have missed something, so a
reconnect loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from typing import TYPE_CHECKING, Any, Protocol

from scs_server.errors import validation_error
from scs_server.storage.api import GAP_TOPIC, Change

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable

    from scs_server.storage.api import Row

log = logging.getLogger("scs.storage.feed")

TOPIC = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
CATCH_UP_LIMIT = 10_000
PRUNE_EVERY = 1000  # emitted changes between two prunes of scs_changes

# ``oldest`` (one index probe, the same snapshot as the rows) tells a reader whether a
# prune took rows it had not read yet: then the oldest row left is past ``last + 1``
CATCH_UP_SQL = (
    "SELECT seq, topic, payload, origin, (SELECT MIN(seq) FROM scs_changes) AS oldest"
    " FROM scs_changes WHERE seq > ? ORDER BY seq LIMIT ?"
)
QUEUE_LIMIT = 10_000  # changes a listen() consumer may leave unread before a gap
LAST_SEQ_SQL = "SELECT COALESCE(MAX(seq), 0) FROM scs_changes"
# Keeps every change from the cutoff on, and always the newest one (so that SQLite never
# hands out a pruned seq again). ``at`` grows with ``seq``: the scan in seq order stops
# at the first row to keep, and no index on ``at`` slows every emit down.
PRUNE_SQL = (
    "DELETE FROM scs_changes WHERE seq < COALESCE("
    "(SELECT seq FROM scs_changes WHERE at >= ? ORDER BY seq LIMIT 1),"
    " (SELECT MAX(seq) FROM scs_changes))"
)


_GOOD_TOPICS: set[str] = set()
_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str)  # one, not one per call


def check_topic(topic: str) -> str:
    if topic in _GOOD_TOPICS:
        return topic
    if not TOPIC.match(topic):
        raise validation_error(
            f"bad change topic {topic!r}", "use 1-100 letters, digits, '_', '.', ':' or '-'"
        )
    if len(_GOOD_TOPICS) < 1024:
        _GOOD_TOPICS.add(topic)
    return topic


def encode_payload(payload: Any) -> str:
    return _ENCODER.encode(payload)


class Pending:
    """A change emitted in an open transaction: written and published at its commit."""

    __slots__ = ("encoded", "payload", "topic")

    def __init__(self, topic: str, payload: Any) -> None:
        self.topic = check_topic(topic)
        self.payload = payload
        self.encoded = encode_payload(payload)


def decode_change(seq: int, topic: str, payload: str | None) -> Change:
    return Change(int(seq), topic, json.loads(payload) if payload else None)


class Watcher(Protocol):
    """An engine's source of other processes' changes."""

    live: bool
    """Watching now (``ChangeFeed.live``)."""

    async def start(self) -> None:
        """Begin watching; changes committed after this returns are delivered."""
        ...

    async def stop(self) -> None: ...

    def poll(self) -> None:
        """Deliver other processes' committed changes now if the engine can (else nothing)."""
        ...


class _Subscription:
    __slots__ = ("callback", "feed", "topics")

    def __init__(
        self, feed: Feed, callback: Callable[[Change], None], topics: Collection[str] | None
    ) -> None:
        self.feed = feed
        self.callback = callback
        self.topics = frozenset(topics) if topics is not None else None

    def close(self) -> None:
        with contextlib.suppress(ValueError):
            self.feed.subscribers.remove(self)


class Feed:
    """Subscribers and delivery; the engine supplies the watcher and calls ``deliver``."""

    def __init__(
        self,
        make_watcher: Callable[[Feed], Watcher],
        fetch_all: Callable[[str, tuple[Any, ...]], Awaitable[list[Any]]] | None = None,
    ) -> None:
        self._fetch_all = fetch_all
        self.subscribers: list[_Subscription] = []
        self.last_seq = 0  # the highest seq a watcher has read (every origin)
        self.delivered = 0
        self.gaps = 0
        self._make_watcher = make_watcher
        self._watcher: Watcher | None = None
        self._starting: asyncio.Lock | None = None

    async def subscribe(
        self, callback: Callable[[Change], None], topics: Collection[str] | None = None
    ) -> _Subscription:
        """Call ``callback(change)`` on the event loop for each committed change of ``topics``.

        Changes of this process arrive right after their commit; those of other
        processes as soon as the watcher sees them. Exceptions in ``callback`` are logged.
        """
        await self._ensure_watching()
        subscription = _Subscription(self, callback, topics)
        self.subscribers.append(subscription)
        return subscription

    async def listen(
        self, topics: Collection[str] | None = None, *, limit: int = QUEUE_LIMIT
    ) -> AsyncIterator[Change]:
        """Every change of ``topics`` committed from now on (the iterator never ends by
        itself); a consumer more than ``limit`` behind gets one gap instead of the backlog."""
        queue = ChangeQueue(limit)
        subscription = await self.subscribe(queue.put, topics)
        try:
            while True:
                yield await queue.get()
        finally:
            subscription.close()

    @property
    def position(self) -> int:
        """The seq up to which every committed change has reached this process's watcher
        (in commit order, no gaps; 0 before the first ``subscribe``). Call ``poll`` first
        for the freshest figure on SQLite."""
        return self.last_seq

    @property
    def live(self) -> bool:
        """Whether the watcher is watching now (``ChangeFeed.live``)."""
        return self._watcher is not None and self._watcher.live

    async def since(
        self, seq: int, topics: Collection[str], limit: int
    ) -> tuple[list[Change], bool]:
        """The durable changes of ``topics`` committed after ``seq``, in commit order (at
        most ``limit``), and whether they are all there: False when changes after ``seq``
        were pruned (older than ``SCS_CHANGES_RETENTION_S``)."""
        if self._fetch_all is None or not topics:
            return [], False
        marks = ", ".join("?" for _ in topics)
        rows = await self._fetch_all(
            f"SELECT seq, topic, payload FROM scs_changes WHERE seq > ? AND topic IN ({marks})"
            " ORDER BY seq LIMIT ?",
            (seq, *topics, limit),
        )
        oldest = await self._fetch_all("SELECT MIN(seq) AS oldest FROM scs_changes", ())
        first = oldest[0]["oldest"] if oldest else None
        complete = first is None or int(first) <= seq + 1
        return [decode_change(r["seq"], r["topic"], r["payload"]) for r in rows], complete

    def deliver(self, changes: Iterable[Change]) -> None:
        for change in changes:
            self.delivered += 1
            for subscription in tuple(self.subscribers):
                if subscription.topics is None or change.topic in subscription.topics:
                    _call(subscription, change)

    def take(self, rows: list[Row], origin: str) -> bool:
        """Deliver a page of ``CATCH_UP_SQL`` rows read after ``last_seq`` (not those of
        ``origin``: this process delivered its own at commit); a gap first when a prune
        took some before they were read. True when the page was full: read on."""
        if not rows:
            return False
        if rows[0]["oldest"] > self.last_seq + 1:
            log.warning(
                "change feed: changes after seq %d were pruned before this process read them"
                " (it was behind longer than SCS_CHANGES_RETENTION_S); subscribers resynchronise",
                self.last_seq,
            )
            self.gap("retention")
        self.last_seq = rows[-1]["seq"]
        self.deliver(
            decode_change(r["seq"], r["topic"], r["payload"]) for r in rows if r["origin"] != origin
        )
        return len(rows) >= CATCH_UP_LIMIT

    def gap(self, reason: str) -> None:
        """Tell every subscriber (whatever its topics) that changes were missed."""
        self.gaps += 1
        change = Change(self.last_seq, GAP_TOPIC, {"reason": reason, "after": self.last_seq})
        for subscription in tuple(self.subscribers):
            _call(subscription, change)

    def poll(self) -> None:
        """Deliver what other processes committed so far, where the engine can (see ChangeFeed)."""
        if self._watcher is not None:
            self._watcher.poll()

    async def _ensure_watching(self) -> None:
        if self._watcher is not None:
            return
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._watcher is None:
                watcher = self._make_watcher(self)
                await watcher.start()
                self._watcher = watcher

    async def close(self) -> None:
        self.subscribers.clear()
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            await watcher.stop()


def _call(subscription: _Subscription, change: Change) -> None:
    try:
        subscription.callback(change)
    except Exception:
        log.exception("a change-feed subscriber failed on %s", change.topic)


class ChangeQueue:
    """Changes for a consumer that reads at its own pace (``subscribe(queue.put, …)``),
    bounded: when ``limit`` wait unread they are dropped for one gap (``Change.gap``),
    after which changes queue again. Use it where a callback cannot act at once."""

    def __init__(self, limit: int = QUEUE_LIMIT) -> None:
        self.limit = limit
        self.overflows = 0
        self._queue: asyncio.Queue[Change] = asyncio.Queue()

    def put(self, change: Change) -> None:
        queue = self._queue
        if queue.qsize() >= self.limit:
            self.overflows += 1
            after = queue.get_nowait().seq - 1  # the consumer has seen up to there
            while not queue.empty():
                queue.get_nowait()
            queue.put_nowait(Change(after, GAP_TOPIC, {"reason": "overflow", "after": after}))
        queue.put_nowait(change)

    async def get(self) -> Change:
        return await self._queue.get()

    def get_nowait(self) -> Change:
        """The next change; ``asyncio.QueueEmpty`` when there is none."""
        return self._queue.get_nowait()

    def empty(self) -> bool:
        return self._queue.empty()

    def qsize(self) -> int:
        return self._queue.qsize()


class Pruner:
    """Deletes changes older than the retention every PRUNE_EVERY emitted changes."""

    def __init__(
        self, retention_s: float, run: Callable[[str, tuple[Any, ...]], Awaitable[int]]
    ) -> None:
        self.retention_s = retention_s
        self._run = run
        self._emitted = 0
        self._task: asyncio.Task[None] | None = None

    def emitted(self, count: int) -> None:
        self._emitted += count
        if self._emitted >= PRUNE_EVERY and self._task is None:
            self._emitted = 0
            self._task = asyncio.get_running_loop().create_task(self.prune())

    async def prune(self) -> None:
        try:
            await self._run(PRUNE_SQL, (time.time() - self.retention_s,))
        except Exception:
            log.warning("pruning the change feed failed; retried later", exc_info=True)
        finally:
            self._task = None

    async def close(self) -> None:
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
