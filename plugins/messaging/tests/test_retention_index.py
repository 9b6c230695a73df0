"""Retention's purge by age walks an index on both engines (migration 4,
``messaging_messages_age``), not the whole table: shown by the engine's own plan of the
exact statement ``purge`` runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scs_messaging.export import GLOBAL_PURGE, SESSION_PURGE, purge_statement

from .conftest import PLUGINS

if TYPE_CHECKING:
    from scs_server.storage import Database
    from scs_server.testing import ServerFactory

ROWS = 3000
SESSIONS = 3


async def _seed(db: Database, session_ids: list[str]) -> None:
    """ROWS messages spread over the sessions, a second apart (seeded in one go: the
    plan, not the tools, is under test)."""
    rows = [
        (
            session_ids[n % SESSIONS],
            "alice",
            "claude",
            f"m{n}",
            "public",
            f"2026-01-01T{n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}.000000Z",
        )
        for n in range(ROWS)
    ]
    async with db.transaction() as tx:
        await tx.execute_many(
            "INSERT INTO messaging_messages (session_id, sender, sender_type, content,"
            " visibility, timestamp) VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
    await db.execute("ANALYZE")


async def _plan(db: Database, condition: str, params: list[Any]) -> str:
    statement = purge_statement(condition)
    if db.dialect == "postgresql":
        rows = await db.fetch_all(f"EXPLAIN {statement}", (*params, 500))
        return "\n".join(str(row[0]) for row in rows)
    rows = await db.fetch_all(f"EXPLAIN QUERY PLAN {statement}", (*params, 500))
    return "\n".join(str(row["detail"]) for row in rows)


async def test_purges_by_age_use_an_index(scs_factory: ServerFactory) -> None:
    server = await scs_factory(plugins=PLUGINS)
    alice = await server.agent("alice")
    sessions = [
        (await alice.call("create_session", purpose=f"s{n}"))["session_id"] for n in range(SESSIONS)
    ]
    db = server.app.db
    await _seed(db, sessions)
    cutoff = "2026-01-01T00:00:30.000000Z"  # the oldest 1%: what a retention run finds

    everywhere = await _plan(db, GLOBAL_PURGE, [cutoff])
    assert "messaging_messages_age" in everywhere, everywhere
    spared = await _plan(db, f"{GLOBAL_PURGE} AND session_id NOT IN (?)", [cutoff, sessions[0]])
    assert "messaging_messages_age" in spared, spared
    one_session = await _plan(db, SESSION_PURGE, [sessions[1], cutoff])
    assert "messages_time" in one_session, one_session
    if db.dialect == "sqlite":  # the index gives the order: no sort of the matches
        assert "TEMP B-TREE" not in everywhere + one_session
    else:  # the age condition is the index's (not a filter over scanned rows)
        assert 'Index Cond: ("timestamp" <' in everywhere, everywhere
        assert 'Index Cond: ("timestamp" <' in spared, spared
