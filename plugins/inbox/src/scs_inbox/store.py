"""All SQL of the inbox plugin (SQLite and PostgreSQL).

Items are rows of ``inbox_messages`` (a direct message, or a mention copied from a
session message); ``inbox_recipients`` holds who received each and their receipts.
Reads of mentions are narrowed by the messaging visibility rule (``visible``); direct
messages are visible to their recipients, whose rows are the only way to reach them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scs_server.storage import Dialect, Executor, Row, Transaction

TOPIC = "inbox"
"""Change-feed topic: ``{"agent_id": recipient, "id": item id}`` (``id`` may be None
for a change of receipts only)."""

ITEM_COLUMNS = (
    "im.id, im.kind, im.sender, im.sender_type, im.visibility, im.subject, im.content,"
    " im.session_id, im.source_message_id, im.importance, im.ack_required, im.reply_to,"
    " im.created_at, r.read_at, r.acked_at"
)
_INBOX_LOCK = 7_302_115_001  # pg_advisory_xact_lock key serialising inbox inserts


def _readable(visible: tuple[str, list[Any]]) -> tuple[str, list[Any]]:
    condition, params = visible
    return f"(im.kind = 'direct' OR ({condition}))", params


async def lock_inbox(tx: Transaction, dialect: Dialect) -> None:
    """Serialise inbox inserts so that item ids grow in commit order (what waiters
    following ``next_after_id`` rely on). SQLite: ``BEGIN IMMEDIATE`` already does."""
    if dialect == "postgresql":
        await tx.execute("SELECT pg_advisory_xact_lock(?)", (_INBOX_LOCK,))


async def insert_item(
    tx: Transaction, recipients: list[str], *, created_at: str, **fields: Any
) -> int:
    """One item and its recipients; announces it to each recipient on the change feed."""
    item_id = await insert_row(tx, created_at=created_at, **fields)
    await add_recipients(tx, item_id, [(agent_id, None, None) for agent_id in recipients])
    return item_id


async def insert_row(tx: Transaction, *, created_at: str, **fields: Any) -> int:
    """One ``inbox_messages`` row (no recipients yet); its id."""
    return int(
        await tx.fetch_value(
            "INSERT INTO inbox_messages (kind, sender, sender_type, visibility, subject, content,"
            " session_id, source_message_id, importance, ack_required, reply_to, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (
                fields["kind"],
                fields["sender"],
                fields["sender_type"],
                fields["visibility"],
                fields.get("subject"),
                fields["content"],
                fields.get("session_id"),
                fields.get("source_message_id"),
                fields.get("importance", "normal"),
                1 if fields.get("ack_required") else 0,
                fields.get("reply_to"),
                created_at,
            ),
        )
    )


async def add_recipients(
    tx: Transaction, item_id: int, receipts: list[tuple[str, str | None, str | None]]
) -> None:
    """Recipients of item ``item_id`` as ``(agent_id, read_at, acked_at)``; announced."""
    await tx.execute_many(
        "INSERT INTO inbox_recipients (message_id, agent_id, read_at, acked_at)"
        " VALUES (?, ?, ?, ?)",
        [(item_id, agent_id, read_at, acked_at) for agent_id, read_at, acked_at in receipts],
    )
    for agent_id, _read_at, _acked_at in receipts:
        tx.emit(TOPIC, {"agent_id": agent_id, "id": item_id})


async def items(
    r: Executor,
    agent_id: str,
    visible: tuple[str, list[Any]],
    *,
    after_id: int | None,
    unread_only: bool,
    limit: int,
) -> list[Row]:
    """The agent's items: oldest first above ``after_id``, else newest first."""
    condition, params = _readable(visible)
    where = "r.agent_id = ?"
    args: list[Any] = [agent_id]
    if after_id is not None:
        where += " AND im.id > ?"
        args.append(after_id)
    if unread_only:
        where += " AND r.read_at IS NULL"
    order = "ASC" if after_id is not None else "DESC"
    return await r.fetch_all(
        f"SELECT {ITEM_COLUMNS} FROM inbox_recipients r JOIN inbox_messages im"
        f" ON im.id = r.message_id WHERE {where} AND {condition}"
        f" ORDER BY im.id {order} LIMIT ?",
        (*args, *params, limit),
    )


async def last_item_id(r: Executor, agent_id: str) -> int:
    value = await r.fetch_value(
        "SELECT COALESCE(MAX(message_id), 0) FROM inbox_recipients WHERE agent_id = ?",
        (agent_id,),
    )
    return int(value)


