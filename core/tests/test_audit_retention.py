"""Audit retention: rows older than SCS_AUDIT_RETENTION_DAYS are pruned periodically."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from scs.core_plugin import AuditPrune

if TYPE_CHECKING:
    from scs.testing import ServerFactory


def audit_actions(path: object) -> list[str]:
    with sqlite3.connect(str(path)) as conn:
        return [row[0] for row in conn.execute("SELECT action FROM scs_audit ORDER BY id")]


async def test_old_audit_rows_are_pruned_and_recent_ones_kept(
    scs_factory: ServerFactory,
) -> None:
    server = await scs_factory("sessions", audit_retention_days=30)
    with sqlite3.connect(server.app.db.path) as other:
        other.executemany(
            "INSERT INTO scs_audit (at, action, result) VALUES (?, ?, 'success')",
            [
                ("2020-01-01T00:00:00.000Z", "ancient"),
                ("2099-01-01T00:00:00.000Z", "future"),
            ],
        )
        other.execute("INSERT INTO scs_audit (action, result) VALUES ('today', 'success')")
    pruner = server.app.services.get(AuditPrune, needed_by="test")
    assert pruner.interval_s == 3600
    await pruner.work()
    actions = audit_actions(server.app.db.path)
    assert "ancient" not in actions
    assert {"today", "future"} <= set(actions)


async def test_zero_keeps_the_whole_trail(scs_factory: ServerFactory) -> None:
    server = await scs_factory("sessions", audit_retention_days=0)
    assert AuditPrune not in server.app.services
