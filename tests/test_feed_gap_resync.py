"""A server that fell behind the change feed's retention resynchronises instead of serving
stale answers: its cache drops everything and its waiters re-read (both engines).

Server b shares a's database. While b reads no changes (SQLite: its watcher between two
looks, the writes done without yielding to the event loop; PostgreSQL: its LISTEN
connection cut and its one pooled connection held, so it cannot catch up), a writes a
message into the session b has cached and waits on, then one elsewhere, and the feed is
pruned past all of them. The only change b can still read is about another session: without
the gap b would go on answering the cached page and the wait would sleep to its timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, Any

import pytest
from scs_messaging import api as messaging_api
from scs_server.identity import Identity
from scs_server.storage.feed import PRUNE_SQL

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from scs_server.storage.cluster import PostgresCluster
    from scs_server.testing import ScsServer, ServerFactory

DEADLINE_S = 10.0


async def until(probe: Callable[[], bool], deadline_s: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + deadline_s
    while not probe():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def until_count_is_one(count: Callable[[], Awaitable[int]]) -> None:
    """SQLite: the first call takes the gap in (the cache polls the feed); PostgreSQL: b
    catches up once its pooled connection is free, a few milliseconds later."""
    deadline = time.monotonic() + DEADLINE_S
    while (got := await count()) != 1:
        assert got == 0 and time.monotonic() < deadline, f"b still answers {got} messages"
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def reading_no_changes(
    b: ScsServer, db_engine: str, request: pytest.FixtureRequest
) -> AsyncIterator[None]:
    if db_engine == "sqlite":
        yield  # the caller does not yield to the loop: b's watcher cannot look meanwhile
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    db: Any = b.app.db
    async with db.read():  # b's only pooled connection
        listener = db.changes._watcher
        reconnects = listener.reconnects
        url = b.app.settings.database_url.get_secret_value()
        assert await asyncio.to_thread(cluster.terminate, "LISTEN%", url) >= 1
        await until(lambda: listener.reconnects > reconnects)
        yield


@pytest.mark.slow
async def test_a_server_behind_the_retention_drops_its_cache_and_wakes_its_waiters(
    scs_factory: ServerFactory, db_engine: str, request: pytest.FixtureRequest
) -> None:
    a = await scs_factory()
    b = await scs_factory(same_database_as=a, db_pool_size=1, changes_poll_ms=5000)
    writer = await a.agent("writer")
    reader = await b.agent("reader")
    sid = (await writer.call("create_session", purpose="cached on b"))["session_id"]
    elsewhere = (await writer.call("create_session", purpose="another"))["session_id"]

    async def count() -> int:
        return int((await reader.call("get_messages", session_id=sid))["count"])

    assert await count() == 0  # b's cache now holds the empty page
    wait = asyncio.create_task(reader.call("wait_for_messages", session_id=sid, timeout_s=30))
    wakeups = b.app.services.get(messaging_api.Wakeups, needed_by="test")
    await until(lambda: wakeups.count() == 1)

    messaging = messaging_api.service(a.app)
    who = Identity("writer", "claude", frozenset({"read", "write"}))
    async with reading_no_changes(b, db_engine, request):
        added = await messaging.add(who, sid, "written while b was away")
        await messaging.add(who, elsewhere, "the one change b can still read")
        await a.app.db.execute(PRUNE_SQL, (time.time() + 60,))  # past every row's retention

    await until_count_is_one(count)  # the cached empty page was dropped
    got = await asyncio.wait_for(wait, DEADLINE_S)  # woken by the gap, not its timeout
    assert got["timed_out"] is False
    assert [m["id"] for m in got["messages"]] == [added["message_id"]]
    assert b.app.db.stats()["changes_gaps"] == 1
