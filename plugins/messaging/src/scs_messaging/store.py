"""All SQL of the messaging plugin. Visibility conditions come from ``visibility.py``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import sqlite3

    import aiosqlite

COLUMNS = (
    "m.id, m.session_id, m.sender, m.sender_type, m.content, m.visibility,"
    " m.metadata, m.parent_message_id, m.timestamp"
)


def insert(
    conn: sqlite3.Connection,
    *,
    session_id: str,
    sender: str,
    sender_type: str,
    content: str,
    visibility: str,
    metadata: str | None,
    parent_id: int | None,
    timestamp: str,
    parent_visible: tuple[str, list[Any]],
) -> int | None:
    """Insert if the session is open and the parent (if any) is a message of it the
    sender may see, all in one statement; the new id, or None when nothing was inserted.
    Runs inside ``Database.write`` (synchronous, one write transaction)."""
    condition, params = parent_visible
    cursor = conn.execute(
        "INSERT INTO messages (session_id, sender, sender_type, content, visibility,"
        " metadata, parent_message_id, timestamp)"
        " SELECT s.id, ?, ?, ?, ?, ?, ?, ? FROM sessions s"
        " WHERE s.id = ? AND s.closed_at IS NULL"
        " AND (? IS NULL OR EXISTS (SELECT 1 FROM messages m"
        f" WHERE m.id = ? AND m.session_id = s.id AND {condition}))",
        (
            sender,
            sender_type,
            content,
            visibility,
            metadata,
            parent_id,
            timestamp,
            session_id,
            parent_id,
            parent_id,
            *params,
        ),
    )
    if cursor.rowcount != 1:
        return None
    return cursor.lastrowid


async def session_state(
    conn: aiosqlite.Connection, session_id: str
) -> Literal["missing", "closed", "open"]:
    cursor = await conn.execute("SELECT closed_at FROM sessions WHERE id = ?", (session_id,))
    row = await cursor.fetchone()
    if row is None:
        return "missing"
    return "open" if row[0] is None else "closed"


async def count_visible(
    conn: aiosqlite.Connection, session_id: str, visible: tuple[str, list[Any]]
) -> int | None:
    """How many messages of the session match ``visible``; None when the session does not exist."""
    condition, params = visible
    cursor = await conn.execute(
        "SELECT (SELECT COUNT(*) FROM messages m"
        f" WHERE m.session_id = s.id AND {condition}) FROM sessions s WHERE s.id = ?",
        (*params, session_id),
    )
    row = await cursor.fetchone()
    return None if row is None else int(row[0])


async def page(
    conn: aiosqlite.Connection,
    session_id: str,
    visible: tuple[str, list[Any]],
    *,
    after_id: int | None,
    limit: int,
    offset: int,
) -> list[sqlite3.Row]:
    """Oldest first, from ``after_id`` (exclusive) then ``offset``; up to ``limit`` rows."""
    condition, params = visible
    after = " AND m.id > ?" if after_id is not None else ""
    cursor = await conn.execute(
        f"SELECT {COLUMNS} FROM messages m WHERE m.session_id = ?{after} AND {condition}"
        " ORDER BY m.id LIMIT ? OFFSET ?",
        (session_id, *([after_id] if after_id is not None else []), *params, limit, offset),
    )
    return list(await cursor.fetchall())


async def newest(
    conn: aiosqlite.Connection, session_id: str, visible: tuple[str, list[Any]], limit: int
) -> list[sqlite3.Row]:
    """The newest ``limit`` matching messages, oldest first."""
    condition, params = visible
    cursor = await conn.execute(
        f"SELECT * FROM (SELECT {COLUMNS} FROM messages m"
        f" WHERE m.session_id = ? AND {condition} ORDER BY m.id DESC LIMIT ?) ORDER BY id",
        (session_id, *params, limit),
    )
    return list(await cursor.fetchall())


async def get(
    conn: aiosqlite.Connection, message_id: int, visible: tuple[str, list[Any]]
) -> sqlite3.Row | None:
    condition, params = visible
    cursor = await conn.execute(
        f"SELECT {COLUMNS} FROM messages m WHERE m.id = ? AND {condition}", (message_id, *params)
    )
    row: sqlite3.Row | None = await cursor.fetchone()
    return row


async def thread(
    conn: aiosqlite.Connection, root: int, visible: tuple[str, list[Any]], limit: int
) -> list[sqlite3.Row]:
    """Message ``root`` and every reply below it that matches ``visible``, oldest first.

    A reply always has a larger id than its parent, so the walk ends; ``UNION``
    (not ``UNION ALL``) would keep it finite even if that ever changed.
    """
    condition, params = visible
    cursor = await conn.execute(
        "WITH RECURSIVE down(id) AS (SELECT ?"
        " UNION SELECT c.id FROM messages c JOIN down ON c.parent_message_id = down.id)"
        f" SELECT {COLUMNS} FROM messages m JOIN down ON m.id = down.id"
        f" WHERE {condition} ORDER BY m.id LIMIT ?",
        (root, *params, limit),
    )
    return list(await cursor.fetchall())


async def root_id(conn: aiosqlite.Connection, message_id: int) -> int:
    """The id of the topmost ancestor of ``message_id`` (itself when it has no parent)."""
    cursor = await conn.execute(
        "WITH RECURSIVE up(id, parent) AS ("
        " SELECT id, parent_message_id FROM messages WHERE id = ?"
        " UNION SELECT p.id, p.parent_message_id FROM messages p JOIN up ON p.id = up.parent)"
        " SELECT id FROM up WHERE parent IS NULL",
        (message_id,),
    )
    row = await cursor.fetchone()
    return int(row[0]) if row is not None else message_id