async def unread_count(r: Executor, agent_id: str, visible: tuple[str, list[Any]]) -> int:
    condition, params = _readable(visible)
    value = await r.fetch_value(
        "SELECT COUNT(*) FROM inbox_recipients r JOIN inbox_messages im ON im.id = r.message_id"
        f" WHERE r.agent_id = ? AND r.read_at IS NULL AND {condition}",
        (agent_id, *params),
    )
    return int(value)


async def own_ids(r: Executor, agent_id: str, ids: list[int]) -> set[int]:
    """Which of ``ids`` are items the agent received."""
    marks = ", ".join("?" for _ in ids)
    rows = await r.fetch_all(
        f"SELECT message_id FROM inbox_recipients WHERE agent_id = ? AND message_id IN ({marks})",
        (agent_id, *ids),
    )
    return {int(row[0]) for row in rows}


async def mark_items(tx: Transaction, agent_id: str, ids: list[int], now: str, *, ack: bool) -> int:
    """Set read_at (and acked_at with ``ack``) where not set yet; rows changed."""
    marks = ", ".join("?" for _ in ids)
    unset = "(read_at IS NULL OR acked_at IS NULL)" if ack else "read_at IS NULL"
    acked = ", acked_at = COALESCE(acked_at, ?)" if ack else ""
    changed = await tx.execute(
        f"UPDATE inbox_recipients SET read_at = COALESCE(read_at, ?){acked}"
        f" WHERE agent_id = ? AND message_id IN ({marks}) AND {unset}",
        (now, *([now] if ack else []), agent_id, *ids),
    )
    if changed:
        tx.emit(TOPIC, {"agent_id": agent_id, "id": None})
    return changed


async def mark_mentions_read(
    tx: Transaction, agent_id: str, session_id: str, up_to: int, now: str
) -> int:
    changed = await tx.execute(
        "UPDATE inbox_recipients SET read_at = ? WHERE agent_id = ? AND read_at IS NULL"
        " AND message_id IN (SELECT id FROM inbox_messages WHERE kind = 'mention'"
        " AND session_id = ? AND source_message_id <= ?)",
        (now, agent_id, session_id, up_to),
    )
    if changed:
        tx.emit(TOPIC, {"agent_id": agent_id, "id": None})
    return changed


async def sent_item(r: Executor, item_id: int, sender: str) -> Row | None:
    return await r.fetch_one(
        "SELECT id, kind, created_at FROM inbox_messages WHERE id = ? AND sender = ?",
        (item_id, sender),
    )


async def readable_by(r: Executor, item_id: int, agent_id: str) -> bool:
    """Whether the agent sent or received item ``item_id``."""
    row = await r.fetch_one(
        "SELECT 1 FROM inbox_messages im WHERE im.id = ? AND (im.sender = ? OR EXISTS"
        " (SELECT 1 FROM inbox_recipients r WHERE r.message_id = im.id AND r.agent_id = ?))",
        (item_id, agent_id, agent_id),
    )
    return row is not None


async def receipts(r: Executor, item_id: int) -> list[Row]:
    return await r.fetch_all(
        "SELECT agent_id, read_at, acked_at FROM inbox_recipients WHERE message_id = ?"
        " ORDER BY agent_id",
        (item_id,),
    )


async def set_cursor(tx: Transaction, agent_id: str, session_id: str, up_to: int, now: str) -> int:
    """Move the read cursor forward (never back); the cursor after the call."""
    await tx.execute(
        "INSERT INTO inbox_cursors (agent_id, session_id, last_read_id, updated_at)"
        " VALUES (?, ?, ?, ?) ON CONFLICT (agent_id, session_id) DO UPDATE SET"
        " last_read_id = CASE WHEN excluded.last_read_id > inbox_cursors.last_read_id"
        " THEN excluded.last_read_id ELSE inbox_cursors.last_read_id END,"
        " updated_at = excluded.updated_at",
        (agent_id, session_id, up_to, now),
    )
    tx.emit(TOPIC, {"agent_id": agent_id, "id": None})
    return int(
        await tx.fetch_value(
            "SELECT last_read_id FROM inbox_cursors WHERE agent_id = ? AND session_id = ?",
            (agent_id, session_id),
        )
    )


