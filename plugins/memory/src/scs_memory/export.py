"""Memory in archives: the ``memory`` record (export and import; all their SQL).

Live entries only (an expired one is already invisible); ``value`` and ``metadata``
stay the stored JSON text, so a round trip is byte-exact. An import never replaces
an entry that exists (same agent, scope and key): idempotent, and what is there wins.
Imports are not counted against the per-agent quotas (an administrator's act).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scs_server.archiving import PAGE_SIZE, field_of, record_error
from scs_server.timestamps import utc_now

from scs_memory.store import SCOPE, TOPIC

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from scs_server.archiving import ExportRequest, ImportBatch, Record
    from scs_server.storage import Executor, Transaction

KIND = "memory"
_FIELDS = (
    "id, agent_id, session_id, key, value, metadata, size, version,"
    " created_at, updated_at, expires_at"
)
_INSERT = (
    "INSERT INTO memory_entries (agent_id, session_id, key, value, metadata, size, version,"
    " created_at, updated_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    f" ON CONFLICT (agent_id, {SCOPE}, key) DO NOTHING"
)


async def export_records(reader: Executor, request: ExportRequest) -> AsyncIterator[Record]:
    scope = "session_id IS NULL" if request.session_id is None else "session_id = ?"
    scope_params = [] if request.session_id is None else [request.session_id]
    now = utc_now()
    after = 0
    while True:
        rows = await reader.fetch_all(
            f"SELECT {_FIELDS} FROM memory_entries WHERE {scope} AND id > ?"
            " AND (expires_at IS NULL OR expires_at > ?)"
            " AND (CAST(? AS TEXT) IS NULL OR updated_at >= ?) ORDER BY id LIMIT ?",
            (*scope_params, after, now, request.since, request.since, PAGE_SIZE),
        )
        for row in rows:
            record = {"kind": KIND, **dict(row)}
            del record["id"]  # entries are identified by (agent, scope, key)
            yield record
        if len(rows) < PAGE_SIZE:
            return
        after = rows[-1]["id"]


def _check(line: int, record: Record) -> None:
    for name in ("agent_id", "key", "value", "created_at", "updated_at"):
        field_of(line, record, name, str)
    for name in ("session_id", "metadata", "expires_at"):
        field_of(line, record, name, str, optional=True)
    for name in ("size", "version"):
        field_of(line, record, name, int)
    if record["version"] < 1:
        raise record_error(line, "memory.version must be at least 1")


async def import_records(tx: Transaction | None, batch: ImportBatch) -> int | None:
    if batch.kind != KIND:
        return None
    sessions = batch.mapped("session")
    for line, record in batch.records:
        _check(line, record)
        session_id = record["session_id"]
        if session_id is not None and session_id not in sessions:
            raise record_error(line, "session memory outside its session's document")
    if tx is None:
        return len(batch.records)
    written = 0
    agents: set[str] = set()
    for _line, r in batch.records:
        session_id = None if r["session_id"] is None else sessions[r["session_id"]]
        written += await tx.execute(
            _INSERT,
            (
                r["agent_id"],
                session_id,
                r["key"],
                r["value"],
                r["metadata"],
                r["size"],
                r["version"],
                r["created_at"],
                r["updated_at"],
                r["expires_at"],
            ),
        )
        agents.add(r["agent_id"])
    for agent_id in sorted(agents):
        tx.emit(TOPIC, {"agent_id": agent_id})
    return written
