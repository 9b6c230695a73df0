"""Visibility comes before ranking: hidden messages never show, not even through scores or counts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .conftest import Team

SECRET = "the launch password is marmalade-77"


async def add(team: Team, agent: str, content: str, visibility: str = "public") -> int:
    result = await getattr(team, agent).call(
        "add_message", session_id=team.session_id, content=content, visibility=visibility
    )
    return int(result["message_id"])


def shape(found: dict[str, Any]) -> list[tuple[int, float, str]]:
    return [(r["message"]["id"], r["score"], r["match_preview"]) for r in found["results"]]


async def test_private_text_is_never_found_by_another_agent(team: Team) -> None:
    public = await add(team, "bob", "the launch window is tuesday")
    await add(team, "bob", "the launch checklist lives in the wiki")
    secret = await add(team, "alice", SECRET, "private")
    for query, threshold in (("marmalade", 60.0), ("launch password marmalade", 0.0)):
        for limit in (1, 2, 100):
            args = {"query": query, "fuzzy_threshold": threshold, "limit": limit}
            mine = await team.alice.call("search_context", session_id=team.session_id, **args)
            theirs = await team.bob.call("search_context", session_id=team.session_id, **args)
            everywhere = await team.bob.call("search_context", **args)
            assert secret in [r["message"]["id"] for r in mine["results"]] or limit < 3
            for found in (theirs, everywhere):
                assert secret not in [r["message"]["id"] for r in found["results"]]
                assert "marmalade" not in str(found["results"])
    # bob's view is exactly what it would be if the private message did not exist
    hidden = await team.bob.call(
        "search_context", session_id=team.session_id, query="launch pass", limit=100
    )
    async with team.server.app.db.transaction() as tx:
        await tx.execute("DELETE FROM messaging_messages WHERE id = ?", (secret,))
        tx.emit("messages", {"session_id": team.session_id})
    without = await team.bob.call(
        "search_context", session_id=team.session_id, query="launch pass", limit=100
    )
    assert shape(hidden) == shape(without)
    assert hidden["count"] == without["count"]
    assert public in [r["message"]["id"] for r in hidden["results"]]


async def test_each_level_reaches_exactly_its_readers(team: Team) -> None:
    ids = {
        level: await add(team, "alice", f"quokka report {level}", level)
        for level in ("public", "private", "agent_only")
    }
    ids["admin_only"] = await add(team, "auditor", "quokka report admin_only", "admin_only")
    expected = {
        "alice": {"public", "private", "agent_only"},
        "bob": {"public", "agent_only"},  # same agent type as alice
        "carol": {"public"},
        "auditor": {"public", "private", "agent_only", "admin_only"},
    }
    for reader, levels in expected.items():
        found = await getattr(team, reader).call(
            "search_context", session_id=team.session_id, query="quokka report", limit=100
        )
        assert {r["message"]["id"] for r in found["results"]} == {ids[lv] for lv in levels}
        assert found["count"] == len(levels)


async def test_search_scope_only_narrows(team: Team) -> None:
    public = await add(team, "alice", "wombat sighting public")
    private = await add(team, "alice", "wombat sighting private", "private")
    bobs = await add(team, "bob", "wombat sighting bob private", "private")
    agent_only = await add(team, "alice", "wombat sighting agents", "agent_only")

    async def ids(agent: str, scope: str) -> set[int]:
        found = await getattr(team, agent).call(
            "search_context", session_id=team.session_id, query="wombat", search_scope=scope
        )
        return {r["message"]["id"] for r in found["results"]}

    assert await ids("alice", "all") == {public, private, agent_only}
    assert await ids("alice", "public") == {public}
    assert await ids("alice", "private") == {private}
    assert await ids("bob", "private") == {bobs}
    assert await ids("carol", "private") == set()
    assert await ids("auditor", "private") == set()  # an admin's own private ones only
    assert await ids("auditor", "all") == {public, private, bobs, agent_only}


async def test_search_without_session_covers_readable_sessions_only(team: Team) -> None:
    other = await team.carol.call("create_session", purpose="cursor corner")
    here = await add(team, "alice", "platypus migration plan")
    there = await team.carol.call(
        "add_message", session_id=other["session_id"], content="platypus migration done"
    )
    hidden = await team.carol.call(
        "add_message",
        session_id=other["session_id"],
        content="platypus migration secret",
        visibility="private",
    )
    found = await team.alice.call("search_context", query="platypus migration", limit=100)
    assert {r["message"]["id"] for r in found["results"]} == {here, there["message_id"]}
    assert found["session_id"] is None
    assert {r["message"]["session_id"] for r in found["results"]} == {
        team.session_id,
        other["session_id"],
    }
    mine = await team.carol.call("search_context", query="platypus migration", limit=100)
    assert hidden["message_id"] in {r["message"]["id"] for r in mine["results"]}
