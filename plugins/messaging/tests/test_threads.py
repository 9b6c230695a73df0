"""Threads: replies with parent_message_id, get_thread from any message of a thread."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .conftest import TeamFactory


async def test_thread_from_root_or_any_reply(make_team: TeamFactory) -> None:
    team = await make_team()
    sid, alice, bob = team.session_id, team.alice, team.bob
    root = (await alice.call("add_message", session_id=sid, content="question"))["message_id"]
    other = (await alice.call("add_message", session_id=sid, content="unrelated"))["message_id"]
    r1 = (await bob.call("add_message", session_id=sid, content="a1", parent_message_id=root))[
        "message_id"
    ]
    r2 = (await alice.call("add_message", session_id=sid, content="a2", parent_message_id=r1))[
        "message_id"
    ]
    r3 = (await bob.call("add_message", session_id=sid, content="a3", parent_message_id=root))[
        "message_id"
    ]

    for start in (root, r1, r2, r3):
        thread = await bob.call("get_thread", message_id=start)
        assert thread["root_id"] == root
        assert thread["root"]["id"] == root
        assert [m["id"] for m in thread["replies"]] == [r1, r2, r3]
        assert thread["count"] == 4
        assert thread["truncated"] is False
    assert [m["parent_message_id"] for m in thread["replies"]] == [root, r1, root]

    lone = await bob.call("get_thread", message_id=other)
    assert lone["root"]["id"] == other
    assert lone["replies"] == []

    listed = await bob.call("get_messages", session_id=sid)
    assert {m["id"]: m["parent_message_id"] for m in listed["messages"]} == {
        root: None,
        other: None,
        r1: root,
        r2: r1,
        r3: root,
    }


async def test_thread_hides_replies_the_reader_may_not_see(make_team: TeamFactory) -> None:
    team = await make_team()
    sid = team.session_id
    root = (await team.alice.call("add_message", session_id=sid, content="q"))["message_id"]
    private = await team.alice.call(
        "add_message", session_id=sid, content="note", visibility="private", parent_message_id=root
    )
    public = await team.carol.call(
        "add_message", session_id=sid, content="answer", parent_message_id=root
    )

    bob_view = await team.bob.call("get_thread", message_id=root)
    assert [m["id"] for m in bob_view["replies"]] == [public["message_id"]]
    alice_view = await team.alice.call("get_thread", message_id=root)
    assert [m["id"] for m in alice_view["replies"]] == [
        private["message_id"],
        public["message_id"],
    ]
    error = await team.bob.fails("get_thread", message_id=private["message_id"])
    assert error.code == "RESOURCE_001"


async def test_thread_with_an_invisible_root(make_team: TeamFactory) -> None:
    team = await make_team()
    sid = team.session_id
    root = await team.alice.call(
        "add_message", session_id=sid, content="claude only", visibility="agent_only"
    )
    reply = await team.bob.call(
        "add_message", session_id=sid, content="public reply", parent_message_id=root["message_id"]
    )
    view = await team.carol.call("get_thread", message_id=reply["message_id"])
    assert view["root"] is None
    assert view["root_id"] == root["message_id"]
    assert [m["id"] for m in view["replies"]] == [reply["message_id"]]


async def test_unknown_message_has_no_thread(make_team: TeamFactory) -> None:
    team = await make_team()
    assert (await team.bob.fails("get_thread", message_id=424242)).code == "RESOURCE_001"
    assert (await team.bob.fails("get_thread", message_id=0)).code == "VALIDATION_001"


async def test_thread_is_capped(make_team: TeamFactory) -> None:
    team = await make_team(env={"SCS_MESSAGING_MAX_THREAD_MESSAGES": "3"})
    sid = team.session_id
    root = (await team.alice.call("add_message", session_id=sid, content="q"))["message_id"]
    for n in range(4):
        await team.alice.call(
            "add_message", session_id=sid, content=f"r{n}", parent_message_id=root
        )
    view = await team.alice.call("get_thread", message_id=root)
    assert view["count"] == 3
    assert view["truncated"] is True
    assert view["root"]["id"] == root
