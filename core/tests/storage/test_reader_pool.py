"""SQLite's reader pool (``scs_server.storage.sqlite_conn.ReaderPool``) under exhaustion and
misuse: a typed, bounded refusal; never a dirty lend."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest
from scs_server.errors import ScsError
from scs_server.storage.sqlite import SqliteDatabase

from .conftest import create_notes

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[SqliteDatabase]:
    database = SqliteDatabase(tmp_path / "pool.db", pool_size=2, acquire_timeout_s=1)
    await database.open()
    await create_notes(database)
    yield database
    await database.close()


async def test_an_exhausted_pool_refuses_with_database_busy(db: SqliteDatabase) -> None:
    hold = asyncio.Event()
    held = asyncio.Event()
    count = 0

    async def holder() -> None:
        nonlocal count
        async with db.read():
            count += 1
            if count == 2:
                held.set()
            await hold.wait()

    holders = [asyncio.create_task(holder()) for _ in range(2)]
    await asyncio.wait_for(held.wait(), 10)
    with pytest.raises(ScsError) as caught:
        async with asyncio.timeout(30):  # bounded by acquire_timeout_s, not by this
            async with db.read():
                pass
    assert caught.value.code == "DATABASE_BUSY"
    assert caught.value.details["retryable"] is True
    assert db.stats()["acquire_waits"] == 1
    hold.set()
    await asyncio.wait_for(asyncio.gather(*holders), 10)
    async with db.read() as reader:  # the pool recovered by itself
        assert await reader.fetch_value("SELECT 1") == 1
    assert db.stats()["in_use"] == 0


async def test_a_transaction_left_open_is_rolled_back_before_the_next_lend(
    db: SqliteDatabase,
) -> None:
    async with db.read() as reader:
        await reader.execute("BEGIN")
        await reader.execute("INSERT INTO notes (body) VALUES ('never')")
    for _ in range(3):  # every connection of the pool is clean and the row never landed
        async with db.read() as a, db.read() as b:
            assert not a.conn.in_transaction and not b.conn.in_transaction
            assert await a.fetch_value("SELECT COUNT(*) FROM notes") == 0
    await db.execute("INSERT INTO notes (body) VALUES ('landed')")  # the writer is not blocked
    assert await db.fetch_value("SELECT body FROM notes") == "landed"


async def test_many_waiters_are_all_served_and_none_is_lost(db: SqliteDatabase) -> None:
    async def one(n: int) -> int:
        async with db.read() as reader:
            await asyncio.sleep(0)
            return int(await reader.fetch_value("SELECT ?", (n,)))

    results = await asyncio.wait_for(asyncio.gather(*(one(n) for n in range(200))), 30)
    assert results == list(range(200))
    assert db.stats()["in_use"] == 0
    assert db.stats()["connections_opened"] <= 2 + 2  # the two readers, the writers
