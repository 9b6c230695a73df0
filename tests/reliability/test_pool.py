"""The read pool under exhaustion and misuse: a typed, bounded refusal; never a dirty lend."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import pytest
from scs.db import Database
from scs.errors import ScsError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(tmp_path / "pool.db", pool_size=2, acquire_timeout_s=1)
    await database.open()
    yield database
    await database.close()


async def test_exhausted_pool_refuses_with_database_busy_within_the_timeout(db: Database) -> None:
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
    started = time.monotonic()
    with pytest.raises(ScsError) as caught:
        async with db.read():
            pass
    waited = time.monotonic() - started
    assert caught.value.code == "DATABASE_BUSY"
    assert caught.value.details["retryable"] is True
    assert 0.5 < waited < 5
    hold.set()
    await asyncio.wait_for(asyncio.gather(*holders), 10)
    async with db.read() as conn:  # the pool recovered by itself
        assert [tuple(r) for r in await conn.execute_fetchall("SELECT 1")] == [(1,)]
    assert db.stats()["in_use"] == 0


async def test_a_transaction_left_open_is_rolled_back_before_the_next_lend(db: Database) -> None:
    async with db.transaction() as conn:
        await conn.execute("CREATE TABLE t (x INTEGER)")
    async with db.read() as conn:
        await conn.execute("BEGIN")
        await conn.execute("INSERT INTO t VALUES (1)")
    for _ in range(3):  # every connection of the pool is clean and the row never landed
        async with db.read() as a, db.read() as b:
            assert not a.in_transaction and not b.in_transaction
            assert [tuple(r) for r in await a.execute_fetchall("SELECT COUNT(*) FROM t")] == [(0,)]
    async with db.transaction() as conn:  # and the writer is not blocked by it
        await conn.execute("INSERT INTO t VALUES (2)")


async def test_many_waiters_are_all_served_and_none_is_lost(db: Database) -> None:
    async def one(n: int) -> int:
        async with db.read() as conn:
            await asyncio.sleep(0)
            rows = list(await conn.execute_fetchall("SELECT ?", (n,)))
            return int(rows[0][0])

    results = await asyncio.wait_for(asyncio.gather(*(one(n) for n in range(200))), 30)
    assert results == list(range(200))
    assert db.stats()["in_use"] == 0 and db.stats()["connections_opened"] <= 3
