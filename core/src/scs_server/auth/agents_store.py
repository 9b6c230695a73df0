"""SQL of the agent registry: which agent ids are protected, and by what."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scs_server.migrations import Migration

if TYPE_CHECKING:
    from scs_server.storage import Database

# Portable SQL on purpose (a PostgreSQL port follows): no AUTOINCREMENT, no INSERT OR,
# booleans as 0/1 integers, times as epoch seconds.
MIGRATION = Migration(
    2,
    "agent registry",
    """
    CREATE TABLE scs_agents (
        agent_id TEXT PRIMARY KEY,
        agent_type TEXT NOT NULL,
        secret_hash TEXT,
        registered_by TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        admin_held INTEGER NOT NULL DEFAULT 0,
        protected_since INTEGER NOT NULL
    );
    """,
)
COLUMNS = (
    "agent_id, agent_type, secret_hash, registered_by, created_at, admin_held, protected_since"
)


@dataclass(frozen=True)
class AgentRecord:
    """One protected agent id. ``secret_hash`` is None for an id only the admin key may use.

    ``protected_since``: when it was registered, held or last given a new secret; tokens
    issued before then cannot be refreshed.
    """

    agent_id: str
    agent_type: str
    secret_hash: str | None
    registered_by: str
    created_at: int
    admin_held: bool
    protected_since: int

    def public(self) -> dict[str, Any]:
        """What may be shown to an admin: everything but the hash."""
        return {
            "agent_id": self.agent_id,
            "agent_type": self.agent_type,
            "has_secret": self.secret_hash is not None,
            "admin_held": self.admin_held,
            "registered_by": self.registered_by,
            "created_at": self.created_at,
            "protected_since": self.protected_since,
        }


def _record(row: Any) -> AgentRecord | None:
    if row is None:
        return None
    return AgentRecord(
        str(row[0]), str(row[1]), row[2], str(row[3]), int(row[4]), bool(row[5]), int(row[6])
    )


async def find(db: Database, agent_id: str) -> AgentRecord | None:
    """The registration of an agent id, if any: a primary-key point read on every
    ``authenticate_agent`` (on SQLite it runs on the event loop)."""
    row = await db.fetch_one(f"SELECT {COLUMNS} FROM scs_agents WHERE agent_id = ?", (agent_id,))
    return _record(row)


async def insert(
    db: Database, agent_id: str, agent_type: str, secret_hash: str, registered_by: str
) -> bool:
    """Register a new id with a secret; False (nothing written) if it is registered already."""
    now = int(time.time())
    inserted = await db.execute(
        f"INSERT INTO scs_agents ({COLUMNS}) VALUES (?, ?, ?, ?, ?, 0, ?) "
        "ON CONFLICT (agent_id) DO NOTHING",
        (agent_id, agent_type, secret_hash, registered_by, now, now),
    )
    return inserted == 1


async def set_secret(
    db: Database, agent_id: str, agent_type: str, secret_hash: str, registered_by: str
) -> bool:
    """Register or re-register an id with a new secret (admin only); True if it existed."""
    now = int(time.time())
    async with db.transaction() as tx:
        updated = await tx.execute(
            "UPDATE scs_agents SET agent_type = ?, secret_hash = ?, registered_by = ?, "
            "protected_since = ? WHERE agent_id = ?",
            (agent_type, secret_hash, registered_by, now, agent_id),
        )
        if updated == 1:
            return True
        await tx.execute(
            f"INSERT INTO scs_agents ({COLUMNS}) VALUES (?, ?, ?, ?, ?, 0, ?)",
            (agent_id, agent_type, secret_hash, registered_by, now, now),
        )
        return False


async def hold(db: Database, agent_id: str, agent_type: str) -> None:
    """Record that the admin key minted for an id: from now on it is protected."""
    now = int(time.time())
    await db.execute(
        f"INSERT INTO scs_agents ({COLUMNS}) VALUES (?, ?, NULL, 'admin_key', ?, 1, ?) "
        "ON CONFLICT (agent_id) DO UPDATE SET admin_held = 1",
        (agent_id, agent_type, now, now),
    )


async def remove(db: Database, agent_id: str) -> bool:
    """Forget an id (it becomes unprotected); False if it was not registered."""
    return await db.execute("DELETE FROM scs_agents WHERE agent_id = ?", (agent_id,)) == 1


async def all_agents(db: Database) -> list[AgentRecord]:
    async with db.read() as reader:
        rows = await reader.fetch_all(f"SELECT {COLUMNS} FROM scs_agents ORDER BY agent_id")
    return [record for record in map(_record, rows) if record is not None]