async def cursors(r: Executor, agent_id: str, session_ids: list[str] | None) -> dict[str, int]:
    """The agent's read cursors: of ``session_ids``, or all of them."""
    if session_ids is None:
        rows = await r.fetch_all(
            "SELECT session_id, last_read_id FROM inbox_cursors WHERE agent_id = ?"
            " ORDER BY session_id LIMIT 1000",
            (agent_id,),
        )
    else:
        if not session_ids:
            return {}
        marks = ", ".join("?" for _ in session_ids)
        rows = await r.fetch_all(
            "SELECT session_id, last_read_id FROM inbox_cursors"
            f" WHERE agent_id = ? AND session_id IN ({marks})",
            (agent_id, *session_ids),
        )
    return {row[0]: int(row[1]) for row in rows}


# archives (scs_inbox.export): export pages, idempotent import, retention

ARCHIVE_COLUMNS = (
    "id, kind, sender, sender_type, visibility, subject, content, session_id,"
    " source_message_id, importance, ack_required, reply_to, created_at"
)


async def archive_items(
    r: Executor,
    session_id: str | None,
    since: str | None,
    after: int,
    limit: int,
    *,
    direct: bool = True,
) -> list[Row]:
    """A session's items (direct messages, unless not ``direct``, and mentions), or with
    ``session_id`` None the direct messages outside any session; id order above ``after``."""
    if session_id is None:
        scope, params = "session_id IS NULL AND kind = 'direct'", []
    else:
        scope, params = "session_id = ?", [session_id]
    if not direct:
        scope += " AND kind <> 'direct'"
    return await r.fetch_all(
        f"SELECT {ARCHIVE_COLUMNS} FROM inbox_messages WHERE {scope} AND id > ?"
        " AND (CAST(? AS TEXT) IS NULL OR created_at >= ?) ORDER BY id LIMIT ?",
        (*params, after, since, since, limit),
    )


async def archive_receipts(r: Executor, item_ids: list[int]) -> list[Row]:
    """Recipients and receipts of ``item_ids`` (a page: at most a few hundred ids)."""
    if not item_ids:
        return []
    marks = ", ".join("?" for _ in item_ids)
    return await r.fetch_all(
        "SELECT message_id, agent_id, read_at, acked_at FROM inbox_recipients"
        f" WHERE message_id IN ({marks}) ORDER BY message_id, agent_id",
        tuple(item_ids),
    )


async def archive_cursors(
    r: Executor, session_id: str, since: str | None, after: str, limit: int
) -> list[Row]:
    """A session's read cursors in agent order above ``after``."""
    return await r.fetch_all(
        "SELECT agent_id, session_id, last_read_id, updated_at FROM inbox_cursors"
        " WHERE session_id = ? AND agent_id > ? AND (CAST(? AS TEXT) IS NULL OR updated_at >= ?)"
        " ORDER BY agent_id LIMIT ?",
        (session_id, after, since, since, limit),
    )


async def same_direct_message(
    r: Executor, sender: str, created_at: str, content: str
) -> int | None:
    """The id of a direct message outside sessions with these natural keys, if any."""
    value = await r.fetch_value(
        "SELECT MIN(id) FROM inbox_messages WHERE kind = 'direct' AND session_id IS NULL"
        " AND sender = ? AND created_at = ? AND content = ?",
        (sender, created_at, content),
    )
    return None if value is None else int(value)


async def purge_batch(
    tx: Transaction, before: str, *, session_id: str | None, spared: list[str], limit: int
) -> list[Row]:
    """Delete up to ``limit`` items created before ``before``: of one session, or (with
    ``session_id`` None) of any session not ``spared`` and outside sessions. Receipts go
    with them (cascade); their recipients are told. The deleted ``(id, kind)`` rows."""
    if session_id is not None:
        condition, params = "session_id = ? AND created_at < ?", [session_id, before]
    else:
        condition, params = "created_at < ?", [before]
        if spared:
            marks = ", ".join("?" for _ in spared)
            condition += f" AND (session_id IS NULL OR session_id NOT IN ({marks}))"
            params.extend(spared)
    doomed = await tx.fetch_all(
        f"SELECT id, kind FROM inbox_messages WHERE {condition} ORDER BY id LIMIT ?",
        (*params, limit),
    )
    if not doomed:
        return []
    ids = [int(row["id"]) for row in doomed]
    marks = ", ".join("?" for _ in ids)
    agents = await tx.fetch_all(
        f"SELECT DISTINCT agent_id FROM inbox_recipients WHERE message_id IN ({marks})",
        tuple(ids),
    )
    await tx.execute(f"DELETE FROM inbox_messages WHERE id IN ({marks})", tuple(ids))
    for row in agents:
        tx.emit(TOPIC, {"agent_id": row["agent_id"], "id": None})
    return doomed
