"""Messages in archives: the ``message`` record (export, import) and retention.
All the SQL of these three is here.

A record keeps the original ``id`` and ``parent_id``; on import ids are new ids of the
target database, reserved for a whole batch at once (``_reserve_ids``) so the batch is
one ``execute_many``, and ``parent_id`` is remapped through the document's id map (a
parent outside the document, e.g. cut by ``--since``, becomes no parent).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from scs_server.archiving import PAGE_SIZE, field_of, record_error

from scs_messaging.store import TOPIC

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from scs_server.app import App
    from scs_server.archiving import ExportRequest, ImportBatch, Record, RetentionPolicy
    from scs_server.storage import Database, Dialect, Executor, Transaction

KIND = "message"
VISIBILITIES = frozenset({"public", "private", "agent_only", "admin_only"})
_FIELDS = "id, session_id, sender, sender_type, content, visibility, metadata, parent_message_id, timestamp"
_INSERT = (
    "INSERT INTO messaging_messages (id, session_id, sender, sender_type, content, visibility,"
    " metadata, parent_message_id, timestamp) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


async def export_records(reader: Executor, request: ExportRequest) -> AsyncIterator[Record]:
    """The session's messages in id order (keyset pages of ``PAGE_SIZE``)."""
    if request.session_id is None:
        return
    after = 0
    while True:
        rows = await reader.fetch_all(
            f"SELECT {_FIELDS} FROM messaging_messages WHERE session_id = ? AND id > ?"
            " AND (CAST(? AS TEXT) IS NULL OR timestamp >= ?) ORDER BY id LIMIT ?",
            (request.session_id, after, request.since, request.since, PAGE_SIZE),
        )
        for row in rows:
            record = {"kind": KIND, **dict(row)}
            record["parent_id"] = record.pop("parent_message_id")
            yield record
        if len(rows) < PAGE_SIZE:
            return
        after = rows[-1]["id"]


def _check(line: int, record: Record) -> None:
    field_of(line, record, "id", int)
    for name in ("session_id", "sender", "sender_type", "content", "timestamp"):
        field_of(line, record, name, str)
    field_of(line, record, "metadata", str, optional=True)
    field_of(line, record, "parent_id", int, optional=True)
    if record.get("visibility") not in VISIBILITIES:
        raise record_error(line, f"message.visibility must be one of {sorted(VISIBILITIES)}")


async def import_records(app: App, tx: Transaction | None, batch: ImportBatch) -> int | None:
    if batch.kind != KIND:
        return None
    sessions = batch.mapped("session")
    for line, record in batch.records:
        _check(line, record)
        if record["session_id"] not in sessions:
            raise record_error(line, "message outside its session's document")
    if tx is None:
        return len(batch.records)
    ids = batch.mapped(KIND)
    new_ids = iter(await _reserve_ids(app.db.dialect, tx, len(batch.records)))
    rows: list[tuple[Any, ...]] = []
    touched: set[str] = set()
    for _line, record in batch.records:
        session_id = sessions[record["session_id"]]
        parent = ids.get(record["parent_id"])  # before this one's own id: no forward links
        ids[record["id"]] = new_id = next(new_ids)
        rows.append(
            (
                new_id,
                session_id,
                record["sender"],
                record["sender_type"],
                record["content"],
                record["visibility"],
                record["metadata"],
                parent,
                record["timestamp"],
            )
        )
        touched.add(session_id)
    await tx.execute_many(_INSERT, rows)
    for session_id in touched:
        tx.emit(TOPIC, {"session_id": session_id, "id": None})  # id None: re-check it all
    return len(batch.records)


async def _reserve_ids(dialect: Dialect, tx: Transaction, count: int) -> list[int]:
    """``count`` new message ids, ascending, never used before (as the engine would
    assign them), so a whole batch is one ``execute_many`` with its ids known."""
    if dialect == "postgresql":
        rows = await tx.fetch_all(
            "SELECT nextval(pg_get_serial_sequence('messaging_messages', 'id')) AS id"
            " FROM generate_series(1, CAST(? AS INTEGER))",
            (count,),
        )
        return sorted(int(row["id"]) for row in rows)
    # SQLite: AUTOINCREMENT never reuses an id, so the next one is above both the
    # sequence and the table; the write transaction holds the only write lock, and
    # inserting explicit ids moves the sequence past them
    last = await tx.fetch_value(
        "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'messaging_messages'),"
        " 0), COALESCE((SELECT MAX(id) FROM messaging_messages), 0))"
    )
    return list(range(int(last) + 1, int(last) + count + 1))


async def purge(db: Database, policy: RetentionPolicy) -> dict[str, int]:
    """Delete messages older than their session's cut-off, batch by batch."""
    removed = 0
    for session_id, cutoff in sorted(policy.session_cutoffs.items()):
        if session_id not in policy.held:
            removed += await _purge_where(db, policy, SESSION_PURGE, [session_id, cutoff])
    if policy.messages_before is not None:
        spared = sorted(policy.held | policy.session_cutoffs.keys())
        condition = GLOBAL_PURGE
        if spared:
            condition += f" AND session_id NOT IN ({', '.join('?' * len(spared))})"
        removed += await _purge_where(db, policy, condition, [policy.messages_before, *spared])
    return {"messages": removed}


def purge_statement(condition: str) -> str:
    """One purge batch: the oldest messages matching ``condition``, then ``LIMIT ?``.
    Ordered by age so that both engines walk an index (``messaging_messages_age``, or
    ``messages_time`` for one session) instead of the whole table."""
    return (
        "DELETE FROM messaging_messages WHERE id IN (SELECT id FROM messaging_messages"
        f" WHERE {condition} ORDER BY timestamp, id LIMIT ?) RETURNING session_id"
    )


GLOBAL_PURGE = "timestamp < ?"
"""The condition of the global cut-off (``AND session_id NOT IN (...)`` when sessions
are spared)."""
SESSION_PURGE = "session_id = ? AND timestamp < ?"


async def _purge_where(
    db: Database, policy: RetentionPolicy, condition: str, params: list[Any]
) -> int:
    total = 0
    for _ in range(policy.max_batches):
        async with db.transaction(heavy=True) as tx:
            rows = await tx.fetch_all(purge_statement(condition), (*params, policy.batch_size))
            for session_id in {row["session_id"] for row in rows}:
                tx.emit(TOPIC, {"session_id": session_id, "id": None})
        total += len(rows)
        if len(rows) < policy.batch_size:
            break
        await asyncio.sleep(0)  # let waiting requests take the write lock
    return total
