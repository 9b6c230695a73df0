"""All SQL of the leases plugin: the schema and every query, parameterised.

**Serialising grants.** A grant reads every live lease, decides conflicts in Python
(glob overlap cannot be indexed) and inserts, all in one write transaction. That
read-decide-write must not interleave with another grant:

- SQLite: write transactions start with ``BEGIN IMMEDIATE``, so there is one writer
  at a time across every process on the file; nothing more is needed.
- PostgreSQL: READ COMMITTED transactions run side by side, so every transaction that
  grants, renews or releases first takes ``pg_advisory_xact_lock`` on one fixed key
  (``GRANT_LOCK``), held until commit. Grants are short (a few statements), so one
  global lock is cheap and makes the decision exact without SERIALIZABLE retries.

**Fencing tokens** come from the single row of ``leases_tokens``, incremented in the
grant's transaction: strictly increasing across all grants, on both engines, never
reused (a rolled-back grant rolls its increment back too).

Timestamps are fixed-width ISO-8601 UTC text (``scs_server.timestamps``), so text order is
time order; on PostgreSQL they are ``COLLATE "C"``. "Live" always means
``expires_at > now`` with ``now`` from the service's clock, never the database's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scs_server import Migration

if TYPE_CHECKING:
    from scs_server.storage import Database, Dialect, Executor, Row, Transaction

TOPIC = "leases"
"""The change feed topic: ``{"lease_id", "what"}`` on every grant, renewal, release and
expiry (``what``: acquired / renewed / released / expired; an expiry batch has
``lease_id`` None and a ``count``)."""
GRANT_LOCK = 0x5C5_1EA5  # pg_advisory_xact_lock key of every lease-changing transaction

_COLUMNS = (
    "id, holder, holder_type, session_id, mode, capacity, reason, resources, "
    "fencing_token, acquired_at, renewed_at, expires_at"
)


def _schema(timestamp: str) -> str:
    """The tables; ``timestamp`` is the column type of the ISO times, which must sort
    byte-wise (PostgreSQL's default collation would not)."""
    return f"""
        CREATE TABLE leases_tokens (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            last_token BIGINT NOT NULL
        );
        INSERT INTO leases_tokens (id, last_token) VALUES (1, 0);
        CREATE TABLE leases_active (
            id TEXT PRIMARY KEY,
            holder TEXT NOT NULL,
            holder_type TEXT NOT NULL,
            session_id TEXT,
            mode TEXT NOT NULL CHECK (mode IN ('exclusive', 'shared')),
            capacity INTEGER,
            reason TEXT,
            resources TEXT NOT NULL,
            fencing_token BIGINT NOT NULL UNIQUE,
            acquired_at {timestamp} NOT NULL,
            renewed_at {timestamp} NOT NULL,
            expires_at {timestamp} NOT NULL
        );
        CREATE INDEX leases_active_expiry ON leases_active (expires_at);
        CREATE INDEX leases_active_holder ON leases_active (holder, expires_at);
        """


MIGRATIONS = [
    Migration(
        1,
        "leases and fencing tokens",
        _schema("TEXT"),
        postgresql=_schema('TEXT COLLATE "C"'),
    )
]


@dataclass(frozen=True)
class Lease:
    """One stored lease (live or not: callers compare ``expires_at`` with their clock)."""

    id: str
    holder: str
    holder_type: str
    session_id: str | None
    mode: str
    capacity: int | None
    reason: str | None
    resources: tuple[str, ...]
    fencing_token: int
    acquired_at: str
    renewed_at: str
    expires_at: str

    def live_at(self, moment: str) -> bool:
        return self.expires_at > moment

    def to_dict(self) -> dict[str, Any]:
        return {
            "lease_id": self.id,
            "holder": self.holder,
            "holder_type": self.holder_type,
            "session_id": self.session_id,
            "mode": self.mode,
            "capacity": self.capacity,
            "reason": self.reason,
            "resources": list(self.resources),
            "fencing_token": self.fencing_token,
            "acquired_at": self.acquired_at,
            "renewed_at": self.renewed_at,
            "expires_at": self.expires_at,
        }


def _lease(row: Row) -> Lease:
    values = dict(row)
    values["resources"] = tuple(json.loads(values["resources"]))
    values["fencing_token"] = int(values["fencing_token"])
    return Lease(**values)


async def lock_grants(tx: Transaction, dialect: Dialect) -> None:
    """Serialise lease-changing transactions until ``tx`` ends (see the module docstring)."""
    if dialect == "postgresql":
        await tx.execute(f"SELECT pg_advisory_xact_lock({GRANT_LOCK})")


async def live(r: Executor, moment: str) -> list[Lease]:
    rows = await r.fetch_all(
        f"SELECT {_COLUMNS} FROM leases_active WHERE expires_at > ? ORDER BY fencing_token",
        (moment,),
    )
    return [_lease(row) for row in rows]


async def find(r: Executor, lease_id: str) -> Lease | None:
    row = await r.fetch_one(f"SELECT {_COLUMNS} FROM leases_active WHERE id = ?", (lease_id,))
    return None if row is None else _lease(row)


async def next_fencing_token(tx: Transaction) -> int:
    return int(
        await tx.fetch_value(
            "UPDATE leases_tokens SET last_token = last_token + 1 WHERE id = 1 RETURNING last_token"
        )
    )


async def insert(tx: Transaction, lease: Lease) -> None:
    await tx.execute(
        f"INSERT INTO leases_active ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            lease.id,
            lease.holder,
            lease.holder_type,
            lease.session_id,
            lease.mode,
            lease.capacity,
            lease.reason,
            json.dumps(list(lease.resources)),
            lease.fencing_token,
            lease.acquired_at,
            lease.renewed_at,
            lease.expires_at,
        ),
    )


