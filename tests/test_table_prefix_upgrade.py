"""Tables prefixed by their plugin (sessions_sessions, messaging_messages): a database
made by the release before the rename is upgraded in place, rows, ids and references kept."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from scs_memory.store import MIGRATIONS as MEMORY_STEPS
from scs_messaging.schema import MIGRATIONS as MESSAGING_STEPS
from scs_server.storage import open_database
from scs_server.testing import engine_settings
from scs_sessions.schema import MIGRATIONS as SESSIONS_STEPS

if TYPE_CHECKING:
    from pathlib import Path

    from scs_server import Migration
    from scs_server.testing import ServerFactory

NOW = "2026-01-01T00:00:00.000000Z"


def released(steps: list[Migration], upto: int) -> list[Migration]:
    """The steps as the release before the rename shipped them (its names in its SQL)."""
    old: list[Migration] = []
    for step in steps:
        if step.version > upto:
            continue
        sql = step.sql.replace("sessions_sessions", "sessions")
        pg = step.postgresql.replace("sessions_sessions", "sessions") if step.postgresql else None
        old.append(replace(step, sql=sql, postgresql=pg))
    return old


async def make_released_database(tmp_path: Path, database_url: str | None) -> Path:
    """The release's schema for sessions, messaging and memory, with a few rows."""
    folder = tmp_path / "released"
    folder.mkdir()
    settings = engine_settings(folder, database_url)
    db = open_database(settings)
    await db.open()
    try:
        await db.migrate("sessions", released(SESSIONS_STEPS, 1))
        await db.migrate("messaging", released(MESSAGING_STEPS, 2))
        await db.migrate("memory", released(MEMORY_STEPS, 3))
        async with db.transaction() as tx:
            await tx.execute(
                "INSERT INTO sessions (id, purpose, metadata, created_by, created_by_type,"
                " created_at, updated_at, closed_at) VALUES (?, ?, NULL, ?, ?, ?, ?, NULL)",
                ("session_0123456789abcdef", "from the old release", "alice", "claude", NOW, NOW),
            )
            first = await tx.fetch_value(
                "INSERT INTO messages (session_id, sender, sender_type, content, visibility,"
                " metadata, parent_message_id, timestamp)"
                " VALUES (?, 'alice', 'claude', 'walrus ahoy', 'public', NULL, NULL, ?) RETURNING id",
                ("session_0123456789abcdef", NOW),
            )
            await tx.execute(
                "INSERT INTO messages (session_id, sender, sender_type, content, visibility,"
                " metadata, parent_message_id, timestamp)"
                " VALUES (?, 'alice', 'claude', 'a reply', 'public', NULL, ?, ?)",
                ("session_0123456789abcdef", first, NOW),
            )
            await tx.execute(
                "INSERT INTO memory_entries (agent_id, session_id, key, value, metadata, size,"
                " version, created_at, updated_at, expires_at)"
                " VALUES ('alice', ?, 'plan', '\"keep\"', NULL, 6, 1, ?, ?, NULL)",
                ("session_0123456789abcdef", NOW, NOW),
            )
    finally:
        await db.close()
    return settings.db_path


async def test_a_released_database_is_renamed_in_place(
    scs_factory: ServerFactory, tmp_path: Path, database_url: str | None
) -> None:
    path = await make_released_database(tmp_path, database_url)
    server = await scs_factory("default", database_path=path, database_url=database_url)
    alice = await server.agent("alice")
    session_id = "session_0123456789abcdef"

    seen = await alice.call("get_messages", session_id=session_id)
    assert [m["content"] for m in seen["messages"]] == ["walrus ahoy", "a reply"]
    first, reply = seen["messages"]
    assert reply["parent_message_id"] == first["id"]
    found = await alice.call("search_context", session_id=session_id, query="walrus")
    assert [hit["message"]["id"] for hit in found["results"]] == [first["id"]]
    memory = await alice.call("get_memory", key="plan", session_id=session_id)
    assert memory["value"] == "keep"

    added = await alice.call("add_message", session_id=session_id, content="after the upgrade")
    assert added["message_id"] > reply["id"]  # the id sequence went on

    db = server.app.db
    assert await db.fetch_value("SELECT COUNT(*) FROM messaging_messages") == 3
    assert await db.fetch_value("SELECT COUNT(*) FROM sessions_sessions") == 1
    # the references of the other tables followed the renamed sessions table
    assert await db.execute("DELETE FROM sessions_sessions WHERE id = ?", (session_id,)) == 1
    assert await db.fetch_value("SELECT COUNT(*) FROM messaging_messages") == 0
    assert await db.fetch_value("SELECT COUNT(*) FROM memory_entries") == 0


async def test_a_new_database_has_only_the_prefixed_tables(scs_factory: ServerFactory) -> None:
    server = await scs_factory("default")
    alice = await server.agent("alice")
    created = await alice.call("create_session", purpose="new")
    await alice.call("add_message", session_id=created["session_id"], content="hello")
    db = server.app.db
    assert await db.fetch_value("SELECT COUNT(*) FROM messaging_messages") == 1
    for old in ("sessions", "messages"):
        if db.dialect == "postgresql":
            exists = await db.fetch_value("SELECT to_regclass(?) IS NOT NULL", (old,))
        else:
            exists = await db.fetch_value(
                "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?", (old,)
            )
        assert not exists, old
