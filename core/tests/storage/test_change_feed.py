"""The change feed on both engines: at once in-process, soon across replicas, nothing lost."""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING

import pytest
from scs_server.errors import ScsError
from scs_server.storage import Change, open_database
from scs_server.testing import engine_settings

from .conftest import eventually

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from scs_server.storage import Database


@pytest.fixture
async def replica(tmp_path: Path, database_url: str | None) -> AsyncIterator[Database]:
    """A second Database object on the same database (another replica / process)."""
    db = open_database(engine_settings(tmp_path, database_url))
    await db.open()
    yield db
    await db.close()


async def test_changes_of_this_process_arrive_at_commit(storage_db: Database) -> None:
    seen: list[Change] = []
    await storage_db.changes.subscribe(seen.append, topics={"notes"})
    async with storage_db.transaction() as tx:
        tx.emit("notes", {"id": 1})
        tx.emit("other", {"id": 2})
        assert seen == []  # nothing before the commit
    assert [(c.topic, c.payload) for c in seen] == [("notes", {"id": 1})]
    with pytest.raises(RuntimeError):
        async with storage_db.transaction() as tx:
            tx.emit("notes", {"id": 3})
            raise RuntimeError("rolled back")
    assert len(seen) == 1  # a rolled-back change is never published


async def test_a_bad_topic_is_refused(storage_db: Database) -> None:
    with pytest.raises(ScsError) as caught:
        async with storage_db.transaction() as tx:
            tx.emit("has space")
    assert caught.value.code == "VALIDATION_001"


async def test_another_replica_sees_every_change_in_order(
    storage_db: Database, replica: Database
) -> None:
    seen: list[Change] = []
    await replica.changes.subscribe(seen.append, topics={"notes"})
    for i in range(20):
        async with storage_db.transaction() as tx:
            tx.emit("notes", {"id": i})
    await eventually(lambda: len(seen) >= 20)
    assert [c.payload["id"] for c in seen] == list(range(20))
    assert [c.seq for c in seen] == sorted(c.seq for c in seen)
    # its own changes reach it once (at commit), not again through the watcher
    async with replica.transaction() as tx:
        tx.emit("notes", {"id": "own"})
    async with storage_db.transaction() as tx:
        tx.emit("notes", {"id": "last"})
    await eventually(lambda: len(seen) >= 22)
    assert [c.payload["id"] for c in seen[20:]] == ["own", "last"]


async def test_listen_iterates_changes(storage_db: Database, replica: Database) -> None:
    stream = replica.changes.listen({"notes"})
    first = asyncio.ensure_future(anext(stream))
    await eventually(lambda: bool(replica.changes.subscribers))  # type: ignore[attr-defined]
    async with storage_db.transaction() as tx:
        tx.emit("notes", [1, 2])
    change = await asyncio.wait_for(first, 10)
    assert (change.topic, change.payload) == ("notes", [1, 2])
    await stream.aclose()


async def test_a_large_payload_is_read_from_the_table(
    storage_db: Database, replica: Database
) -> None:
    seen: list[Change] = []
    await replica.changes.subscribe(seen.append)
    big = {"ids": list(range(3000))}  # more than a NOTIFY can carry
    async with storage_db.transaction() as tx:
        tx.emit("bulk", big)
    await eventually(lambda: len(seen) == 1)
    assert seen[0].payload == big


WRITER = """
import asyncio, sys
from scs_server.storage.sqlite import SqliteDatabase

async def main():
    db = SqliteDatabase(sys.argv[1])
    await db.open()
    for i in range(5):
        async with db.transaction() as tx:
            tx.emit("notes", {"from": "child", "i": i})
    await db.close()

asyncio.run(main())
"""


async def test_sqlite_changes_cross_processes(tmp_path: Path) -> None:
    db = open_database(engine_settings(tmp_path, None))
    await db.open()
    try:
        seen: list[Change] = []
        await db.changes.subscribe(seen.append)
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", WRITER, str(tmp_path / "scs.db")
        )
        assert await asyncio.wait_for(child.wait(), 60) == 0
        await eventually(lambda: len(seen) == 5)
        assert [c.payload for c in seen] == [{"from": "child", "i": i} for i in range(5)]
    finally:
        await db.close()


async def test_poll_delivers_other_processes_changes_at_once_on_sqlite(tmp_path: Path) -> None:
    from scs_server.storage.sqlite import SqliteDatabase

    writer = open_database(engine_settings(tmp_path, None))
    reader = SqliteDatabase(tmp_path / "scs.db", changes_poll_s=3600)  # the watcher sleeps
    await writer.open()
    await reader.open()
    try:
        reader.changes.poll()  # before any subscriber: nothing to do, no error
        seen: list[Change] = []
        await reader.changes.subscribe(seen.append, topics={"notes"})
        reader.changes.poll()
        assert seen == []
        async with writer.transaction() as tx:
            tx.emit("notes", {"id": 1})
        reader.changes.poll()
        assert [c.payload for c in seen] == [{"id": 1}]
        reader.changes.poll()  # nothing new: nothing delivered twice
        assert len(seen) == 1
    finally:
        await reader.close()
        await writer.close()


async def test_poll_never_fails_and_changes_still_arrive(
    storage_db: Database, replica: Database
) -> None:
    seen: list[Change] = []
    await replica.changes.subscribe(seen.append, topics={"notes"})
    async with storage_db.transaction() as tx:
        tx.emit("notes", {"id": 1})
    replica.changes.poll()
    await eventually(lambda: len(seen) == 1)
    assert seen[0].payload == {"id": 1}


async def test_position_and_since_give_a_gap_free_resume_point(
    storage_db: Database, replica: Database
) -> None:
    seen: list[Change] = []
    await replica.changes.subscribe(seen.append, topics={"notes"})
    start = replica.changes.position
    for i in range(3):
        async with storage_db.transaction() as tx:
            tx.emit("notes", {"id": i})
            tx.emit("other", {"id": i})

    def caught_up() -> bool:
        replica.changes.poll()
        return len(seen) == 3 and replica.changes.position >= seen[-1].seq

    await eventually(caught_up)
    found, complete = await replica.changes.since(start, ["notes"], 10)
    assert complete
    assert [(c.topic, c.payload) for c in found] == [("notes", {"id": i}) for i in range(3)]
    assert [c.seq for c in found] == [c.seq for c in seen]  # commit order, as delivered
    later, _ = await replica.changes.since(found[0].seq, ["notes", "other"], 2)
    assert [(c.topic, c.payload) for c in later] == [("other", {"id": 0}), ("notes", {"id": 1})]
    assert (await replica.changes.since(replica.changes.position, ["notes"], 10))[0] == []