async def extend(tx: Transaction, lease_id: str, renewed_at: str, expires_at: str) -> None:
    await tx.execute(
        "UPDATE leases_active SET renewed_at = ?, expires_at = ? WHERE id = ?",
        (renewed_at, expires_at, lease_id),
    )


async def delete(tx: Transaction, lease_id: str) -> None:
    await tx.execute("DELETE FROM leases_active WHERE id = ?", (lease_id,))


async def delete_expired(db: Database, moment: str, batch: int) -> list[Lease]:
    """Delete up to ``batch`` leases expired at ``moment`` in one transaction (kept off
    the event loop on SQLite) and return them; a batch that deleted rows is one change."""
    async with db.transaction(heavy=True) as tx:
        await lock_grants(tx, db.dialect)
        rows = await tx.fetch_all(
            f"DELETE FROM leases_active WHERE id IN (SELECT id FROM leases_active "
            f"WHERE expires_at <= ? ORDER BY expires_at LIMIT ?) RETURNING {_COLUMNS}",
            (moment, batch),
        )
        expired = [_lease(row) for row in rows]
        if expired:  # one change per batch: waiters only need to know "something freed"
            tx.emit(TOPIC, {"lease_id": None, "what": "expired", "count": len(expired)})
    return expired


# -- archives (``scs_leases.export``) -----------------------------------------------------


async def last_token(r: Executor) -> int:
    """The fencing counter: the last token handed out."""
    return int(await r.fetch_value("SELECT last_token FROM leases_tokens WHERE id = 1"))


async def raise_last_token(tx: Transaction, at_least: int) -> None:
    """Move the fencing counter up to ``at_least``; never down."""
    await tx.execute(
        "UPDATE leases_tokens SET last_token = ? WHERE id = 1 AND last_token < ?",
        (at_least, at_least),
    )


async def live_page(
    r: Executor, moment: str, since: str | None, after_token: int, limit: int
) -> list[Lease]:
    """Live leases (acquired at or after ``since``) by fencing token, a keyset page."""
    rows = await r.fetch_all(
        f"SELECT {_COLUMNS} FROM leases_active WHERE expires_at > ? AND fencing_token > ?"
        " AND (CAST(? AS TEXT) IS NULL OR acquired_at >= ?) ORDER BY fencing_token LIMIT ?",
        (moment, after_token, since, since, limit),
    )
    return [_lease(row) for row in rows]


async def holder_of_token(r: Executor, token: int) -> str | None:
    """The id of the stored lease (live or not yet swept) with fencing token ``token``."""
    found = await r.fetch_value("SELECT id FROM leases_active WHERE fencing_token = ?", (token,))
    return None if found is None else str(found)
