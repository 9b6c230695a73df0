"""The one visibility rule, checked on every read path: who sees which message.

Senders: alice (claude) writes public, private and agent_only; boss (claude with
admin rights) writes admin_only. Readers by role: the sender, bob (same type
as the sender, not admin), carol (other type), auditor (admin).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from scs_server.testing import Agent

    from .conftest import Team, TeamFactory

LEVELS = ("public", "private", "agent_only", "admin_only")
ROLES = ("sender", "same_type", "other_type", "admin")
EXPECTED = {
    "public": {"sender": True, "same_type": True, "other_type": True, "admin": True},
    "private": {"sender": True, "same_type": False, "other_type": False, "admin": True},
    "agent_only": {"sender": True, "same_type": True, "other_type": False, "admin": True},
    "admin_only": {"sender": True, "same_type": False, "other_type": False, "admin": True},
}


def reader(team: Team, level: str, role: str) -> Agent:
    sender = team.boss if level == "admin_only" else team.alice
    by_role: dict[str, Agent] = {
        "sender": sender,
        "same_type": team.bob,
        "other_type": team.carol,
        "admin": team.auditor,
    }
    return by_role[role]


async def post_one_of_each(team: Team) -> dict[str, int]:
    posted = {}
    for level in LEVELS:
        writer = team.boss if level == "admin_only" else team.alice
        result = await writer.call(
            "add_message", session_id=team.session_id, content=f"{level} note", visibility=level
        )
        posted[level] = result["message_id"]
    return posted


def check_matrix(team: Team, posted: dict[str, int], seen_by: dict[str, set[int]]) -> None:
    """``seen_by[agent_id]`` = ids that agent got; compare cell by cell with EXPECTED."""
    for level in LEVELS:
        for role in ROLES:
            who = reader(team, level, role)
            got = posted[level] in seen_by[who.agent_id]
            assert got is EXPECTED[level][role], f"{level} message, {role} ({who.agent_id})"


def readers(team: Team) -> list[Agent]:
    return [team.alice, team.bob, team.carol, team.boss, team.auditor]


@pytest.fixture
async def http_team(make_team: TeamFactory) -> tuple[Team, dict[str, int]]:
    team = await make_team(http=True)
    return team, await post_one_of_each(team)


async def test_get_messages_follows_the_matrix(http_team: tuple[Team, dict[str, int]]) -> None:
    team, posted = http_team
    seen = {}
    for who in readers(team):
        result = await who.call("get_messages", session_id=team.session_id)
        seen[who.agent_id] = {m["id"] for m in result["messages"]}
        assert result["total_count"] == len(seen[who.agent_id])
    check_matrix(team, posted, seen)
    assert seen["boss"] == set(posted.values())  # boss has admin rights too


async def test_get_session_follows_the_matrix(http_team: tuple[Team, dict[str, int]]) -> None:
    team, posted = http_team
    seen = {}
    for who in readers(team):
        result = await who.call("get_session", session_id=team.session_id)
        seen[who.agent_id] = {m["id"] for m in result["messages"]}
        assert result["total_count"] == result["message_count"] == len(seen[who.agent_id])
    check_matrix(team, posted, seen)


async def test_get_thread_follows_the_matrix(http_team: tuple[Team, dict[str, int]]) -> None:
    team, posted = http_team
    seen: dict[str, set[int]] = {who.agent_id: set() for who in readers(team)}
    for who in readers(team):
        for message_id in posted.values():
            try:
                result = await who.call("get_thread", message_id=message_id)
            except Exception as error:  # invisible: answered exactly like a missing message
                assert getattr(error, "code", None) == "RESOURCE_001"
                continue
            assert result["root"]["id"] == message_id
            seen[who.agent_id].add(message_id)
    check_matrix(team, posted, seen)


async def read_json(who: Agent, uri: str) -> dict[str, Any]:
    contents = await who.client.read_resource(uri)
    text = "".join(getattr(block, "text", "") for block in contents)
    data: dict[str, Any] = json.loads(text)
    return data


async def test_session_resource_follows_the_matrix(
    http_team: tuple[Team, dict[str, int]],
) -> None:
    team, posted = http_team
    seen = {}
    for who in readers(team):
        data = await read_json(who, f"session://{team.session_id}")
        assert data["session"]["id"] == team.session_id
        seen[who.agent_id] = {m["id"] for m in data["messages"]}
    check_matrix(team, posted, seen)


async def test_messages_resource_follows_the_matrix(
    http_team: tuple[Team, dict[str, int]],
) -> None:
    team, posted = http_team
    seen = {}
    for who in readers(team):
        data = await read_json(who, f"session://{team.session_id}/messages/10")
        seen[who.agent_id] = {m["id"] for m in data["messages"]}
        assert data["total_count"] == len(seen[who.agent_id])
    check_matrix(team, posted, seen)


async def test_resources_need_a_bearer_token(http_team: tuple[Team, dict[str, int]]) -> None:
    team, _ = http_team
    stranger = await team.server.open_client()
    for uri in (f"session://{team.session_id}", f"session://{team.session_id}/messages/5"):
        with pytest.raises(Exception, match="AUTH_001"):
            await stranger.read_resource(uri)


async def test_filter_only_narrows(make_team: TeamFactory) -> None:
    team = await make_team()
    posted = await post_one_of_each(team)
    sid = team.session_id
    bob_private = await team.bob.call(
        "add_message", session_id=sid, content="bob's own", visibility="private"
    )

    # bob asks for private messages: only his own, never alice's
    result = await team.bob.call("get_messages", session_id=sid, visibility_filter="private")
    assert [m["id"] for m in result["messages"]] == [bob_private["message_id"]]
    assert result["total_count"] == 1

    # carol (cursor) asks for agent_only: alice's claude-only note stays hidden
    result = await team.carol.call("get_messages", session_id=sid, visibility_filter="agent_only")
    assert result["messages"] == []
    assert result["total_count"] == 0

    # asking for admin_only without admin rights is refused, not answered
    for who in (team.alice, team.bob, team.carol):
        error = await who.fails("get_messages", session_id=sid, visibility_filter="admin_only")
        assert error.code == "VALIDATION_001"

    # an unknown level is refused
    error = await team.bob.fails("get_messages", session_id=sid, visibility_filter="all")
    assert error.code == "VALIDATION_001"

    # an admin narrowing to admin_only gets exactly that
    result = await team.auditor.call("get_messages", session_id=sid, visibility_filter="admin_only")
    assert [m["id"] for m in result["messages"]] == [posted["admin_only"]]


async def test_anonymous_reader_sees_public_only(make_team: TeamFactory) -> None:
    team = await make_team(allow_anonymous_read=True)
    posted = await post_one_of_each(team)
    anonymous = await team.server.open_client()
    result = await anonymous.call_tool(
        "get_messages", {"session_id": team.session_id}, raise_on_error=False
    )
    assert not result.is_error
    assert [m["id"] for m in result.structured_content["messages"]] == [posted["public"]]
    written = await anonymous.call_tool(
        "add_message", {"session_id": team.session_id, "content": "x"}, raise_on_error=False
    )
    assert written.is_error
