"""wait_for_messages: visibility, exactly-once delivery, timeout, cancellation, the cap."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import pytest
from scs_messaging.api import Wakeups

from .conftest import PLUGINS

if TYPE_CHECKING:
    from scs_server.testing import Agent, ScsServer, ServerFactory

    from .conftest import TeamFactory

DEADLINE_S = 10.0


def waiters(server: ScsServer) -> int:
    return int(server.app.services.get(Wakeups, needed_by="test").count())


async def until(probe: Any, deadline_s: float = DEADLINE_S) -> None:
    """Poll ``probe()`` until true, or fail at the deadline."""
    deadline = time.monotonic() + deadline_s
    while not probe():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def test_returns_at_once_when_a_message_is_there(make_team: TeamFactory) -> None:
    team = await make_team()
    sent = await team.alice.call("add_message", session_id=team.session_id, content="hi")
    got = await team.bob.call(
        "wait_for_messages", session_id=team.session_id, after_id=0, timeout_s=5
    )
    assert [m["id"] for m in got["messages"]] == [sent["message_id"]]
    assert got["next_after_id"] == sent["message_id"]
    assert got["timed_out"] is False


async def test_times_out_with_nothing_and_keeps_the_cursor(make_team: TeamFactory) -> None:
    team = await make_team()
    got = await team.bob.call("wait_for_messages", session_id=team.session_id, timeout_s=0.2)
    assert got == {
        "success": True,
        "session_id": team.session_id,
        "messages": [],
        "count": 0,
        "next_after_id": 0,
        "timed_out": True,
    }
    assert waiters(team.server) == 0


async def _wait_in_background(agent: Agent, session_id: str, **args: Any) -> asyncio.Task[Any]:
    return asyncio.create_task(
        agent.call("wait_for_messages", session_id=session_id, after_id=0, **args)
    )


@pytest.mark.parametrize(
    ("level", "writer", "sees", "blind"),
    [
        ("private", "alice", ["auditor", "boss"], ["bob", "carol"]),
        ("agent_only", "alice", ["bob", "boss", "auditor"], ["carol"]),
        ("admin_only", "boss", ["auditor"], ["alice", "bob", "carol"]),
    ],
)
async def test_a_waiter_is_woken_only_by_what_it_may_see(
    make_team: TeamFactory, level: str, writer: str, sees: list[str], blind: list[str]
) -> None:
    team = await make_team()
    readers = team.readers
    sid = team.session_id
    waits = {
        name: await _wait_in_background(readers[name], sid, timeout_s=30) for name in sees + blind
    }
    await until(lambda: waiters(team.server) == len(waits))
    hidden = await readers[writer].call(
        "add_message", session_id=sid, content="secret", visibility=level
    )
    seen = await asyncio.wait_for(asyncio.gather(*(waits[n] for n in sees)), DEADLINE_S)
    for got in seen:
        assert [m["id"] for m in got["messages"]] == [hidden["message_id"]]
    # the invisible write did not end the others' waits: still waiting, then a public one
    await asyncio.sleep(0)
    assert not any(waits[n].done() for n in blind)
    public = await team.alice.call("add_message", session_id=sid, content="for all")
    for name in blind:
        got = await asyncio.wait_for(waits[name], DEADLINE_S)
        assert [m["id"] for m in got["messages"]] == [public["message_id"]], name
    assert waiters(team.server) == 0


async def test_an_invisible_write_does_not_end_the_wait(make_team: TeamFactory) -> None:
    team = await make_team()
    task = asyncio.create_task(
        team.carol.call("wait_for_messages", session_id=team.session_id, timeout_s=0.6)
    )
    await until(lambda: waiters(team.server) == 1)
    await team.alice.call(
        "add_message", session_id=team.session_id, content="x", visibility="agent_only"
    )
    got = await asyncio.wait_for(task, DEADLINE_S)
    assert got["timed_out"] is True
    assert got["messages"] == []


@pytest.mark.slow
async def test_fifty_writers_fifty_waiters_every_message_exactly_once(
    scs_factory: ServerFactory,
) -> None:
    server = await scs_factory(plugins=PLUGINS, env={"SCS_MESSAGING_MAX_WAITS_PER_AGENT": "100"})
    admin = await server.agent("admin", "admin")
    sessions = [
        (await admin.call("create_session", purpose=f"s{i}"))["session_id"] for i in range(5)
    ]
    writers = [await server.agent(f"w{i}", client=admin.client) for i in range(50)]
    readers = [await server.agent(f"r{i}", client=admin.client) for i in range(50)]
    per_writer = 2
    expected = {sid: set() for sid in sessions}
    received: dict[int, list[int]] = {i: [] for i in range(50)}
    total_per_session = 10 * per_writer  # 10 writers per session

    async def read(i: int) -> None:
        sid = sessions[i % 5]
        after = 0
        deadline = time.monotonic() + 60
        while len(received[i]) < total_per_session and time.monotonic() < deadline:
            got = await readers[i].call(
                "wait_for_messages", session_id=sid, after_id=after, timeout_s=5, limit=7
            )
            received[i].extend(m["id"] for m in got["messages"])
            after = got["next_after_id"]

    async def write(i: int) -> None:
        sid = sessions[i % 5]
        for n in range(per_writer):
            sent = await writers[i].call("add_message", session_id=sid, content=f"{i}.{n}")
            expected[sid].add(sent["message_id"])

    await asyncio.gather(*(read(i) for i in range(50)), *(write(i) for i in range(50)))
    for i in range(50):
        got = received[i]
        assert len(got) == len(set(got)), f"reader {i} got a message twice"
        assert set(got) == expected[sessions[i % 5]], f"reader {i} missed messages"


async def test_cancelling_a_wait_leaves_nothing_behind(make_team: TeamFactory) -> None:
    team = await make_team()
    task = asyncio.create_task(
        team.bob.call("wait_for_messages", session_id=team.session_id, timeout_s=60)
    )
    await until(lambda: waiters(team.server) == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await until(lambda: waiters(team.server) == 0)
    assert team.server.app.services.get(Wakeups, needed_by="test").per_agent == {}


@pytest.mark.slow  # over HTTP
async def test_a_client_that_disconnects_leaves_nothing_behind(make_team: TeamFactory) -> None:
    team = await make_team(http=True)
    client = team.server.client(team.bob.token)
    await client.__aenter__()
    task = asyncio.create_task(
        client.call_tool("wait_for_messages", {"session_id": team.session_id, "timeout_s": 60})
    )
    await until(lambda: waiters(team.server) == 1)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await client.__aexit__(None, None, None)
    await until(lambda: waiters(team.server) == 0)
    assert team.server.app.services.get(Wakeups, needed_by="test").per_agent == {}


async def test_the_per_agent_cap_answers_a_typed_error(scs_factory: ServerFactory) -> None:
    server = await scs_factory(plugins=PLUGINS, env={"SCS_MESSAGING_MAX_WAITS_PER_AGENT": "2"})
    bob = await server.agent("bob")
    sid = (await bob.call("create_session", purpose="cap"))["session_id"]
    tasks = [
        asyncio.create_task(bob.call("wait_for_messages", session_id=sid, timeout_s=30))
        for _ in range(2)
    ]
    await until(lambda: waiters(server) == 2)
    error = await bob.fails("wait_for_messages", session_id=sid, timeout_s=1)
    assert error.code == "LIMIT_EXCEEDED"
    assert error.body["limit"] == 2
    other = await server.agent("other")
    assert (await other.call("wait_for_messages", session_id=sid, timeout_s=0))["timed_out"]
    await bob.call("add_message", session_id=sid, content="release")
    await asyncio.wait_for(asyncio.gather(*tasks), DEADLINE_S)
    assert waiters(server) == 0


async def test_bad_arguments_are_typed_errors(make_team: TeamFactory) -> None:
    team = await make_team()
    too_long = await team.bob.fails("wait_for_messages", session_id=team.session_id, timeout_s=121)
    assert too_long.code == "VALIDATION_001"
    missing = await team.bob.fails(
        "wait_for_messages", session_id="session_0000000000000000", timeout_s=1
    )
    assert missing.code == "RESOURCE_001"
    no_inbox = await team.bob.fails("wait_for_messages", timeout_s=1)
    assert no_inbox.code == "VALIDATION_001"
    assert waiters(team.server) == 0


async def test_progress_notifications_while_waiting(make_team: TeamFactory) -> None:
    team = await make_team(env={"SCS_MESSAGING_WAIT_PROGRESS_S": "0.05"})
    progress: list[float] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    got = await team.bob.client.call_tool(
        "wait_for_messages",
        {"session_id": team.session_id, "timeout_s": 0.5, "auth_token": team.bob.token},
        progress_handler=on_progress,
    )
    assert got.structured_content["timed_out"] is True
    assert len(progress) >= 2
    assert progress == sorted(progress)
