"""SQL of the auth tables: revoked token ids and the audit trail."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

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
]


def _revoked(conn: sqlite3.Connection, jti: str) -> bool:
    row = conn.execute("SELECT 1 FROM scs_revoked_tokens WHERE jti = ?", (jti,)).fetchone()
    return row is not None


def is_revoked(db: Database, jti: str) -> bool:
    """Whether a token id was revoked: a primary-key lookup on every authenticated call,
    so it runs on the event loop (``Database.lookup``), not through a thread."""
    return db.lookup(_revoked, jti)


async def revoke(db: Database, jti: str, agent_id: str, expires_at: int) -> bool:
    """Record a revoked token id; False if it was revoked already."""
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "INSERT OR IGNORE INTO scs_revoked_tokens (jti, agent_id, expires_at, revoked_at) "
            "VALUES (?, ?, ?, ?)",
            (jti, agent_id, expires_at, int(time.time())),
        )
        return cursor.rowcount == 1


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
            "INSERT INTO scs_audit (agent_id, action, result, detail, client) "
            "VALUES (?, ?, ?, ?, ?)",
            (agent_id[:200] if agent_id else None, action, result, (detail or "")[:500], client),
        )
        return int(cursor.lastrowid or 0)


async def update_audit_details(db: Database, updates: list[tuple[int, str]]) -> None:
    """Rewrite the detail of audit rows (aggregated counts), in one transaction."""
    if not updates:
        return
    async with db.transaction() as conn:
        for row, detail in updates:
            await conn.execute("UPDATE scs_audit SET detail = ? WHERE id = ?", (detail[:500], row))


async def audit_rows(db: Database, limit: int = 100) -> list[dict[str, Any]]:
    async with db.read() as conn:
        cursor = await conn.execute(
            "SELECT id, at, agent_id, action, result, detail, client FROM scs_audit "
            "ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [dict(row) for row in await cursor.fetchall()]
