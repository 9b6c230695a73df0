"""SQL of the auth tables: revoked token ids and the audit trail (agents: ``agents_store``,
named tokens: ``named_store``)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from scs.auth import agents_store, named_store
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
    named_store.MIGRATION,
]


def _revoked(conn: sqlite3.Connection, jti: str, now: int) -> bool:
    row = conn.execute(
        "SELECT 1 FROM scs_revoked_tokens WHERE jti = ? AND revoked_at <= ?", (jti, now)
    ).fetchone()
    return row is not None


def is_revoked(db: Database, jti: str) -> bool:
    """Whether a token id is refused: a primary-key lookup on every authenticated call,
    so it runs on the event loop (``Database.lookup``), not through a thread.

    ``revoked_at`` is when the refusal starts: a refresh with a grace window puts it
    a little in the future (the old token keeps working until then)."""
    return db.lookup(_revoked, jti, int(time.time()))


_REVOKE_SQL = (
    "INSERT INTO scs_revoked_tokens (jti, agent_id, expires_at, revoked_at) "
    "VALUES (?, ?, ?, ?) ON CONFLICT (jti) DO NOTHING"
)
# an explicit revocation also ends a grace window a refresh left running
_REVOKE_NOW_SQL = (
    "INSERT INTO scs_revoked_tokens (jti, agent_id, expires_at, revoked_at) "
    "VALUES (?, ?, ?, ?) ON CONFLICT (jti) DO UPDATE SET revoked_at = excluded.revoked_at "
    "WHERE scs_revoked_tokens.revoked_at > excluded.revoked_at"
)
_AUDIT_SQL = (
    "INSERT INTO scs_audit (agent_id, action, result, detail, client) VALUES (?, ?, ?, ?, ?)"
)


def _audit_params(
    agent_id: str | None, action: str, result: str, detail: str | None, client: str | None
) -> tuple[Any, ...]:
    return (agent_id[:200] if agent_id else None, action, result, (detail or "")[:500], client)


def _revoke_once(
    conn: sqlite3.Connection, jti: str, agent_id: str, expires_at: int, action: str, grace_s: int
) -> bool:
    """Insert the revocation; only the caller whose insert lands audits and wins."""
    sql = _REVOKE_NOW_SQL if action == "revoke" else _REVOKE_SQL
    cursor = conn.execute(sql, (jti, agent_id, expires_at, int(time.time()) + grace_s))
    if cursor.rowcount != 1:
        return False
    conn.execute(_AUDIT_SQL, _audit_params(agent_id, action, "success", None, None))
    return True


async def revoke(
    db: Database, jti: str, agent_id: str, expires_at: int, action: str, grace_s: int = 0
) -> bool:
    """Revoke a token id (refused from ``grace_s`` seconds on) and audit ``action``, in
    one transaction.

    True for exactly one caller per token id, however many race (the insert is the
    arbiter); False, with nothing written, when it was revoked already (a token in its
    grace window cannot be refreshed or revoked a second time).
    """
    return await db.write(_revoke_once, jti, agent_id, expires_at, action, grace_s)


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


async def audit_rows(db: Database, limit: int = 100) -> list[dict[str, Any]]:
    async with db.read() as conn:
        cursor = await conn.execute(
            "SELECT id, at, agent_id, action, result, detail, client FROM scs_audit "
            "ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [dict(row) for row in await cursor.fetchall()]
