"""SQL of named client tokens: long-lived tokens an admin minted for a configured client.

The token itself is never stored: a row keeps what identifies it (``jti``) and what an
admin needs to see. Revocation goes through ``scs_revoked_tokens`` like any token's.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scs_server.migrations import Migration

if TYPE_CHECKING:
    from scs_server.storage import Database, Executor, Transaction

# Portable SQL on purpose (a PostgreSQL port follows): times as epoch seconds.
MIGRATION = Migration(
    3,
    "named client tokens",
    """
    CREATE TABLE scs_named_tokens (
        name TEXT PRIMARY KEY,
        jti TEXT NOT NULL UNIQUE,
        agent_id TEXT NOT NULL,
        agent_type TEXT NOT NULL,
        permissions TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        last_used INTEGER
    );
    """,
    postgresql="""
    CREATE TABLE scs_named_tokens (
        name TEXT PRIMARY KEY,
        jti TEXT NOT NULL UNIQUE,
        agent_id TEXT NOT NULL,
        agent_type TEXT NOT NULL,
        permissions TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        last_used BIGINT
    );
    """,
)
_SELECT = (
    "SELECT t.name, t.jti, t.agent_id, t.agent_type, t.permissions, t.created_at, "
    "t.expires_at, t.last_used, r.revoked_at FROM scs_named_tokens t "
    "LEFT JOIN scs_revoked_tokens r ON r.jti = t.jti"
)


@dataclass(frozen=True)
class NamedToken:
    """One named token as an admin sees it (never the token string)."""

    name: str
    jti: str
    agent_id: str
    agent_type: str
    permissions: list[str]
    created_at: int
    expires_at: int
    last_used: int | None
    revoked_at: int | None

    def status(self, now: int | None = None) -> str:
        now = int(time.time()) if now is None else now
        if self.revoked_at is not None and self.revoked_at <= now:
            return "revoked"
        return "expired" if self.expires_at <= now else "active"

    def public(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "jti": self.jti,
            "agent_id": self.agent_id,
            "agent_type": self.agent_type,
            "permissions": self.permissions,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "last_used": self.last_used,
            "status": self.status(),
        }


def _named(row: Any) -> NamedToken:
    return NamedToken(
        str(row[0]),
        str(row[1]),
        str(row[2]),
        str(row[3]),
        list(json.loads(row[4])),
        int(row[5]),
        int(row[6]),
        None if row[7] is None else int(row[7]),
        None if row[8] is None else int(row[8]),
    )


async def _find(reader: Executor, name_or_jti: str) -> NamedToken | None:
    row = await reader.fetch_one(
        f"{_SELECT} WHERE t.name = ? OR t.jti = ?", (name_or_jti, name_or_jti)
    )
    return None if row is None else _named(row)


async def find(db: Database, name_or_jti: str) -> NamedToken | None:
    """A named token by its name or its jti (two unique-index lookups)."""
    return await db.lookup(_find, name_or_jti)


async def _insert(
    tx: Transaction,
    name: str,
    jti: str,
    agent_id: str,
    agent_type: str,
    permissions: str,
    created_at: int,
    expires_at: int,
) -> bool:
    existing = await _find(tx, name)
    if existing is not None:
        if existing.status(created_at) == "active":
            return False
        await tx.execute("DELETE FROM scs_named_tokens WHERE name = ?", (name,))
    await tx.execute(
        "INSERT INTO scs_named_tokens (name, jti, agent_id, agent_type, permissions, "
        "created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (name, jti, agent_id, agent_type, permissions, created_at, expires_at),
    )
    return True


async def insert(
    db: Database,
    name: str,
    jti: str,
    agent_id: str,
    agent_type: str,
    permissions: list[str],
    created_at: int,
    expires_at: int,
) -> bool:
    """Record a named token; False (nothing written) while a live token holds the name.
    A revoked or expired token's name is reused."""
    return await db.write(
        _insert,
        name,
        jti,
        agent_id,
        agent_type,
        json.dumps(sorted(permissions)),
        created_at,
        expires_at,
    )


async def follow_refresh(db: Database, old_jti: str, new_jti: str, expires_at: int) -> None:
    """A refreshed named token keeps its name: the row now names the new token."""
    await db.execute(
        "UPDATE scs_named_tokens SET jti = ?, expires_at = ? WHERE jti = ?",
        (new_jti, expires_at, old_jti),
    )


async def touch(db: Database, jti: str, at: int) -> None:
    await db.execute("UPDATE scs_named_tokens SET last_used = ? WHERE jti = ?", (at, jti))


async def all_tokens(db: Database) -> list[NamedToken]:
    async with db.read() as reader:
        rows = await reader.fetch_all(f"{_SELECT} ORDER BY t.created_at, t.name")
    return [_named(row) for row in rows]
