"""``total_count`` comes from per-session counts kept by triggers (schema step 5): they
follow inserts, deletes (retention, a deleted session), changed rows, and the step counts
the messages a database already holds."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scs_messaging.schema import MIGRATIONS
from scs_sessions.schema import MIGRATIONS as SESSION_MIGRATIONS

if TYPE_CHECKING:
    from scs_server.storage import Database

    from .conftest import Team, TeamFactory

WRITES = {  # who writes how many messages of each visibility
    "alice": {"public": 3, "private": 2, "agent_only": 2},
    "carol": {"public": 2, "private": 1, "agent_only": 1},
    "boss": {"admin_only": 1},
}


async def totals(team: Team, **arguments: object) -> dict[str, int]:
    return {
        name: (await agent.call("get_messages", session_id=team.session_id, limit=1, **arguments))[
            "total_count"
        ]
        for name, agent in team.readers.items()
    }


async def truth(team: Team) -> dict[str, int]:
    """The same totals counted row by row, as every read did before step 5."""
    db = team.server.app.db
    rows = await db.fetch_all(
        "SELECT sender, sender_type, visibility FROM messaging_messages WHERE session_id = ?",
        (team.session_id,),
    )
    kinds = {"alice": "claude", "bob": "claude", "carol": "cursor", "boss": "claude"}

    def sees(reader: str, row: dict[str, str]) -> bool:
        if reader in ("boss", "auditor"):  # admins
            return True
        level = row["visibility"]
        return (
            level == "public"
            or (level == "private" and row["sender"] == reader)
            or (level == "agent_only" and row["sender_type"] == kinds[reader])
        )

    return {name: sum(sees(name, dict(r)) for r in rows) for name in team.readers}


async def test_counts_follow_writes_deletes_and_changed_rows(make_team: TeamFactory) -> None:
    team = await make_team()
    for name, levels in WRITES.items():
        agent = team.readers[name]
        for level, times in levels.items():
            for n in range(times):
                await agent.call(
                    "add_message", session_id=team.session_id, content=f"{level} {n}",
                    visibility=level,
                )  # fmt: skip
    expected = {"alice": 9, "bob": 7, "carol": 7, "boss": 12, "auditor": 12}
    assert await totals(team) == await truth(team) == expected
    private = await team.alice.call(
        "get_messages", session_id=team.session_id, visibility_filter="private"
    )
    assert private["total_count"] == 2

    db = team.server.app.db
    await db.execute(
        "DELETE FROM messaging_messages WHERE sender = 'alice' AND visibility = 'private'"
    )
    await db.execute(  # a changed row moves from one count to another
        "UPDATE messaging_messages SET visibility = 'public'"
        " WHERE sender = 'carol' AND visibility = 'agent_only'"
    )
    after = await totals(team)
    assert after == await truth(team)
    assert after == {"alice": 8, "bob": 8, "carol": 7, "boss": 10, "auditor": 10}

    # the answer is read from the kept counts, not counted row by row
    await db.execute("UPDATE messaging_counts SET n = n + 100 WHERE visibility = 'admin_only'")
    assert (await totals(team))["auditor"] == 110

    doomed = (await team.alice.call("create_session", purpose="short-lived"))["session_id"]
    await team.alice.call("add_message", session_id=doomed, content="gone soon")
    await db.execute("DELETE FROM sessions_sessions WHERE id = ?", (doomed,))
    left = "SELECT COUNT(*) FROM messaging_counts WHERE session_id = ?"
    assert await db.fetch_value(left, (doomed,)) == 0


async def test_step_5_counts_the_messages_already_there(storage_db: Database) -> None:
    db = storage_db
    await db.migrate("sessions", SESSION_MIGRATIONS)
    await db.migrate("messaging", MIGRATIONS[:4])
    await db.execute(
        "INSERT INTO sessions_sessions (id, purpose, created_by, created_by_type, created_at,"
        " updated_at) VALUES ('s1', 'p', 'alice', 'claude', '2026-01-01', '2026-01-01')"
    )
    rows = [("s1", "alice", "claude", "public")] * 3 + [("s1", "bob", "cursor", "private")] * 2
    async with db.transaction() as tx:
        await tx.execute_many(
            "INSERT INTO messaging_messages (session_id, sender, sender_type, content,"
            " visibility, timestamp) VALUES (?, ?, ?, 'x', ?, '2026-01-01')",
            rows,
        )
    assert await db.migrate("messaging", MIGRATIONS) == [5]
    counts = await db.fetch_all(
        "SELECT sender, visibility, n FROM messaging_counts ORDER BY sender"
    )
    assert [(r["sender"], r["visibility"], r["n"]) for r in counts] == [
        ("alice", "public", 3),
        ("bob", "private", 2),
    ]
    await db.execute(  # and the trigger counts from there on
        "INSERT INTO messaging_messages (session_id, sender, sender_type, content, visibility,"
        " timestamp) VALUES ('s1', 'alice', 'claude', 'y', 'public', '2026-01-02')"
    )
    assert await db.fetch_value(
        "SELECT n FROM messaging_counts WHERE sender = 'alice'"
    ) == 4  # fmt: skip
