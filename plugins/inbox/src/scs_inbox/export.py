"""The inbox in archives: ``direct_message``, ``mention`` and ``read_cursor`` records
(export, import) and retention. The SQL is in ``scs_inbox.store``.

What is kept, and why:

- ``direct_message``: the data itself (nowhere else), with its recipients and their
  receipts (``read_at``, ``acked_at``): who may read it, and what they did with it.
- ``mention``: an inbox copy of a session message naming ``@agent``. Importing messages
  does not replay mentions, so without these records the mentioned agents would lose
  their inbox items and their read/ack state. ``message_id`` is remapped through the
  document's message ids; a mention whose message is not in the document is dropped.
- ``read_cursor``: an agent's "read up to" mark in a session; without it every imported
  message counts as unread. ``last_read_id`` becomes the newest imported message at or
  below it (no such message: the cursor is dropped).

Direct messages are exported by ``scs export`` (the operator) only, never through an
MCP tool (``export_session``): admins have no tool path to other agents' direct
messages. Items with a ``session_id`` are records of that session's document (after its
messages: the inbox requires messaging); direct messages outside sessions are in the
global part. Session documents are imported at most once per origin (the archive
skips them); global direct messages are idempotent by their natural keys (sender,
created_at, content). ``reply_to`` is remapped within the document (global part:
within the batch); a reply to a message outside it becomes no reply.
"""

from __future__ import annotations

import asyncio
import bisect
from typing import TYPE_CHECKING, Any

from scs_messaging.api import VISIBILITY_LEVELS
from scs_server.archiving import PAGE_SIZE, field_of, record_error
from scs_server.auth.tokens import AGENT_ID_RE

from scs_inbox import store

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from scs_server.app import App
    from scs_server.archiving import ExportRequest, ImportBatch, Record, RetentionPolicy
    from scs_server.storage import Database, Executor, Row, Transaction

DIRECT = "direct_message"
MENTION = "mention"
CURSOR = "read_cursor"
IMPORTANCE = frozenset({"low", "normal", "high", "urgent"})
_KINDS = {"direct": DIRECT, "mention": MENTION}


def _record(row: Row, receipts: list[dict[str, Any]]) -> Record:
    record: Record = {
        "kind": _KINDS[row["kind"]],
        "id": row["id"],
        "sender": row["sender"],
        "sender_type": row["sender_type"],
        "visibility": row["visibility"],
        "subject": row["subject"],
        "content": row["content"],
        "session_id": row["session_id"],
        "importance": row["importance"],
        "created_at": row["created_at"],
        "recipients": receipts,
    }
    if row["kind"] == "direct":
        record["ack_required"] = bool(row["ack_required"])
        record["reply_to"] = row["reply_to"]
    else:
        record["message_id"] = row["source_message_id"]
    return record


async def export_records(reader: Executor, request: ExportRequest) -> AsyncIterator[Record]:
    """The session's items then its read cursors, or the direct messages outside sessions.

    Direct messages only for the operator (``request.operator``: ``scs export``): an
    admin's ``export_session`` must not become a tool path to other agents' direct
    messages."""
    direct = request.operator
    after = 0
    while True:
        rows = await store.archive_items(
            reader, request.session_id, request.since, after, PAGE_SIZE, direct=direct
        )
        receipts: dict[int, list[dict[str, Any]]] = {}
        for receipt in await store.archive_receipts(reader, [row["id"] for row in rows]):
            receipts.setdefault(receipt["message_id"], []).append(
                {
                    "agent_id": receipt["agent_id"],
                    "read_at": receipt["read_at"],
                    "acked_at": receipt["acked_at"],
                }
            )
        for row in rows:
            yield _record(row, receipts.get(row["id"], []))
        if len(rows) < PAGE_SIZE:
            break
        after = rows[-1]["id"]
    if request.session_id is None:
        return
    agent = ""
    while True:
        cursors = await store.archive_cursors(
            reader, request.session_id, request.since, agent, PAGE_SIZE
        )
        for cursor in cursors:
            yield {"kind": CURSOR, **dict(cursor)}
        if len(cursors) < PAGE_SIZE:
            return
        agent = cursors[-1]["agent_id"]


def _agent(line: int, record: Record, value: Any, name: str) -> str:
    if not isinstance(value, str) or not AGENT_ID_RE.match(value):
        raise record_error(line, f"{record['kind']}.{name} is not an agent id")
    return value


