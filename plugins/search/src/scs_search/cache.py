"""The session indexes kept in memory: loaded on first search, kept current, bounded.

Before an index serves a search it is checked against the database in one read
transaction: messages above its watermark are added, and the session's message
count and largest id must then match what the index holds. So writes made by
another process on the same database file (or anything the events missed) are
always seen; a deletion makes the index rebuild. ``message.added`` events add
new messages without waiting for the next check.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from scs import ErrorCode, ScsError
from scs.errors import not_found
from scs.jsonvalues import UNREADABLE, decode_stored

from scs_search import store
from scs_search.changes import ChangeMarker
from scs_search.index import SessionIndex

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Mapping

    from scs.db import Database

log = logging.getLogger("scs.search")
ATTEMPTS = 3
THREAD_ROWS = 500


def _metadata(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    value = decode_stored(text, "metadata")
    # unreadable (not JSON, too deep: written by someone else): search it without metadata
    return value if isinstance(value, dict) and UNREADABLE not in value else None


def _message(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "sender": row["sender"],
        "sender_type": row["sender_type"],
        "content": row["content"],
        "visibility": row["visibility"],
        "metadata": _metadata(row["metadata"]),
    }


def _add_rows(index: SessionIndex, rows: list[sqlite3.Row]) -> None:
    index.add_synced([_message(row) for row in rows])


class IndexCache:
    """Session indexes, least recently used dropped first beyond ``max_messages``."""

    def __init__(self, db: Database, max_messages: int) -> None:
        self.db = db
        self.max_messages = max_messages
        self._indexes: OrderedDict[str, SessionIndex] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}
        self._marker = ChangeMarker(db.path)
        # the database's commit marker when each index was last checked against it
        self._checked: dict[str, int] = {}
        self.stats = {
            "loads": 0,
            "rebuilds": 0,
            "checks": 0,
            "unchanged": 0,
            "synced_rows": 0,
            "event_rows": 0,
        }

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._indexes

    @property
    def indexed_messages(self) -> int:
        return sum(len(index) for index in self._indexes.values())

    def nbytes(self) -> int:
        return sum(index.nbytes() for index in self._indexes.values())

    async def fresh(self, session_id: str) -> SessionIndex:
        """The session's index, up to date with the database; not found if no such session."""
        lock = self._locks.setdefault(session_id, asyncio.Lock())
        async with lock:
            index = self._indexes.get(session_id)
            marker = self._marker.read()  # before the check: later commits change it
            if index is not None and marker is not None and self._checked.get(session_id) == marker:
                self.stats["unchanged"] += 1  # nothing committed anywhere since the last check
                self._indexes.move_to_end(session_id)
                return index
            self._checked.pop(session_id, None)
            for _ in range(ATTEMPTS):
                if index is None:
                    index = SessionIndex(session_id)
                    self.stats["loads"] += 1
                if await self._sync(index):
                    break
                log.info("search index of session %s is out of step; rebuilding", session_id)
                self.stats["rebuilds"] += 1
                index = None
            else:  # pragma: no cover - a fresh load matches its own snapshot
                raise ScsError(
                    ErrorCode.DATABASE_BUSY,
                    f"session {session_id} changed while it was being indexed",
                    "retry the search",
                    retryable=True,
                )
            assert index is not None
            if marker is not None:
                self._checked[session_id] = marker
            self._indexes[session_id] = index
            self._indexes.move_to_end(session_id)
            self._evict(keep=session_id)
            return index

    async def _sync(self, index: SessionIndex) -> bool:
        """Bring ``index`` up to date; False when it holds something the database does not."""
        self.stats["checks"] += 1
        async with self.db.read() as conn:
            await conn.execute("BEGIN")  # one snapshot for the rows and the fingerprint
            try:
                if not await store.session_exists(conn, index.session_id):
                    self.drop(index.session_id)
                    raise not_found("session", index.session_id)
                async for rows in store.rows_after(conn, index.session_id, index.synced_id):
                    if len(rows) < THREAD_ROWS:
                        _add_rows(index, rows)
                    else:  # preparing thousands of texts would hold up the event loop
                        await asyncio.to_thread(_add_rows, index, rows)
                    self.stats["synced_rows"] += len(rows)
                count, max_id = await store.fingerprint(conn, index.session_id)
            finally:
                await conn.execute("COMMIT")
        index.synced_to(max_id)
        held = len(index) - len(index.ahead)
        return held == count and (count == 0 or index.synced_id == max_id)

    def added(self, message: Mapping[str, Any]) -> None:
        """A ``message.added`` event: index it now if its session is loaded."""
        index = self._indexes.get(str(message.get("session_id")))
        if index is not None and index.add_event(message):
            self.stats["event_rows"] += 1

    def drop(self, session_id: str) -> None:
        self._indexes.pop(session_id, None)
        self._forget(session_id)

    def _forget(self, session_id: str) -> None:
        self._checked.pop(session_id, None)
        lock = self._locks.get(session_id)
        if lock is not None and not lock.locked():
            del self._locks[session_id]

    def close(self) -> None:
        self._indexes.clear()
        self._checked.clear()
        self._marker.close()

    def _evict(self, keep: str) -> None:
        total = self.indexed_messages
        while total > self.max_messages and len(self._indexes) > 1:
            session_id, index = next(iter(self._indexes.items()))
            if session_id == keep:
                self._indexes.move_to_end(session_id)
                continue
            del self._indexes[session_id]
            self._forget(session_id)
            total -= len(index)
