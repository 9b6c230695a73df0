"""SQL of the dashboard plugin: its login sessions (ids stored hashed)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from scs_server.storage import Executor, Transaction


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
