"""Sessions in archives: the ``session`` record (export, import) and the walk over
session ids the archive plugin drives (``scs_sessions.api``). All its SQL is here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scs_server.archiving import PAGE_SIZE, field_of, record_error
from scs_server.errors import ErrorCode, ScsError

from scs_sessions.service import new_session_id
from scs_sessions.store import COLUMNS, TOPIC

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from scs_server.archiving import ExportRequest, ImportBatch, Record
    from scs_server.storage import Executor, Transaction

KIND = "session"
_TEXT = ("purpose", "created_by", "created_by_type", "created_at", "updated_at")


async def session_ids(
    reader: Executor, *, only: list[str] | None = None, since: str | None = None
) -> AsyncIterator[str]:
    """Every session id (or those of ``only`` that exist), keyset-paged in id order."""
    if only is not None:
        for session_id in sorted(set(only)):
            if await reader.fetch_value(
                "SELECT 1 FROM sessions_sessions WHERE id = ?", (session_id,)
            ):
                yield session_id
        return
    after = ""
    while True:
        rows = await reader.fetch_all(
            "SELECT id FROM sessions_sessions WHERE id > ? AND (CAST(? AS TEXT) IS NULL OR created_at >= ?)"
            " ORDER BY id LIMIT ?",
            (after, since, since, PAGE_SIZE),
        )
        for row in rows:
            yield row["id"]
        if len(rows) < PAGE_SIZE:
            return
        after = rows[-1]["id"]


async def export_records(reader: Executor, request: ExportRequest) -> AsyncIterator[Record]:
    if request.session_id is None:
        return
    row = await reader.fetch_one(
        f"SELECT {COLUMNS} FROM sessions_sessions WHERE id = ?", (request.session_id,)
    )
    if row is not None:
        yield {"kind": KIND, **dict(row)}


def _check(line: int, record: Record) -> None:
    field_of(line, record, "id", str)
    for name in _TEXT:
        field_of(line, record, name, str)
    field_of(line, record, "metadata", str, optional=True)
    field_of(line, record, "closed_at", str, optional=True)
    if not record["id"] or len(record["id"]) > 200:
        raise record_error(line, "session.id must be 1..200 characters")


async def import_records(tx: Transaction | None, batch: ImportBatch) -> int | None:
    """Insert the document's session, keeping its id when free (``on_conflict`` decides
    otherwise); records the mapping in ``batch.ids["session"]``."""
    if batch.kind != KIND:
        return None
    for line, record in batch.records:
        _check(line, record)
    if tx is None:
        return len(batch.records)
    written = 0
    for line, record in batch.records:
        original = record["id"]
        target = original
        if await tx.fetch_value("SELECT 1 FROM sessions_sessions WHERE id = ?", (original,)):
            if batch.on_conflict == "fail":
                raise ScsError(
                    ErrorCode.CONFLICT,
                    f"line {line}: session {original!r} already exists",
                    "import with --on-conflict skip or rename",
                )
            if batch.on_conflict == "skip":
                batch.skipped = True
                return written
            target = new_session_id()
        await tx.execute(
            f"INSERT INTO sessions_sessions ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (target, *(record[name] for name in COLUMNS.split(", ")[1:])),
        )
        tx.emit(TOPIC, {"session_id": target})
        batch.mapped(KIND)[original] = target
        written += 1
    return written
