"""The audit trail in archives (``audit`` records, only with ``--include audit``) and
its retention. All the SQL of these is here.

Imports are idempotent by natural key: a row with the same time, agent, action,
result, detail and client is not added twice.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from scs_server.archiving import PAGE_SIZE, field_of

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from scs_server.archiving import ExportRequest, ImportBatch, Record, RetentionPolicy
    from scs_server.storage import Database, Executor, Transaction

KIND = "audit"
_FIELDS = ("at", "agent_id", "action", "result", "detail", "client")
_SAME = (
    "at = ? AND COALESCE(agent_id, '') = COALESCE(CAST(? AS TEXT), '') AND action = ?"
    " AND result = ? AND COALESCE(detail, '') = COALESCE(CAST(? AS TEXT), '')"
    " AND COALESCE(client, '') = COALESCE(CAST(? AS TEXT), '')"
)
_INSERT = (
    "INSERT INTO scs_audit (at, agent_id, action, result, detail, client)"
    " SELECT ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM scs_audit WHERE " + _SAME + ")"
)


async def export_records(reader: Executor, request: ExportRequest) -> AsyncIterator[Record]:
    if request.session_id is not None or KIND not in request.include:
        return
    after = 0
    while True:
        rows = await reader.fetch_all(
            "SELECT id, at, agent_id, action, result, detail, client FROM scs_audit"
            " WHERE id > ? AND (CAST(? AS TEXT) IS NULL OR at >= ?) ORDER BY id LIMIT ?",
            (after, request.since, request.since, PAGE_SIZE),
        )
        for row in rows:
            record = {"kind": KIND, **dict(row)}
            del record["id"]
            yield record
        if len(rows) < PAGE_SIZE:
            return
        after = rows[-1]["id"]


async def import_records(tx: Transaction | None, batch: ImportBatch) -> int | None:
    if batch.kind != KIND:
        return None
    for line, record in batch.records:
        for name in ("at", "action", "result"):
            field_of(line, record, name, str)
        for name in ("agent_id", "detail", "client"):
            field_of(line, record, name, str, optional=True)
    if tx is None:
        return len(batch.records)
    written = 0
    for _line, record in batch.records:
        values = tuple(record[name] for name in _FIELDS)
        written += await tx.execute(_INSERT, values + values)
    return written


async def purge(db: Database, policy: RetentionPolicy) -> dict[str, int]:
    """Delete audit rows older than ``policy.audit_before``, batch by batch."""
    if policy.audit_before is None:
        return {}
    total = 0
    for _ in range(policy.max_batches):
        removed = await db.execute(
            "DELETE FROM scs_audit WHERE id IN (SELECT id FROM scs_audit WHERE at < ?"
            " ORDER BY id LIMIT ?)",
            (policy.audit_before, policy.batch_size),
        )
        total += removed
        if removed < policy.batch_size:
            break
        await asyncio.sleep(0)
    return {"audit": total}
