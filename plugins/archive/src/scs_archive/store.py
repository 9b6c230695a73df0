"""All SQL of the archive plugin: this database's instance id, per-session retention
and legal holds, and which exported sessions and global records were imported already
(by origin)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from scs_server import Migration
from scs_sessions.api import session_state

if TYPE_CHECKING:
    from scs_server.storage import Database, Executor, Transaction

MIGRATIONS = [
    Migration(
        1,
        "archive tables",
        """
        CREATE TABLE archive_instance (
            singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
            instance_id TEXT NOT NULL
        );
        CREATE TABLE archive_policies (
            session_id TEXT PRIMARY KEY REFERENCES sessions_sessions (id) ON DELETE CASCADE,
            retention_days INTEGER,
            held INTEGER NOT NULL DEFAULT 0,
            reason TEXT,
            updated_by TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE archive_imports (
            origin TEXT NOT NULL,
            original_session_id TEXT NOT NULL,
            session_id TEXT NOT NULL,
            imported_at TEXT NOT NULL,
            PRIMARY KEY (origin, original_session_id)
        );
        """,
    ),
    Migration(
        2,
        "global records imported before",
        """
        CREATE TABLE archive_imported_records (
            origin TEXT NOT NULL,
            kind TEXT NOT NULL,
            original_id TEXT NOT NULL,
            imported_at TEXT NOT NULL,
            PRIMARY KEY (origin, kind, original_id)
        );
        """,
    ),
]


async def instance_id(db: Database) -> str:
    """This database's stable id: the origin of the records it exports."""
    found = await db.fetch_value("SELECT instance_id FROM archive_instance WHERE singleton = 1")
    if found is not None:
        return str(found)
    await db.execute(
        "INSERT INTO archive_instance (singleton, instance_id) VALUES (1, ?)"
        " ON CONFLICT (singleton) DO NOTHING",
        (uuid.uuid4().hex,),
    )
    return str(await db.fetch_value("SELECT instance_id FROM archive_instance WHERE singleton = 1"))


async def imported_as(r: Executor, origin: str, original: str) -> str | None:
    value = await r.fetch_value(
        "SELECT session_id FROM archive_imports WHERE origin = ? AND original_session_id = ?",
        (origin, original),
    )
    return None if value is None else str(value)


async def remember_import(
    tx: Transaction, origin: str, original: str, session_id: str, at: str
) -> None:
    await tx.execute(
        "INSERT INTO archive_imports (origin, original_session_id, session_id, imported_at)"
        " VALUES (?, ?, ?, ?)",
        (origin, original, session_id, at),
    )


async def imported_records(r: Executor, origin: str, kind: str, originals: list[str]) -> set[str]:
    """Which of ``originals`` (ids of ``kind`` records in a file's global part) were
    imported from ``origin`` before."""
    found: set[str] = set()
    for start in range(0, len(originals), 500):
        chunk = originals[start : start + 500]
        rows = await r.fetch_all(
            "SELECT original_id FROM archive_imported_records WHERE origin = ? AND kind = ?"
            f" AND original_id IN ({', '.join('?' * len(chunk))})",
            (origin, kind, *chunk),
        )
        found.update(str(row["original_id"]) for row in rows)
    return found


async def remember_records(
    tx: Transaction, origin: str, kind: str, originals: list[str], at: str
) -> None:
    await tx.execute_many(
        "INSERT INTO archive_imported_records (origin, kind, original_id, imported_at)"
        " VALUES (?, ?, ?, ?) ON CONFLICT (origin, kind, original_id) DO NOTHING",
        [(origin, kind, original, at) for original in originals],
    )


async def session_exists(r: Executor, session_id: str) -> bool:
    return await session_state(r, session_id) != "missing"


async def set_policy(
    tx: Transaction,
    session_id: str,
    by: str,
    at: str,
    *,
    retention_days: int | None = None,
    held: bool | None = None,
    reason: str | None = None,
) -> None:
    """Set a session's retention days and/or hold (None: leave as it was)."""
    await tx.execute(
        "INSERT INTO archive_policies (session_id, retention_days, held, reason, updated_by,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (session_id) DO UPDATE SET"
        " retention_days = COALESCE(CAST(? AS INTEGER), archive_policies.retention_days),"
        " held = COALESCE(CAST(? AS INTEGER), archive_policies.held),"
        " reason = COALESCE(CAST(? AS TEXT), archive_policies.reason),"
        " updated_by = excluded.updated_by, updated_at = excluded.updated_at",
        (
            session_id,
            retention_days,
            int(held or False),
            reason,
            by,
            at,
            retention_days,
            None if held is None else int(held),
            reason,
        ),
    )


async def clear_retention(tx: Transaction, session_id: str) -> None:
    await tx.execute(
        "UPDATE archive_policies SET retention_days = NULL WHERE session_id = ?", (session_id,)
    )


async def policy(r: Executor, session_id: str) -> dict[str, object] | None:
    row = await r.fetch_one(
        "SELECT session_id, retention_days, held, reason, updated_by, updated_at"
        " FROM archive_policies WHERE session_id = ?",
        (session_id,),
    )
    if row is None:
        return None
    found = dict(row)
    found["held"] = bool(found["held"])
    return found


async def all_policies(db: Database) -> list[tuple[str, int | None, bool]]:
    """(session, retention days, held) of every session with a policy (a small table)."""
    async with db.read() as r:
        rows = await r.fetch_all(
            "SELECT session_id, retention_days, held FROM archive_policies ORDER BY session_id"
        )
    return [(row[0], row[1], bool(row[2])) for row in rows]
