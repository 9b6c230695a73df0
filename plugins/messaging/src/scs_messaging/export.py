"""Messages in archives: the ``message`` record (export, import) and retention.
All the SQL of these three is here.

A record keeps the original ``id`` and ``parent_id``; on import ids are assigned by
the database and ``parent_id`` is remapped through the document's id map (a parent
outside the document, e.g. cut by ``--since``, becomes no parent).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from scs.archiving import PAGE_SIZE, field_of, record_error

from scs_messaging.store import TOPIC

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from scs.archiving import ExportRequest, ImportBatch, Record, RetentionPolicy
    from scs.storage import Database, Executor, Transaction

KIND = "message"
VISIBILITIES = frozenset({"public", "private", "agent_only", "admin_only"})
_FIELDS = "id, session_id, sender, sender_type, content, visibility, metadata, parent_message_id, timestamp"
_INSERT = (
    "INSERT INTO messaging_messages (session_id, sender, sender_type, content, visibility, metadata,"
    " parent_message_id, timestamp) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
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


async def import_records(tx: Transaction | None, batch: ImportBatch) -> int | None:
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
    touched: set[str] = set()
    for _line, record in batch.records:
        session_id = sessions[record["session_id"]]
        new_id = await tx.fetch_value(
            _INSERT,
            (
                session_id,
                record["sender"],
                record["sender_type"],
                record["content"],
                record["visibility"],
                record["metadata"],
                ids.get(record["parent_id"]),
                record["timestamp"],
            ),
        )
        ids[record["id"]] = int(new_id)
        touched.add(session_id)
    for session_id in touched:
        tx.emit(TOPIC, {"session_id": session_id, "id": None})  # id None: re-check it all
    return len(batch.records)


async def purge(db: Database, policy: RetentionPolicy) -> dict[str, int]:
    """Delete messages older than their session's cut-off, batch by batch."""
    removed = 0
    for session_id, cutoff in sorted(policy.session_cutoffs.items()):
        if session_id not in policy.held:
            removed += await _purge_where(
                db, policy, "session_id = ? AND timestamp < ?", [session_id, cutoff]
            )
    if policy.messages_before is not None:
        spared = sorted(policy.held | policy.session_cutoffs.keys())
        condition = "timestamp < ?"
        if spared:
            condition += f" AND session_id NOT IN ({', '.join('?' * len(spared))})"
        removed += await _purge_where(db, policy, condition, [policy.messages_before, *spared])
    return {"messages": removed}


async def _purge_where(
    db: Database, policy: RetentionPolicy, condition: str, params: list[Any]
) -> int:
    total = 0
    for _ in range(policy.max_batches):
        async with db.transaction(heavy=True) as tx:
            rows = await tx.fetch_all(
                "DELETE FROM messaging_messages WHERE id IN (SELECT id FROM messaging_messages"
                f" WHERE {condition} ORDER BY id LIMIT ?) RETURNING session_id",
                (*params, policy.batch_size),
            )
            for session_id in {row["session_id"] for row in rows}:
                tx.emit(TOPIC, {"session_id": session_id, "id": None})
        total += len(rows)
        if len(rows) < policy.batch_size:
            break
        await asyncio.sleep(0)  # let waiting requests take the write lock
    return total
