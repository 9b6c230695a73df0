"""Message ids grow in commit order within a session, so a reader that follows
``after_id`` never misses a message, with several writers and several servers."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import pytest
from scs_messaging import store
from scs_server.storage import one_statement_in
from scs_server.testing import until_a_backend_waits_for_a_lock

if TYPE_CHECKING:
    from scs_server.testing import Agent, ServerFactory

    from .conftest import TeamFactory

PLUGINS = "sessions,messaging"
WRITES = 60
DEADLINE_S = 120


async def follow(reader: Agent, session_id: str, writers_done: asyncio.Event) -> list[int]:
    """What a client polling with ``after_id`` sees: every id, once, in order (it stops
    after the writers are done and one more page brings nothing new)."""
    seen: list[int] = []
    deadline = time.monotonic() + DEADLINE_S
    for _ in range(100_000):
        assert time.monotonic() < deadline, f"the reader saw {len(seen)} messages in time"
        done = writers_done.is_set()
        page = await reader.call(
            "get_messages", session_id=session_id, after_id=seen[-1] if seen else 0, limit=1000
        )
        seen.extend(m["id"] for m in page["messages"])
        if done and not page["messages"]:
            return seen
        await asyncio.sleep(0)  # let the writers run between polls
    raise AssertionError("the reader never caught up")


@pytest.mark.slow
async def test_reader_following_after_id_misses_nothing(
    make_team: TeamFactory, scs_factory: ServerFactory
) -> None:
    team = await make_team()
    sid = team.session_id
    # a second server on the same database: two replicas (two processes on SQLite);
    # one writer on each
    replica = await scs_factory(plugins=PLUGINS, same_database_as=team.server)
    writers = [await team.server.agent("writer0"), await replica.agent("writer1")]
    writers_done = asyncio.Event()

    async def write(agent: Agent) -> None:
        for k in range(WRITES):
            await agent.call("add_message", session_id=sid, content=f"{agent.agent_id} {k}")

    async def all_writers() -> None:
        await asyncio.gather(*(write(agent) for agent in writers))
        writers_done.set()

    seen, _ = await asyncio.gather(follow(team.carol, sid, writers_done), all_writers())

    final = await team.carol.call("get_messages", session_id=sid, limit=1000)
    assert final["total_count"] == 2 * WRITES
    assert seen == [m["id"] for m in final["messages"]]


@pytest.mark.parametrize("db_engine", ["postgresql"])  # SQLite: one writer at a time anyway
async def test_postgresql_second_writer_waits_for_the_first(make_team: TeamFactory) -> None:
    """While one add_message transaction of a session is open, a second writer of that
    session waits (its id is allocated after the first commits): there is never a
    moment when a larger id is visible and a smaller one is still to come."""
    team = await make_team()
    sid = team.session_id
    db = team.server.app.db
    async with db.transaction() as tx:  # the first writer, held open mid-transaction
        first, _ = await store.insert(
            one_statement_in(tx),
            db.dialect,
            session_id=sid,
            sender="alice",
            sender_type="claude",
            content="first",
            visibility="public",
            metadata=None,
            parent_id=None,
            timestamp="2026-01-01T00:00:00.000000Z",
            parent_visible=("1 = 1", []),
        )
        second = asyncio.create_task(team.bob.call("add_message", session_id=sid, content="2nd"))
        await until_a_backend_waits_for_a_lock(team.server.app.db, "the second writer")
        page = await team.carol.call("get_messages", session_id=sid, after_id=0)
        assert page["messages"] == []  # neither is committed
        assert not second.done()
    added = await second
    assert first is not None
    assert added["message_id"] > first
    page = await team.carol.call("get_messages", session_id=sid, after_id=0)
    assert [m["id"] for m in page["messages"]] == [first, added["message_id"]]
