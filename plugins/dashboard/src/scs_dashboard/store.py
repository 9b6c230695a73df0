"""SQL of the dashboard plugin: its login sessions (ids stored hashed)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from scs.storage import Executor, Transaction


async def insert(tx: Transaction, /, **row: Any) -> None:
    await tx.execute(
        "INSERT INTO dashboard_sessions (id_hash, csrf, agent_id, agent_type, permissions, "
        "credential, token_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            row["id_hash"],
            row["csrf"],
            row["agent_id"],
            row["agent_type"],
            row["permissions"],
            row["credential"],
            row["token_id"],
            row["created_at"],
            row["expires_at"],
        ),
    )


async def get(r: Executor, /, id_hash: str, now: int) -> Mapping[str, Any] | None:
    return await r.fetch_one(
        "SELECT id_hash, csrf, agent_id, agent_type, permissions, credential, token_id, "
        "created_at, expires_at FROM dashboard_sessions WHERE id_hash = ? AND expires_at > ?",
        (id_hash, now),
    )


async def delete(tx: Transaction, /, id_hash: str) -> None:
    await tx.execute("DELETE FROM dashboard_sessions WHERE id_hash = ?", (id_hash,))


async def purge_expired(tx: Transaction, /, now: int) -> None:
    await tx.execute("DELETE FROM dashboard_sessions WHERE expires_at <= ?", (now,))


async def mark_read(tx: Transaction, /, agent_id: str, session_id: str, last_id: int) -> None:
    """Remember the newest message ``agent_id`` was shown in a session (never moves back)."""
    await tx.execute(
        "INSERT INTO dashboard_reads (agent_id, session_id, last_id) VALUES (?, ?, ?) "
        "ON CONFLICT (agent_id, session_id) DO UPDATE SET last_id = excluded.last_id "
        "WHERE excluded.last_id > dashboard_reads.last_id",
        (agent_id, session_id, last_id),
    )


async def read_marks(r: Executor, /, agent_id: str, session_ids: list[str]) -> dict[str, int]:
    if not session_ids:
        return {}
    marks = ", ".join("?" for _ in session_ids)
    rows = await r.fetch_all(
        f"SELECT session_id, last_id FROM dashboard_reads WHERE agent_id = ? "
        f"AND session_id IN ({marks})",
        (agent_id, *session_ids),
    )
    return {row["session_id"]: int(row["last_id"]) for row in rows}
