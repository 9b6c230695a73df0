"""SQL of the auth tables: revoked token ids and the audit trail (agents: ``agents_store``)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from scs.auth import agents_store
from scs.migrations import Migration

if TYPE_CHECKING:
    import sqlite3

    from scs.db import Database

MIGRATIONS = [
    Migration(
        1,
        "auth tables",
        """
        CREATE TABLE scs_revoked_tokens (
            jti TEXT PRIMARY KEY,
            agent_id TEXT NOT NULL,
            expires_at INTEGER NOT NULL,
            revoked_at INTEGER NOT NULL
        );
        CREATE INDEX scs_revoked_tokens_expiry ON scs_revoked_tokens (expires_at);
        CREATE TABLE scs_audit (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
            agent_id TEXT,
            action TEXT NOT NULL,
            result TEXT NOT NULL,
            detail TEXT,
            client TEXT
        );
        CREATE INDEX scs_audit_agent ON scs_audit (agent_id, at);
        """,
    ),
    agents_store.MIGRATION,
]


def _revoked(conn: sqlite3.Connection, jti: str) -> bool:
    row = conn.execute("SELECT 1 FROM scs_revoked_tokens WHERE jti = ?", (jti,)).fetchone()
    return row is not None


def is_revoked(db: Database, jti: str) -> bool:
    """Whether a token id was revoked: a primary-key lookup on every authenticated call,
    so it runs on the event loop (``Database.lookup``), not through a thread."""
    return db.lookup(_revoked, jti)


_REVOKE_SQL = (
    "INSERT INTO scs_revoked_tokens (jti, agent_id, expires_at, revoked_at) "
    "VALUES (?, ?, ?, ?) ON CONFLICT (jti) DO NOTHING"
)
_AUDIT_SQL = (
    "INSERT INTO scs_audit (agent_id, action, result, detail, client) VALUES (?, ?, ?, ?, ?)"
)


def _audit_params(
    agent_id: str | None, action: str, result: str, detail: str | None, client: str | None
) -> tuple[Any, ...]:
    return (agent_id[:200] if agent_id else None, action, result, (detail or "")[:500], client)


def _revoke_once(
    conn: sqlite3.Connection, jti: str, agent_id: str, expires_at: int, action: str
) -> bool:
    """Insert the revocation; only the caller whose insert lands audits and wins."""
    cursor = conn.execute(_REVOKE_SQL, (jti, agent_id, expires_at, int(time.time())))
    if cursor.rowcount != 1:
        return False
    conn.execute(_AUDIT_SQL, _audit_params(agent_id, action, "success", None, None))
    return True


async def revoke(db: Database, jti: str, agent_id: str, expires_at: int, action: str) -> bool:
    """Revoke a token id and audit ``action`` in one transaction.

    True for exactly one caller per token id, however many race (the insert is the
    arbiter); False, with nothing written, when it was revoked already.
    """
    return await db.write(_revoke_once, jti, agent_id, expires_at, action)


async def purge_expired_revocations(db: Database, now: int | None = None) -> int:
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "DELETE FROM scs_revoked_tokens WHERE expires_at < ?", (now or int(time.time()),)
        )
        return cursor.rowcount


async def audit(
    db: Database,
    action: str,
    result: str,
    *,
    agent_id: str | None = None,
    detail: str | None = None,
    client: str | None = None,
) -> int:
    """Write one audit row; return its id."""
    async with db.transaction() as conn:
        cursor = await conn.execute(
            _AUDIT_SQL, _audit_params(agent_id, action, result, detail, client)
        )
        return int(cursor.lastrowid or 0)


async def update_audit_details(db: Database, updates: list[tuple[int, str]]) -> None:
    """Rewrite the detail of audit rows (aggregated counts), in one transaction."""
    if not updates:
        return
    async with db.transaction() as conn:
        for row, detail in updates:
            await conn.execute("UPDATE scs_audit SET detail = ? WHERE id = ?", (detail[:500], row))


def _prune_audit(conn: sqlite3.Connection, before: str, batch: int) -> int:
    cursor = conn.execute(
        "DELETE FROM scs_audit WHERE id IN "
        "(SELECT id FROM scs_audit WHERE at < ? ORDER BY id LIMIT ?)",
        (before, batch),
    )
    return cursor.rowcount


async def prune_audit(db: Database, before: str, batch: int = 1000, max_batches: int = 100) -> int:
    """Delete audit rows stamped before ``before`` (ISO), a batch per transaction."""
    total = 0
    for _ in range(max_batches):
        removed = await db.write(_prune_audit, before, batch)
        total += removed
        if removed < batch:
            break
    return total


async def audit_rows(db: Database, limit: int = 100) -> list[dict[str, Any]]:
    async with db.read() as conn:
        cursor = await conn.execute(
            "SELECT id, at, agent_id, action, result, detail, client FROM scs_audit "
            "ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [dict(row) for row in await cursor.fetchall()]
