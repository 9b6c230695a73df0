"""All SQL of the sessions plugin (portable: SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from scs_server.storage import Dialect, Executor, OneStatement, Row, Transaction

COLUMNS = "id, purpose, metadata, created_by, created_by_type, created_at, updated_at, closed_at"
TOPIC = "sessions"
TABLE = "sessions"
"""The table, for the statements of other plugins that must join it (``scs_sessions.api``)."""
SessionState = Literal["open", "closed", "missing"]
"""Change-feed topic: ``{"session_id": id}`` on create and close."""

# Session ids are compared byte-wise on both engines, so a prefix is a key range:
# SQLite's default collation is binary; on PostgreSQL the "C" collation (with its
# own index, see schema.py) keeps the range exact whatever the database locale.
_ID_BYTES = {"sqlite": "id", "postgresql": 'id COLLATE "C"'}


async def insert(
    one: OneStatement,
    *,
    session_id: str,
    purpose: str,
    metadata: str | None,
    created_by: str,
    created_by_type: str,
    created_at: str,
) -> None:
    """Insert an open session and announce it on the change feed (``db.write_one``)."""
    one.emit_rows(TOPIC, {"session_id": session_id})
    await one.fetch_one(
        "INSERT INTO sessions_sessions (id, purpose, metadata, created_by, created_by_type,"
        " created_at, updated_at, closed_at) VALUES (?, ?, ?, ?, ?, ?, ?, NULL) RETURNING id",
        (session_id, purpose, metadata, created_by, created_by_type, created_at, created_at),
    )


async def get(r: Executor, session_id: str) -> Row | None:
    return await r.fetch_one(f"SELECT {COLUMNS} FROM sessions_sessions WHERE id = ?", (session_id,))


async def session_state(r: Executor, session_id: str) -> SessionState:
    """Whether the session is ``open``, ``closed`` or ``missing``; usable inside a write
    transaction (``tx``) as well as in a read."""
    row = await r.fetch_one("SELECT closed_at FROM sessions_sessions WHERE id = ?", (session_id,))
    if row is None:
        return "missing"
    return "open" if row["closed_at"] is None else "closed"


async def lock_session(tx: Transaction, dialect: Dialect, session_id: str) -> None:
    """Serialise the writers of one session until ``tx`` ends (messaging: message ids
    grow in commit order within a session; a concurrent close is ordered before or after).

    SQLite: nothing to do (``BEGIN IMMEDIATE`` already holds the database's write lock).
    PostgreSQL: the session row, ``FOR UPDATE``: a writer goes on only after the previous
    writer of the session committed; other sessions are not held up.
    """
    if dialect == "postgresql":
        await tx.execute("SELECT 1 FROM sessions_sessions WHERE id = ? FOR UPDATE", (session_id,))


async def closed_at(r: Executor, session_id: str) -> str | None:
    """When the session was closed (None: open or missing)."""
    value: str | None = await r.fetch_value(
        "SELECT closed_at FROM sessions_sessions WHERE id = ?", (session_id,)
    )
    return value


async def page(
    r: Executor,
    *,
    limit: int,
    before: tuple[str, str] | None,
    include_closed: bool,
) -> list[Row]:
    """Newest first; ``before`` is the (created_at, id) of the last row already seen."""
    conditions: list[str] = []
    params: list[Any] = []
    if not include_closed:
        conditions.append("closed_at IS NULL")
    if before is not None:
        conditions.append("(created_at < ? OR (created_at = ? AND id < ?))")
        params.extend([before[0], before[0], before[1]])
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    return await r.fetch_all(
        f"SELECT {COLUMNS} FROM sessions_sessions {where} ORDER BY created_at DESC, id DESC LIMIT ?",
        (*params, limit),
    )


async def ids_from(r: Executor, dialect: Dialect, prefix: str, limit: int) -> list[str]:
    """Session ids starting with ``prefix``, in id order (a range scan of an id index)."""
    column = _ID_BYTES[dialect]
    rows = await r.fetch_all(
        f"SELECT id FROM sessions_sessions WHERE {column} >= ? AND {column} < ? ORDER BY {column} LIMIT ?",
        (prefix, prefix + "\U0010ffff", limit),
    )
    return [row[0] for row in rows]


async def close(tx: Transaction, session_id: str, closed_at: str) -> bool:
    """Mark an open session closed (and announce it); False when it was not open."""
    changed = await tx.execute(
        "UPDATE sessions_sessions SET closed_at = ?, updated_at = ? WHERE id = ? AND closed_at IS NULL",
        (closed_at, closed_at, session_id),
    )
    if changed == 1:
        tx.emit(TOPIC, {"session_id": session_id})
    return changed == 1
