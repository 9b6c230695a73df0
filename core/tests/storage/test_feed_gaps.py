"""Gaps in the change feed are said, never silent: a replica that fell behind the
retention, and a ``listen()`` consumer that fell behind its queue, get a gap change."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING

import pytest
from scs_server.storage import GAP_TOPIC, Change, ChangeQueue
from scs_server.storage.feed import PRUNE_SQL

from .conftest import eventually

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from pathlib import Path

    from scs_server.storage import Database
    from scs_server.storage.cluster import PostgresCluster


async def emit(db: Database, topic: str, payload: object) -> None:
    async with db.transaction() as tx:
        tx.emit(topic, payload)


@pytest.fixture
async def behind_replica(
    tmp_path: Path, database_url: str | None, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[Database, Callable[[], contextlib.AbstractAsyncContextManager[None]]]]:
    """A second Database on the same data, and a context in which it reads no changes.

    SQLite: its watcher sleeps (an hour) and reads only on ``poll()``. PostgreSQL: its
    LISTEN connection is cut, and its one pooled connection held, so the reconnected
    listener cannot catch up until the block ends.
    """
    if database_url is None:
        from scs_server.storage.sqlite import SqliteDatabase

        sqlite = SqliteDatabase(tmp_path / "scs.db", changes_poll_s=3600)
        await sqlite.open()

        @contextlib.asynccontextmanager
        async def reads_nothing() -> AsyncIterator[None]:
            yield

        yield sqlite, reads_nothing
        await sqlite.close()
        return
    from scs_server.storage.postgres import PostgresDatabase

    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    pg = PostgresDatabase(database_url, pool_size=1)
    await pg.open()

    @contextlib.asynccontextmanager
    async def cut_off() -> AsyncIterator[None]:
        async with pg.read():  # the only pooled connection: no catch-up read meanwhile
            listener = pg.changes._watcher  # type: ignore[attr-defined]
            reconnects = listener.reconnects
            assert await asyncio.to_thread(cluster.terminate, "LISTEN%", database_url) == 1
            await eventually(lambda: listener.reconnects > reconnects)  # old connection gone
            yield

    yield pg, cut_off
    await pg.close()


async def test_a_replica_behind_the_retention_gets_a_gap_then_changes_again(
    storage_db: Database,
    behind_replica: tuple[Database, Callable[[], contextlib.AbstractAsyncContextManager[None]]],
) -> None:
    replica, reads_nothing = behind_replica
    seen: list[Change] = []
    await replica.changes.subscribe(seen.append, topics={"notes"})
    await emit(storage_db, "notes", {"id": 0})
    replica.changes.poll()
    await eventually(lambda: len(seen) == 1)

    async with reads_nothing():
        for n in (1, 2, 3):
            await emit(storage_db, "notes", {"id": n})
        await emit(storage_db, "other", {"id": "last"})  # kept by the prune: not a "notes" one
        await storage_db.execute(PRUNE_SQL, (time.time() + 60,))  # past every row's retention
    replica.changes.poll()
    await eventually(lambda: len(seen) == 2)
    gap = seen[1]
    assert gap.gap and gap.topic == GAP_TOPIC  # delivered whatever the subscribed topics
    assert gap.payload["reason"] == "retention"
    assert replica.stats()["changes_gaps"] == 1
    assert [c.payload for c in seen if not c.gap] == [{"id": 0}]  # 1-3 are gone: said, not faked

    await emit(storage_db, "notes", {"id": 4})  # the feed goes on after the gap
    replica.changes.poll()
    await eventually(lambda: len(seen) == 3)
    assert seen[2].payload == {"id": 4} and not seen[2].gap
    assert replica.stats()["changes_gaps"] == 1


async def test_a_replica_that_kept_up_gets_no_gap_from_a_prune(
    storage_db: Database,
    behind_replica: tuple[Database, Callable[[], contextlib.AbstractAsyncContextManager[None]]],
) -> None:
    replica, _ = behind_replica
    seen: list[Change] = []
    await replica.changes.subscribe(seen.append, topics={"notes"})
    for n in range(3):
        await emit(storage_db, "notes", {"id": n})
    replica.changes.poll()
    await eventually(lambda: len(seen) == 3)
    await storage_db.execute(PRUNE_SQL, (time.time() + 60,))
    await emit(storage_db, "notes", {"id": 3})
    replica.changes.poll()
    await eventually(lambda: len(seen) == 4)
    assert [c.payload["id"] for c in seen] == [0, 1, 2, 3]
    assert replica.stats()["changes_gaps"] == 0


async def test_a_listener_that_falls_behind_its_queue_gets_one_gap(storage_db: Database) -> None:
    stream = storage_db.changes.listen({"notes"}, limit=3)
    first = asyncio.ensure_future(anext(stream))
    await eventually(lambda: bool(storage_db.changes.subscribers))  # type: ignore[attr-defined]
    await emit(storage_db, "notes", {"id": 0})
    assert (await asyncio.wait_for(first, 10)).payload == {"id": 0}
    for n in range(1, 6):  # the consumer reads none of these in time: 5 > 3
        await emit(storage_db, "notes", {"id": n})
    got = [await asyncio.wait_for(anext(stream), 10) for _ in range(3)]
    assert got[0].gap and got[0].payload["reason"] == "overflow"
    assert [c.payload for c in got[1:]] == [{"id": 4}, {"id": 5}]  # the rest arrive as usual
    await stream.aclose()


def test_a_change_queue_keeps_order_below_its_limit() -> None:
    queue = ChangeQueue(limit=2)
    queue.put(Change(1, "notes", None))
    queue.put(Change(2, "notes", None))
    assert queue.overflows == 0
    queue.put(Change(3, "notes", None))
    assert queue.overflows == 1
    gap = queue.get_nowait()
    assert gap.gap and gap.payload == {"reason": "overflow", "after": 0}
    assert queue.get_nowait().seq == 3 and queue.empty()
