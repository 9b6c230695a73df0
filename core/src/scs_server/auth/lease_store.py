"""SQL of the replicas' revocation leases (``scs_server.auth.revocation_lease``) and of
the revocations they keep in memory. The lease statements run on PostgreSQL only."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from scs_server.migrations import Migration

if TYPE_CHECKING:
    from scs_server.storage import Database

REVOKED_TOPIC = "auth.revoked"
"""Change-feed topic of a revocation: ``{"jti", "revoked_at", "expires_at"}``."""

MIGRATION = Migration(
    4,
    "replica revocation leases",
    """
    CREATE TABLE scs_replica_leases (
        replica TEXT PRIMARY KEY,
        acked_seq BIGINT NOT NULL,
        lease_until DOUBLE PRECISION NOT NULL
    );
    """,
)

_PG_NOW = "extract(epoch FROM clock_timestamp())"


async def unexpired_revocations(db: Database, limit: int) -> list[tuple[str, int, int]]:
    """The revocations of tokens not yet expired, at most ``limit``: (jti, revoked_at,
    expires_at)."""
    rows = await db.fetch_all(
        "SELECT jti, revoked_at, expires_at FROM scs_revoked_tokens WHERE expires_at >= ? LIMIT ?",
        (int(time.time()), limit),
    )
    return [(row["jti"], int(row["revoked_at"]), int(row["expires_at"])) for row in rows]


async def renew(db: Database, replica: str, acked_seq: int, lease_s: float) -> None:
    """Hold ``replica``'s lease for ``lease_s`` from now by PostgreSQL's clock; record
    that it has applied every change up to ``acked_seq`` (never lowered)."""
    await db.execute(
        "INSERT INTO scs_replica_leases (replica, acked_seq, lease_until)"
        f" VALUES (?, ?, {_PG_NOW} + ?) ON CONFLICT (replica) DO UPDATE SET"
        " acked_seq = GREATEST(scs_replica_leases.acked_seq, excluded.acked_seq),"
        " lease_until = excluded.lease_until",
        (replica, acked_seq, lease_s),
    )


async def ack(db: Database, replica: str, acked_seq: int) -> None:
    """Record that ``replica`` has applied every change up to ``acked_seq``."""
    await db.execute(
        "UPDATE scs_replica_leases SET acked_seq = GREATEST(acked_seq, ?) WHERE replica = ?",
        (acked_seq, replica),
    )


async def release(db: Database, replica: str) -> None:
    await db.execute("DELETE FROM scs_replica_leases WHERE replica = ?", (replica,))


async def forget_lapsed(db: Database, older_than_s: float) -> int:
    """Delete the rows of replicas whose lease ran out ``older_than_s`` ago (gone)."""
    return await db.execute(
        f"DELETE FROM scs_replica_leases WHERE lease_until < {_PG_NOW} - ?", (older_than_s,)
    )


async def feed_head(db: Database) -> int:
    """The newest committed change's seq (0 when there is none)."""
    return int(await db.fetch_value("SELECT COALESCE(MAX(seq), 0) FROM scs_changes"))


async def last_revocation_seq(db: Database) -> int:
    """The seq of the newest revocation's change (0 when there is none)."""
    value = await db.fetch_value(
        "SELECT COALESCE(MAX(seq), 0) FROM scs_changes WHERE topic = ?", (REVOKED_TOPIC,)
    )
    return int(value)


async def leases_behind(db: Database, seq: int, besides: str) -> int:
    """How many replicas other than ``besides`` hold a live lease without having applied
    the change ``seq``."""
    value = await db.fetch_value(
        "SELECT COUNT(*) FROM scs_replica_leases WHERE acked_seq < ? AND replica <> ?"
        f" AND lease_until > {_PG_NOW}",
        (seq, besides),
    )
    return int(value)