def _check_item(line: int, record: Record, sessions: dict[Any, Any]) -> None:
    field_of(line, record, "id", int)
    for name in ("sender_type", "content", "created_at"):
        field_of(line, record, name, str)
    _agent(line, record, record.get("sender"), "sender")
    field_of(line, record, "subject", str, optional=True)
    if record.get("importance") not in IMPORTANCE:
        raise record_error(line, f"{record['kind']}.importance must be one of {sorted(IMPORTANCE)}")
    session_id = field_of(line, record, "session_id", str, optional=True)
    if session_id is not None and session_id not in sessions:
        raise record_error(line, f"{record['kind']} outside its session's document")
    if session_id is None and sessions:
        raise record_error(line, f"{record['kind']} without session_id in a session's document")
    recipients = field_of(line, record, "recipients", list)
    if not recipients:
        raise record_error(line, f"{record['kind']}.recipients must name at least one agent")
    seen: set[str] = set()
    for receipt in recipients:
        if not isinstance(receipt, dict):
            raise record_error(line, f"{record['kind']}.recipients holds objects")
        agent_id = _agent(line, record, receipt.get("agent_id"), "recipients.agent_id")
        if agent_id in seen:
            raise record_error(line, f"{record['kind']}.recipients names {agent_id} twice")
        seen.add(agent_id)
        for name in ("read_at", "acked_at"):
            if not isinstance(receipt.get(name), str | None):
                raise record_error(line, f"{record['kind']}.recipients.{name} must be text")
    if record["kind"] == DIRECT:
        if record.get("visibility") != "direct":
            raise record_error(line, "direct_message.visibility must be 'direct'")
        field_of(line, record, "ack_required", bool)
        field_of(line, record, "reply_to", int, optional=True)
    else:
        if session_id is None:
            raise record_error(line, "mention.session_id is missing")
        if record.get("visibility") not in VISIBILITY_LEVELS:
            raise record_error(line, f"mention.visibility must be one of {list(VISIBILITY_LEVELS)}")
        field_of(line, record, "message_id", int)


def _check_cursor(line: int, record: Record, sessions: dict[Any, Any]) -> None:
    _agent(line, record, record.get("agent_id"), "agent_id")
    field_of(line, record, "last_read_id", int)
    field_of(line, record, "updated_at", str)
    if field_of(line, record, "session_id", str) not in sessions:
        raise record_error(line, "read_cursor outside its session's document")


async def import_records(app: App, tx: Transaction | None, batch: ImportBatch) -> int | None:
    """Check (``tx`` None) or import a batch of inbox records; None for other kinds."""
    if batch.kind not in (DIRECT, MENTION, CURSOR):
        return None
    sessions = batch.mapped("session")
    for line, record in batch.records:
        if batch.kind == CURSOR:
            _check_cursor(line, record, sessions)
        else:
            _check_item(line, record, sessions)
    if tx is None:
        return len(batch.records)
    if batch.kind == CURSOR:
        return await _import_cursors(tx, batch)
    await store.lock_inbox(tx, app.db.dialect)
    return await _import_items(tx, batch)


async def _import_items(tx: Transaction, batch: ImportBatch) -> int:
    sessions = batch.mapped("session")
    messages = batch.mapped("message")
    ids = batch.mapped(DIRECT)
    written = 0
    for _line, record in batch.records:
        session_id = sessions.get(record["session_id"])
        fields: dict[str, Any] = {
            "sender": record["sender"],
            "sender_type": record["sender_type"],
            "visibility": record["visibility"],
            "subject": record["subject"],
            "content": record["content"],
            "session_id": session_id,
            "importance": record["importance"],
        }
        if record["kind"] == DIRECT:
            if session_id is None:
                existing = await store.same_direct_message(
                    tx, record["sender"], record["created_at"], record["content"]
                )
                if existing is not None:  # imported before: keep its id for replies
                    ids[record["id"]] = existing
                    continue
            fields.update(
                kind="direct",
                ack_required=record["ack_required"],
                reply_to=ids.get(record["reply_to"]),
            )
        else:
            source = messages.get(record["message_id"])
            if source is None:  # its message is not in this document
                continue
            fields.update(kind="mention", source_message_id=source)
        new_id = await store.insert_row(tx, created_at=record["created_at"], **fields)
        receipts = [
            (r["agent_id"], r.get("read_at"), r.get("acked_at")) for r in record["recipients"]
        ]
        await store.add_recipients(tx, new_id, receipts)
        if record["kind"] == DIRECT:
            ids[record["id"]] = new_id
        written += 1
    return written


async def _import_cursors(tx: Transaction, batch: ImportBatch) -> int:
    sessions = batch.mapped("session")
    messages = sorted(batch.mapped("message").items())
    originals = [original for original, _new in messages]
    written = 0
    for _line, record in batch.records:
        at = bisect.bisect_right(originals, record["last_read_id"])
        if at == 0:  # no imported message at or below the cursor
            continue
        new_id = int(messages[at - 1][1])
        session_id = sessions[record["session_id"]]
        await store.set_cursor(tx, record["agent_id"], session_id, new_id, record["updated_at"])
        written += 1
    return written


async def purge(db: Database, policy: RetentionPolicy) -> dict[str, int]:
    """Delete inbox items older than their session's cut-off (held sessions: never),
    direct messages outside sessions by the global message cut-off; batch by batch."""
    removed: dict[str, int] = {"direct_messages": 0, "mentions": 0}
    for session_id, cutoff in sorted(policy.session_cutoffs.items()):
        if session_id not in policy.held:
            await _purge(db, policy, cutoff, session_id, [], removed)
    if policy.messages_before is not None:
        spared = sorted(policy.held | policy.session_cutoffs.keys())
        await _purge(db, policy, policy.messages_before, None, spared, removed)
    return removed


async def _purge(
    db: Database,
    policy: RetentionPolicy,
    before: str,
    session_id: str | None,
    spared: list[str],
    removed: dict[str, int],
) -> None:
    for _ in range(policy.max_batches):
        async with db.transaction(heavy=True) as tx:
            rows = await store.purge_batch(
                tx, before, session_id=session_id, spared=spared, limit=policy.batch_size
            )
        for row in rows:
            removed["direct_messages" if row["kind"] == "direct" else "mentions"] += 1
        if len(rows) < policy.batch_size:
            return
        await asyncio.sleep(0)  # let waiting requests take the write lock
