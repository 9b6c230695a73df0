"""All SQL of the search plugin. Visibility conditions come from messaging's ``visibility.py``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import AsyncIterator

    import aiosqlite

COLUMNS = (
    "m.id, m.session_id, m.sender, m.sender_type, m.content, m.visibility,"
    " m.metadata, m.parent_message_id, m.timestamp"
)
INDEX_COLUMNS = "id, sender, sender_type, content, visibility, metadata"


async def session_exists(conn: aiosqlite.Connection, session_id: str) -> bool:
    cursor = await conn.execute("SELECT 1 FROM sessions WHERE id = ?", (session_id,))
    return await cursor.fetchone() is not None


async def session_ids(conn: aiosqlite.Connection) -> list[str]:
    """Every session that has messages, the most recently written to first."""
    cursor = await conn.execute(
        "SELECT session_id FROM messages GROUP BY session_id ORDER BY MAX(id) DESC"
    )
    return [row[0] for row in await cursor.fetchall()]


async def rows_after(
    conn: aiosqlite.Connection, session_id: str, after_id: int, chunk: int = 10_000
) -> AsyncIterator[list[sqlite3.Row]]:
    """The session's messages with an id above ``after_id``, in id order, ``chunk`` at a time."""
    cursor = await conn.execute(
        f"SELECT {INDEX_COLUMNS} FROM messages WHERE session_id = ? AND id > ? ORDER BY id",
        (session_id, after_id),
    )
    while rows := await cursor.fetchmany(chunk):
        yield list(rows)


async def fingerprint(conn: aiosqlite.Connection, session_id: str) -> tuple[int, int]:
    """How many messages the session has and its largest id (0, 0 when none).

    Two statements: together SQLite would scan for MAX too; alone it is one seek.
    """
    cursor = await conn.execute(
        "SELECT COALESCE(MAX(id), 0) FROM messages WHERE session_id = ?", (session_id,)
    )
    top = await cursor.fetchone()
    cursor = await conn.execute("SELECT COUNT(*) FROM messages WHERE session_id = ?", (session_id,))
    count = await cursor.fetchone()
    assert top is not None and count is not None
    return int(count[0]), int(top[0])


async def messages_by_id(
    conn: aiosqlite.Connection, ids: list[int], visible: tuple[str, list[Any]]
) -> list[sqlite3.Row]:
    """The messages with these ids that ``visible`` lets through (any order)."""
    if not ids:
        return []
    condition, params = visible
    marks = ",".join("?" * len(ids))
    cursor = await conn.execute(
        f"SELECT {COLUMNS} FROM messages m WHERE m.id IN ({marks}) AND {condition}",
        (*ids, *params),
    )
    return list(await cursor.fetchall())


async def by_sender(
    conn: aiosqlite.Connection,
    session_id: str,
    sender: str,
    visible: tuple[str, list[Any]],
    limit: int,
) -> list[sqlite3.Row]:
    """The sender's messages the caller may see, newest first."""
    condition, params = visible
    cursor = await conn.execute(
        f"SELECT {COLUMNS} FROM messages m WHERE m.session_id = ? AND m.sender = ?"
        f" AND {condition} ORDER BY m.id DESC LIMIT ?",
        (session_id, sender, *params, limit),
    )
    return list(await cursor.fetchall())


async def by_timerange(
    conn: aiosqlite.Connection,
    session_id: str,
    start: str,
    end: str,
    visible: tuple[str, list[Any]],
    limit: int,
) -> list[sqlite3.Row]:
    """Messages the caller may see stamped within ``[start, end]``, oldest first.

    Timestamps are fixed-width ISO-8601 UTC text, so text order is time order.
    """
    condition, params = visible
    cursor = await conn.execute(
        f"SELECT {COLUMNS} FROM messages m WHERE m.session_id = ?"
        f" AND m.timestamp >= ? AND m.timestamp <= ? AND {condition}"
        " ORDER BY m.timestamp, m.id LIMIT ?",
        (session_id, start, end, *params, limit),
    )
    return list(await cursor.fetchall())
