"""The session indexes kept in memory: loaded on first search, kept current, bounded.

An index is checked against the database before it serves a search unless the core's
change feed says nothing it lacks was committed since its last check: the plugin
follows the ``messages`` and ``sessions`` topics (``changes.py``), and
``db.changes.poll()`` before each decision delivers other processes' commits (SQLite:
at once; PostgreSQL: NOTIFY, within the feed's latency). A check adds the messages
above the index's watermark (keyset pages), then the session's message count up to
the watermark must match what the index holds; a deletion makes the index rebuild.
``message.added`` events add new messages without waiting for the next check, so
after this process's own writes the feed's announced ids are already held and no
check runs.

Memory is bounded in bytes (``SCS_SEARCH_INDEX_MAX_BYTES``, each index's
approximate size) and in messages: least recently searched indexes are dropped
first. A search over every session asks for indexes that are not resident with
``resident=False``: such an index is kept only if it fits, else it is built,
scored and dropped, so one search cannot push out everything else or grow memory
with the number of sessions. Preparing rows runs in a worker thread unless they
are few and short.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from scs_messaging import api as messaging
from scs_server import ErrorCode, ScsError
from scs_server.cpu import run_cpu
from scs_server.errors import not_found
from scs_server.jsonvalues import UNREADABLE, decode_stored
from scs_sessions.api import session_state

from scs_search.changes import TOPICS, Announced
from scs_search.text import MAX_SCORED_CHARS

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from scs_server.storage import Database, Row, Subscription

    from scs_search.index import SessionIndex

log = logging.getLogger("scs.search")
ATTEMPTS = 3
INLINE_ROWS = 200  # prepare fewer, short rows on the event loop (a thread hop costs more)
INLINE_CHARS = 50_000


def index_metadata(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    value = decode_stored(text, "metadata")
    # unreadable (not JSON, too deep: written by someone else): search it without metadata
    return value if isinstance(value, dict) and UNREADABLE not in value else None


def index_message(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "sender": row["sender"],
        "sender_type": row["sender_type"],
        "content": row["content"],
        "visibility": row["visibility"],
        "metadata": index_metadata(row["metadata"]),
        "timestamp": row["timestamp"],
    }


def _add_rows(index: SessionIndex, rows: list[Row]) -> None:
    index.add_synced([index_message(row) for row in rows])


def inline_rows(rows: list[Row], max_chars: int) -> bool:
    """Whether preparing ``rows`` is quick enough for the event loop."""
    if len(rows) >= INLINE_ROWS:
        return False
    chars = sum(min(len(row["content"]), max_chars) + len(row["metadata"] or "") for row in rows)
    return chars < INLINE_CHARS


async def add_rows(rows: list[Row], max_chars: int, add: Callable[..., None], *args: Any) -> bool:
    """``add(*args, rows)``: on the event loop when quick, else on the CPU lane (preparing
    many or long texts would hold up the loop); True when it went to the lane."""
    if inline_rows(rows, max_chars):
        add(*args, rows)
        return False
    await run_cpu(add, *args, rows)
    return True


class IndexCache:
    """Session indexes, least recently used dropped first beyond ``max_bytes`` or
    ``max_messages``."""

    def __init__(
        self,
        db: Database,
        max_messages: int,
        max_bytes: int,
        max_chars: int = MAX_SCORED_CHARS,
    ) -> None:
        self.db = db
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self.max_chars = max_chars
        self._indexes: OrderedDict[str, SessionIndex] = OrderedDict()
        # (bytes, messages) of each resident index when last measured, and their sums
        self._sizes: dict[str, tuple[int, int]] = {}
        self._bytes = 0
        self._messages = 0
        # held by the corpus of every session (``everything.py``): the same budgets
        self.reserved_bytes = 0
        self.reserved_messages = 0
        self._locks: dict[str, asyncio.Lock] = {}
        self.changes = Announced()
        self._subscription: Subscription | None = None
        self.stats = {
            "loads": 0,
            "rebuilds": 0,
            "checks": 0,
            "unchanged": 0,
            "poll_failures": 0,
            "synced_rows": 0,
            "event_rows": 0,
            "streamed": 0,
            "evicted": 0,
            "thread_loads": 0,
        }

    async def follow(self) -> None:
        """Subscribe to the change feed; until then every search checks the database."""
        if self._subscription is None:
            self._subscription = await self.db.changes.subscribe(
                self.changes.on_change, topics=TOPICS
            )

    def _unchanged(self, index: SessionIndex) -> bool:
        """Whether nothing the index lacks was committed since its last check."""
        if self._subscription is None:
            return False
        try:
            self.db.changes.poll()  # other processes' commits, delivered now (SQLite)
        except ScsError:
            self.stats["poll_failures"] += 1
            self.changes.everything()
            return False
        if not self.db.changes.live:  # reconnecting (PostgreSQL): changes may be unseen
            self.changes.everything()
            return False
        return self.changes.settled(index.session_id, index.holds)

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._indexes

    @property
    def indexed_messages(self) -> int:
        return self._messages

    def nbytes(self) -> int:
        """Approximate bytes held by the resident indexes."""
        return self._bytes

    def _measure(self, session_id: str, index: SessionIndex | None) -> None:
        """Update the totals with the current size of a resident index (None: it left)."""
        old_bytes, old_messages = self._sizes.pop(session_id, (0, 0))
        self._bytes -= old_bytes
        self._messages -= old_messages
        if index is not None:
            size = (index.nbytes(), len(index))
            self._sizes[session_id] = size
            self._bytes += size[0]
            self._messages += size[1]

    def _fits(self, index: SessionIndex) -> bool:
        return (
            self._bytes + index.nbytes() <= self.max_bytes - self.reserved_bytes
            and self._messages + len(index) <= self.max_messages - self.reserved_messages
        )

    def _over(self) -> bool:
        return (
            self._bytes > self.max_bytes - self.reserved_bytes
            or self._messages > self.max_messages - self.reserved_messages
        )

    def reserve(self, nbytes: int, messages: int) -> None:
        """Leave ``nbytes`` and ``messages`` of the budgets to the corpus of every session;
        least recently used session indexes are dropped to make room (the corpus
        serves every search without ``session_id``; a named session is loaded again)."""
        self.reserved_bytes, self.reserved_messages = nbytes, messages
        if self._over():
            self._evict(keep=None)

    async def fresh(self, session_id: str, *, resident: bool = True) -> SessionIndex:
        """The session's index, up to date with the database; not found if no such session.

        With ``resident=False`` an index that was not in memory is kept only if it fits
        in the budgets without dropping another one.
        """
        lock = self._locks.setdefault(session_id, asyncio.Lock())
        async with lock:
            index = self._indexes.get(session_id)
            if index is not None and self._unchanged(index):
                self.stats["unchanged"] += 1
                self._indexes.move_to_end(session_id)
                return index
            self.changes.track(session_id)  # what commits during the check is recorded
            try:
                index = await self._checked(session_id, index)
            except BaseException:
                self.changes.forget(session_id)  # its next search checks again
                raise
            if not resident and session_id not in self._indexes and not self._fits(index):
                self.stats["streamed"] += 1  # used for this search only, never resident
                self.changes.forget(session_id)
                return index
            self._indexes[session_id] = index
            self._indexes.move_to_end(session_id)
            self._measure(session_id, index)
            self._evict(keep=session_id)
            return index

    async def _checked(self, session_id: str, index: SessionIndex | None) -> SessionIndex:
        """``index`` (or a new one) brought up to date; rebuilt when it is out of step."""
        for _ in range(ATTEMPTS):
            if index is None:
                from scs_search.index import SessionIndex  # numpy: paid on the first search

                index = SessionIndex(session_id, self.max_chars)
                self.stats["loads"] += 1
            if await self._sync(index):
                return index
            log.info("search index of session %s is out of step; rebuilding", session_id)
            self.stats["rebuilds"] += 1
            index = None
        raise ScsError(  # pragma: no cover - a fresh load matches what it read
            ErrorCode.DATABASE_BUSY,
            f"session {session_id} changed while it was being indexed",
            "retry the search",
            retryable=True,
        )

    async def _sync(self, index: SessionIndex) -> bool:
        """Bring ``index`` up to date; False when it holds something the database does not.

        No read transaction is needed: a session's message ids follow its commit order,
        so the pages miss nothing below the watermark, and the count up to it tells a
        deletion made meanwhile.
        """
        self.stats["checks"] += 1
        async with self.db.read() as r:
            if await session_state(r, index.session_id) == "missing":
                self.drop(index.session_id)
                raise not_found("session", index.session_id)
            async for rows in messaging.rows_after(r, index.session_id, index.synced_id):
                if await add_rows(rows, self.max_chars, _add_rows, index):
                    self.stats["thread_loads"] += 1
                self.stats["synced_rows"] += len(rows)
            count = await messaging.count_upto(r, index.session_id, index.synced_id)
        return len(index) - len(index.ahead) == count  # the rows up to the watermark

    def added(self, message: Mapping[str, Any]) -> None:
        """A ``message.added`` event: index it now if its session is loaded."""
        index = self._indexes.get(str(message.get("session_id")))
        if index is not None and index.add_event(message):
            self.stats["event_rows"] += 1
            self._measure(index.session_id, index)

    def drop(self, session_id: str) -> None:
        self._indexes.pop(session_id, None)
        self._measure(session_id, None)
        self._forget(session_id)

    def _forget(self, session_id: str) -> None:
        self.changes.forget(session_id)
        lock = self._locks.get(session_id)
        if lock is not None and not lock.locked():
            del self._locks[session_id]

    def close(self) -> None:
        self._indexes.clear()
        self._sizes.clear()
        self._bytes = self._messages = 0
        self.changes = Announced()
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None

    def _evict(self, keep: str | None) -> None:
        """Drop least recently used indexes until both budgets hold (``keep`` stays)."""
        while self._over() and len(self._indexes) > (0 if keep is None else 1):
            session_id = next(iter(self._indexes))
            if session_id == keep:
                self._indexes.move_to_end(session_id)
                continue
            self.drop(session_id)
            self.stats["evicted"] += 1
