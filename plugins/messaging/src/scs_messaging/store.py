"""All SQL of the messaging plugin (SQLite and PostgreSQL). Visibility conditions come
from ``visibility.py``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scs_server.storage import Dialect, Executor, OneStatement, Row

COLUMNS = (
    "m.id, m.session_id, m.sender, m.sender_type, m.content, m.visibility,"
    " m.metadata, m.parent_message_id, m.timestamp"
)

TOPIC = "messages"
"""Change-feed topic: ``{"session_id": sid, "id": message_id}`` on add."""


# PostgreSQL's own clock in the stored form (``scs_server.timestamps.iso_timestamp``)
PG_NOW = "to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"


async def insert(
    one: OneStatement,
    dialect: Dialect,
    *,
    session_id: str,
    sender: str,
    sender_type: str,
    content: str,
    visibility: str,
    metadata: str | None,
    parent_id: int | None,
    timestamp: str | None,
    parent_visible: tuple[str, list[Any]],
) -> tuple[int | None, str]:
    """Insert if the session is open and the parent (if any) is a message of it the
    sender may see, all in one statement (``db.write_one``: one round trip on PostgreSQL,
    its change emitted inside it); the new id and its timestamp, or ``(None, "")`` when
    nothing was inserted. Announces the message on the change feed (``TOPIC``).

    Writers of one session are serialised first, so that id order is commit order and
    time order within a session (``scs_sessions.api.lock_session``): SQLite's
    ``BEGIN IMMEDIATE`` already holds the write lock; on PostgreSQL the statement locks
    the session row ``FOR UPDATE`` before the id is drawn. ``timestamp`` None: the
    database's clock, read after that lock (PostgreSQL: one clock for every replica).
    """
    condition, params = parent_visible
    lock = " FOR UPDATE" if dialect == "postgresql" else ""
    stamp = "?" if timestamp is not None else PG_NOW
    one.emit_rows(TOPIC, {"session_id": session_id}, ("id",))
    row = await one.fetch_one(
        "WITH s AS (SELECT id FROM sessions_sessions WHERE id = ? AND closed_at IS NULL"
        f"{lock})"
        " INSERT INTO messaging_messages (session_id, sender, sender_type, content, visibility,"
        " metadata, parent_message_id, timestamp)"
        f" SELECT s.id, ?, ?, ?, ?, ?, CAST(? AS BIGINT), {stamp}"
        " FROM s WHERE (CAST(? AS BIGINT) IS NULL OR EXISTS (SELECT 1 FROM messaging_messages m"
        f" WHERE m.id = ? AND m.session_id = s.id AND {condition}))"
        " RETURNING id, timestamp",
        (
            session_id,
            sender,
            sender_type,
            content,
            visibility,
            metadata,
            parent_id,
            *([timestamp] if timestamp is not None else []),
            parent_id,
            parent_id,
            *params,
        ),
    )
    if row is None:
        return None, ""
    return int(row["id"]), str(row["timestamp"])


# the visible messages of a session: a sum over its counts (schema step 5: one row per
# visibility, sender type and sender, kept by triggers), which have the columns the
# visibility conditions name, under the messages' alias
VISIBLE_COUNT = "SELECT COALESCE(SUM(m.n), 0) AS total FROM messaging_counts m WHERE"


async def count_visible(r: Executor, session_id: str, visible: tuple[str, list[Any]]) -> int | None:
    """How many messages of the session match ``visible``; None when the session does not exist."""
    condition, params = visible
    row = await r.fetch_one(
        f"SELECT ({VISIBLE_COUNT} m.session_id = s.id AND {condition})"
        " FROM sessions_sessions s WHERE s.id = ?",
        (*params, session_id),
    )
    return None if row is None else int(row[0])


Statement = tuple[str, tuple[Any, ...]]


def _page_sql(
    session_id: str, visible: tuple[str, list[Any]], after_id: int | None, limit: int, offset: int
) -> Statement:
    condition, params = visible
    after = " AND m.id > ?" if after_id is not None else ""
    return (
        f"SELECT {COLUMNS} FROM messaging_messages m WHERE m.session_id = ?{after} AND {condition}"
        " ORDER BY m.id LIMIT ? OFFSET ?",
        (session_id, *([after_id] if after_id is not None else []), *params, limit, offset),
    )


def _newest_sql(
    session_id: str, visible: tuple[str, list[Any]], limit: int, before_id: int | None
) -> Statement:
    condition, params = visible
    before = " AND m.id < ?" if before_id is not None else ""
    return (
        f"SELECT {COLUMNS} FROM messaging_messages m WHERE m.session_id = ?{before}"
        f" AND {condition} ORDER BY m.id DESC LIMIT ?",
        (session_id, *([before_id] if before_id is not None else []), *params, limit),
    )


async def _counted(
    r: Executor,
    session_id: str,
    visible: tuple[str, list[Any]],
    rows_statement: Statement,
    order: str,
) -> tuple[int, list[Row]] | None:
    """``count_visible`` and the rows of ``rows_statement`` (in ``order``) in one
    statement: one round trip (one thread hop on SQLite) and one snapshot for both;
    None when the session does not exist."""
    condition, params = visible
    sql, rows_params = rows_statement
    rows = await r.fetch_all(
        "SELECT t.total, p.* FROM sessions_sessions s"
        f" CROSS JOIN ({VISIBLE_COUNT} m.session_id = ? AND {condition}) t"
        f" LEFT JOIN ({sql}) p ON 1 = 1 WHERE s.id = ? ORDER BY p.id {order}",
        (session_id, *params, *rows_params, session_id),
    )
    if not rows:
        return None
    return int(rows[0]["total"]), [row for row in rows if row["id"] is not None]


async def count_and_page(
    r: Executor,
    session_id: str,
    visible: tuple[str, list[Any]],
    *,
    after_id: int | None,
    limit: int,
    offset: int,
) -> tuple[int, list[Row]] | None:
    """``count_visible`` and ``page`` in one statement; None when the session does not exist."""
    statement = _page_sql(session_id, visible, after_id, limit, offset)
    return await _counted(r, session_id, visible, statement, "ASC")


async def count_and_newest(
    r: Executor, session_id: str, visible: tuple[str, list[Any]], limit: int
) -> tuple[int, list[Row]] | None:
    """``count_visible`` and ``newest`` (newest first) in one statement; None when the
    session does not exist."""
    statement = _newest_sql(session_id, visible, limit, None)
    return await _counted(r, session_id, visible, statement, "DESC")


async def page(
    r: Executor,
    session_id: str,
    visible: tuple[str, list[Any]],
    *,
    after_id: int | None,
    limit: int,
    offset: int,
) -> list[Row]:
    """Oldest first, from ``after_id`` (exclusive) then ``offset``; up to ``limit`` rows."""
    return await r.fetch_all(*_page_sql(session_id, visible, after_id, limit, offset))


async def newest(
    r: Executor,
    session_id: str,
    visible: tuple[str, list[Any]],
    limit: int,
    before_id: int | None = None,
) -> list[Row]:
    """The newest ``limit`` matching messages below ``before_id`` (if given), NEWEST first."""
    return await r.fetch_all(*_newest_sql(session_id, visible, limit, before_id))


async def get(r: Executor, message_id: int, visible: tuple[str, list[Any]]) -> Row | None:
    condition, params = visible
    return await r.fetch_one(
        f"SELECT {COLUMNS} FROM messaging_messages m WHERE m.id = ? AND {condition}",
        (message_id, *params),
    )


async def thread(
    r: Executor,
    root: int,
    visible: tuple[str, list[Any]],
    limit: int,
    after_id: int | None = None,
) -> list[Row]:
    """Message ``root`` and every reply below it that matches ``visible``, oldest first,
    from ``after_id`` (exclusive) when given.

    A reply always has a larger id than its parent, so the walk ends; ``UNION``
    (not ``UNION ALL``) would keep it finite even if that ever changed.
    """
    condition, params = visible
    after = " AND m.id > ?" if after_id is not None else ""
    return await r.fetch_all(
        "WITH RECURSIVE down(id) AS (SELECT CAST(? AS BIGINT)"
        " UNION SELECT c.id FROM messaging_messages c JOIN down ON c.parent_message_id = down.id)"
        f" SELECT {COLUMNS} FROM messaging_messages m JOIN down ON m.id = down.id"
        f" WHERE {condition}{after} ORDER BY m.id LIMIT ?",
        (root, *params, *([after_id] if after_id is not None else []), limit),
    )


async def root_id(r: Executor, message_id: int) -> int:
    """The id of the topmost ancestor of ``message_id`` (itself when it has no parent)."""
    row = await r.fetch_one(
        "WITH RECURSIVE up(id, parent) AS ("
        " SELECT id, parent_message_id FROM messaging_messages WHERE id = ?"
        " UNION SELECT p.id, p.parent_message_id FROM messaging_messages p JOIN up ON p.id = up.parent)"
        " SELECT id FROM up WHERE parent IS NULL",
        (message_id,),
    )
    return int(row[0]) if row is not None else message_id


async def last_id(r: Executor, session_id: str) -> int:
    """The largest message id of the session (0 when it has none)."""
    value = await r.fetch_value(
        "SELECT COALESCE(MAX(id), 0) FROM messaging_messages WHERE session_id = ?", (session_id,)
    )
    return int(value)


async def by_id(r: Executor, message_id: int) -> Row | None:
    """One message, whoever may see it: callers filter with ``visibility.can_see``."""
    return await r.fetch_one(
        f"SELECT {COLUMNS} FROM messaging_messages m WHERE m.id = ?", (message_id,)
    )


async def count_after(
    r: Executor,
    cursors: dict[str, int],
    visible: tuple[str, list[Any]],
    exclude_sender: str,
) -> dict[str, int]:
    """Per session: messages matching ``visible`` with an id above its cursor, not sent
    by ``exclude_sender`` (one statement for every session)."""
    if not cursors:
        return {}
    condition, params = visible
    rows_sql = ", ".join("(CAST(? AS TEXT), CAST(? AS BIGINT))" for _ in cursors)
    values: list[Any] = []
    for session_id, after in cursors.items():
        values.extend((session_id, after))
    rows = await r.fetch_all(
        f"WITH c(sid, after_id) AS (VALUES {rows_sql})"
        " SELECT c.sid, COUNT(m.id) FROM c LEFT JOIN messaging_messages m"
        f" ON m.session_id = c.sid AND m.id > c.after_id AND m.sender <> ? AND {condition}"
        " GROUP BY c.sid",
        (*values, exclude_sender, *params),
    )
    return {row[0]: int(row[1]) for row in rows}


async def count_unread_anywhere(
    r: Executor,
    cursors: dict[str, int],
    visible: tuple[str, list[Any]],
    reader: str,
    limit: int,
) -> dict[str, int]:
    """Every session with messages matching ``visible``, not sent by ``reader``, above
    the reader's cursor there (no cursor: all of them); the first ``limit`` by id."""
    condition, params = visible
    values: list[Any] = []
    for session_id, after in cursors.items():
        values.extend((session_id, after))
    rows_sql = ", ".join("(CAST(? AS TEXT), CAST(? AS BIGINT))" for _ in cursors)
    if not rows_sql:  # an empty VALUES list is not SQL: one row that matches no session
        rows_sql, values = "(CAST(NULL AS TEXT), CAST(0 AS BIGINT))", []
    rows = await r.fetch_all(
        f"WITH c(sid, after_id) AS (VALUES {rows_sql})"
        " SELECT m.session_id, COUNT(m.id) FROM messaging_messages m"
        " LEFT JOIN c ON c.sid = m.session_id"
        f" WHERE m.id > COALESCE(c.after_id, 0) AND m.sender <> ? AND {condition}"
        " GROUP BY m.session_id ORDER BY m.session_id LIMIT ?",
        (*values, reader, *params, limit),
    )
    return {row[0]: int(row[1]) for row in rows}


async def max_id(r: Executor) -> int:
    """The largest message id there is (0 when none)."""
    return int(await r.fetch_value("SELECT COALESCE(MAX(id), 0) FROM messaging_messages"))


async def after_any(
    r: Executor,
    after_id: int,
    session_ids: list[str] | None,
    visible: tuple[str, list[Any]],
    limit: int,
) -> list[Row]:
    """Matching messages above ``after_id`` in any of ``session_ids`` (None: every
    session), oldest first."""
    condition, params = visible
    where = ""
    args: list[Any] = []
    if session_ids is not None:
        if not session_ids:
            return []
        where = f" AND m.session_id IN ({', '.join('?' for _ in session_ids)})"
        args = list(session_ids)
    return await r.fetch_all(
        f"SELECT {COLUMNS} FROM messaging_messages m WHERE m.id > ?{where} AND {condition}"
        " ORDER BY m.id LIMIT ?",
        (after_id, *args, *params, limit),
    )
