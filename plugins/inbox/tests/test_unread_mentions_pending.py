"""Mentions, read cursors and unread counts, the pending notice, inbox waits."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

from scs_inbox.pending import PendingCounts
from scs_messaging.api import Wakeups

from .conftest import DEADLINE_S, until

if TYPE_CHECKING:
    from scs_server.testing import ServerFactory

    from .conftest import CrewFactory


async def test_mentions_reach_only_agents_that_may_see_the_message(make_crew: CrewFactory) -> None:
    crew = await make_crew()
    sid = crew.session_id
    public = await crew.alice.call("add_message", session_id=sid, content="@bob and @carol: look")
    await crew.alice.call(
        "add_message", session_id=sid, content="@carol claude only", visibility="agent_only"
    )
    await crew.alice.call(
        "add_message", session_id=sid, content="note to self @bob", visibility="private"
    )
    await crew.alice.call("add_message", session_id=sid, content="mail@bob.example is no mention")
    bob = (await crew.bob.call("fetch_inbox"))["messages"]
    carol = (await crew.carol.call("fetch_inbox"))["messages"]
    assert [(m["kind"], m["message_id"], m["session_id"]) for m in bob] == [
        ("mention", public["message_id"], sid)
    ]
    assert [m["message_id"] for m in carol] == [public["message_id"]]  # not the agent_only one
    assert (await crew.alice.call("fetch_inbox"))["messages"] == []


async def test_unread_counts_follow_read_cursors(make_crew: CrewFactory) -> None:
    crew = await make_crew()
    sid = crew.session_id
    ids = [
        (await crew.alice.call("add_message", session_id=sid, content=f"m{i}"))["message_id"]
        for i in range(3)
    ]
    await crew.alice.call("add_message", session_id=sid, content="hidden", visibility="private")

    async def listed(agent: object) -> int:
        page = await agent.call("list_sessions")  # type: ignore[attr-defined]
        return int(next(s["unread"] for s in page["sessions"] if s["id"] == sid))

    assert await listed(crew.bob) == 3
    assert await listed(crew.alice) == 0  # own messages are not unread
    assert (await crew.bob.call("get_unread", session_id=sid))["sessions"] == [
        {"session_id": sid, "last_read_id": 0, "unread": 3}
    ]
    marked = await crew.bob.call("mark_read", session_id=sid, up_to_message_id=ids[1])
    assert (marked["last_read_id"], marked["unread"]) == (ids[1], 1)
    assert await listed(crew.bob) == 1  # the cached page was dropped by the cursor's change
    back = await crew.bob.call("mark_read", session_id=sid, up_to_message_id=ids[0])
    assert back["last_read_id"] == ids[1]  # never moves back
    everything = await crew.bob.call("get_unread")
    assert everything["sessions"] == [{"session_id": sid, "last_read_id": ids[1], "unread": 1}]
    assert everything["inbox"] == 0
    missing = await crew.bob.fails(
        "mark_read", session_id="session_0000000000000000", up_to_message_id=1
    )
    assert missing.code == "RESOURCE_001"


async def test_get_unread_lists_never_read_sessions_with_unread(make_crew: CrewFactory) -> None:
    crew = await make_crew()
    marked = crew.session_id  # bob marks it read: listed with 0 (a cursor of his)
    up_to = await crew.alice.call("add_message", session_id=marked, content="seen")
    await crew.bob.call("mark_read", session_id=marked, up_to_message_id=up_to["message_id"])

    async def session(purpose: str) -> str:
        return str((await crew.alice.call("create_session", purpose=purpose))["session_id"])

    never_read = await session("never read by bob")
    for i in range(2):
        await crew.alice.call("add_message", session_id=never_read, content=f"n{i}")
    await crew.bob.call("add_message", session_id=never_read, content="bob's own")
    hidden = await session("nothing bob may see")
    await crew.alice.call("add_message", session_id=hidden, content="mine", visibility="private")
    await crew.auditor.call(
        "add_message", session_id=hidden, content="ops", visibility="admin_only"
    )
    await crew.carol.call("add_message", session_id=hidden, content="hi", visibility="agent_only")
    own = await session("only bob wrote")
    await crew.bob.call("add_message", session_id=own, content="talking to myself")
    for_claudes = await session("agent_only for claude")
    await crew.alice.call(
        "add_message", session_id=for_claudes, content="claude only", visibility="agent_only"
    )

    listed = (await crew.bob.call("get_unread"))["sessions"]
    assert sorted(listed, key=lambda e: e["session_id"]) == sorted(
        [
            {"session_id": marked, "last_read_id": up_to["message_id"], "unread": 0},
            {"session_id": never_read, "last_read_id": 0, "unread": 2},
            {"session_id": for_claudes, "last_read_id": 0, "unread": 1},
        ],
        key=lambda e: e["session_id"],
    )
    # the same counts as list_sessions gives for the sessions without a cursor
    page = {s["id"]: s["unread"] for s in (await crew.bob.call("list_sessions"))["sessions"]}
    assert {e["session_id"]: e["unread"] for e in listed} == {
        sid: n for sid, n in page.items() if n or sid == marked
    }
    # carol (a cursor agent) does not see alice's agent_only message; the admin sees all
    carol = {
        e["session_id"]: e["unread"] for e in (await crew.carol.call("get_unread"))["sessions"]
    }
    assert carol == {marked: 1, never_read: 3, own: 1}
    admin = {
        e["session_id"]: e["unread"] for e in (await crew.auditor.call("get_unread"))["sessions"]
    }
    assert admin == {marked: 1, never_read: 3, hidden: 2, own: 1, for_claudes: 1}


async def test_mark_read_reads_the_mentions_up_to_the_cursor(make_crew: CrewFactory) -> None:
    crew = await make_crew()
    sent = await crew.alice.call("add_message", session_id=crew.session_id, content="@bob hi")
    assert (await crew.bob.call("get_unread"))["inbox"] == 1
    await crew.bob.call(
        "mark_read", session_id=crew.session_id, up_to_message_id=sent["message_id"]
    )
    assert (await crew.bob.call("get_unread"))["inbox"] == 0


async def test_the_pending_notice_comes_and_goes_without_a_query_per_call(
    make_crew: CrewFactory,
) -> None:
    crew = await make_crew()
    counts = crew.server.app.services.get(PendingCounts, needed_by="test")
    plain = await crew.bob.call("list_sessions")
    assert "pending" not in plain
    await crew.alice.call("send_direct_message", to="bob", content="ping")
    await crew.alice.call("send_direct_message", to="bob", content="ping again")
    loads = counts.loads
    for _ in range(3):
        result = await crew.bob.call("list_sessions")
        assert result["pending"] == {"inbox": 2}
    assert counts.loads == loads + 1  # loaded once after the change, then from memory
    raw = await crew.bob.client.call_tool("get_unread", {"auth_token": crew.bob.token})
    assert json.loads(raw.content[0].text) == raw.structured_content  # the text block agrees
    assert raw.structured_content["pending"] == {"inbox": 2}
    assert "pending" not in await crew.carol.call("list_sessions")
    await crew.bob.call("fetch_inbox", mark_read=True)
    assert "pending" not in await crew.bob.call("list_sessions")
    failed = await crew.bob.fails("get_session", session_id="session_0000000000000000")
    assert "pending" not in failed.body


async def test_the_pending_notice_can_be_turned_off(make_crew: CrewFactory) -> None:
    crew = await make_crew(env={"SCS_INBOX_PENDING_NOTICE": "false"})
    await crew.alice.call("send_direct_message", to="bob", content="ping")
    assert "pending" not in await crew.bob.call("list_sessions")
    assert (await crew.bob.call("get_unread"))["inbox"] == 1


async def test_waiting_on_the_inbox(make_crew: CrewFactory) -> None:
    crew = await make_crew()
    wakeups = crew.server.app.services.get(Wakeups, needed_by="test")
    task = asyncio.create_task(crew.bob.call("wait_for_messages", timeout_s=30))
    await until(lambda: wakeups.count() == 1)
    await crew.alice.call("send_direct_message", to="carol", content="not for bob")
    await crew.alice.call("add_message", session_id=crew.session_id, content="@carol only")
    sent = await crew.alice.call("send_direct_message", to="bob", content="for bob")
    got = await asyncio.wait_for(task, DEADLINE_S)
    assert [m["id"] for m in got["messages"]] == [sent["message_id"]]
    assert got["next_after_id"] == sent["message_id"]
    mention = await crew.alice.call("add_message", session_id=crew.session_id, content="@bob now")
    again = await crew.bob.call("wait_for_messages", after_id=got["next_after_id"], timeout_s=5)
    assert [(m["kind"], m["message_id"]) for m in again["messages"]] == [
        ("mention", mention["message_id"])
    ]


async def test_cross_process_wake(scs_factory: ServerFactory) -> None:
    """A waiter on one server (process/replica) is woken by a write through another."""
    a = await scs_factory()
    b = await scs_factory(same_database_as=a)
    writer = await a.agent("writer")
    waiter = await b.agent("waiter")
    sid = (await writer.call("create_session", purpose="two"))["session_id"]
    session_wait = asyncio.create_task(
        waiter.call("wait_for_messages", session_id=sid, timeout_s=30)
    )
    inbox_wait = asyncio.create_task(waiter.call("wait_for_messages", timeout_s=30))
    await until(lambda: b.app.services.get(Wakeups, needed_by="test").count() == 2)
    sent = await writer.call("add_message", session_id=sid, content="over here")
    dm = await writer.call("send_direct_message", to="waiter", content="psst")
    got = await asyncio.wait_for(session_wait, DEADLINE_S)
    assert [m["id"] for m in got["messages"]] == [sent["message_id"]]
    got_dm = await asyncio.wait_for(inbox_wait, DEADLINE_S)
    assert [m["id"] for m in got_dm["messages"]] == [dm["message_id"]]
    # b's pending count follows a's writes through the feed
    result = await waiter.call("list_sessions")
    assert result["pending"] == {"inbox": 1}
    await writer.call("send_direct_message", to="waiter", content="again")

    async def pending() -> object:
        return (await waiter.call("list_sessions")).get("pending")

    deadline = asyncio.get_running_loop().time() + DEADLINE_S
    while await pending() != {"inbox": 2}:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.02)
