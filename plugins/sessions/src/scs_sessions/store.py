"""All SQL of the sessions plugin."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlite3

    import aiosqlite

COLUMNS = "id, purpose, metadata, created_by, created_by_type, created_at, updated_at, closed_at"


def insert(
    conn: sqlite3.Connection,
    *,
    session_id: str,
    purpose: str,
    metadata: str | None,
    created_by: str,
    created_by_type: str,
    created_at: str,
) -> None:
    """Runs inside ``Database.write`` (synchronous, one write transaction)."""
    conn.execute(
        "INSERT INTO sessions (id, purpose, metadata, created_by, created_by_type,"
        " created_at, updated_at, closed_at) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
        (session_id, purpose, metadata, created_by, created_by_type, created_at, created_at),
    )


async def get(conn: aiosqlite.Connection, session_id: str) -> sqlite3.Row | None:
    cursor = await conn.execute(f"SELECT {COLUMNS} FROM sessions WHERE id = ?", (session_id,))
    row: sqlite3.Row | None = await cursor.fetchone()
    return row


async def page(
    conn: aiosqlite.Connection,
    *,
    limit: int,
    before: tuple[str, str] | None,
    include_closed: bool,
) -> list[sqlite3.Row]:
    """Newest first; ``before`` is the (created_at, id) of the last row already seen."""
    conditions: list[str] = []
    params: list[Any] = []
    if not include_closed:
        conditions.append("closed_at IS NULL")
    if before is not None:
        conditions.append("(created_at < ? OR (created_at = ? AND id < ?))")
        params.extend([before[0], before[0], before[1]])
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    cursor = await conn.execute(
        f"SELECT {COLUMNS} FROM sessions {where} ORDER BY created_at DESC, id DESC LIMIT ?",
        (*params, limit),
    )
    return list(await cursor.fetchall())


async def ids_from(conn: aiosqlite.Connection, prefix: str, limit: int) -> list[str]:
    """Session ids starting with ``prefix``, in id order (a range scan of the primary key)."""
    cursor = await conn.execute(
        "SELECT id FROM sessions WHERE id >= ? AND id < ? ORDER BY id LIMIT ?",
        (prefix, prefix + "\U0010ffff", limit),
    )
    return [row[0] for row in await cursor.fetchall()]


async def close(conn: aiosqlite.Connection, session_id: str, closed_at: str) -> bool:
    """Mark an open session closed; False when it was not open."""
    cursor = await conn.execute(
        "UPDATE sessions SET closed_at = ?, updated_at = ? WHERE id = ? AND closed_at IS NULL",
        (closed_at, closed_at, session_id),
    )
    return cursor.rowcount == 1
