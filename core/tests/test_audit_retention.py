"""Audit retention: rows older than SCS_AUDIT_RETENTION_DAYS are pruned periodically."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scs_server.core_plugin import AuditPrune

if TYPE_CHECKING:
    from scs_server.app import App
    from scs_server.testing import ServerFactory


async def audit_actions(app: App) -> list[str]:
    rows = await app.db.fetch_all("SELECT action FROM scs_audit ORDER BY id")
    return [row["action"] for row in rows]


async def test_old_audit_rows_are_pruned_and_recent_ones_kept(
    scs_factory: ServerFactory,
) -> None:
    server = await scs_factory("sessions", audit_retention_days=30)
    async with server.app.db.transaction() as tx:
        await tx.execute_many(
            "INSERT INTO scs_audit (at, action, result) VALUES (?, ?, 'success')",
            [
                ("2020-01-01T00:00:00.000000Z", "ancient"),
                ("2099-01-01T00:00:00.000000Z", "future"),
            ],
        )
        await tx.execute("INSERT INTO scs_audit (action, result) VALUES ('today', 'success')")
    pruner = server.app.services.get(AuditPrune, needed_by="test")
    assert pruner.interval_s == 3600
    await pruner.work()
    actions = await audit_actions(server.app)
    assert "ancient" not in actions
    assert {"today", "future"} <= set(actions)


async def test_zero_keeps_the_whole_trail(scs_factory: ServerFactory) -> None:
    server = await scs_factory("sessions", audit_retention_days=0)
    assert AuditPrune not in server.app.services
