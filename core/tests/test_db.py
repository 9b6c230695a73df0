"""The pool: PRAGMAs on every connection, transactions, busy errors, optimize on close."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import TYPE_CHECKING

import pytest
from scs.db import Database
from scs.errors import ScsError

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
async def db(tmp_path: Path):
    database = Database(tmp_path / "p.db", pool_size=4, busy_timeout_ms=100, mmap_size=1 << 20)
    await database.open()
    async with database.transaction() as conn:
        await conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    yield database
    await database.close()


async def test_every_connection_has_the_pragmas(db: Database) -> None:
    async def pragmas() -> tuple:
        async with db.read() as conn:
            values = []
            for name in (
                "journal_mode",
                "synchronous",
                "busy_timeout",
                "foreign_keys",
                "cache_size",
                "temp_store",
                "mmap_size",
            ):
                row = await (await conn.execute(f"PRAGMA {name}")).fetchone()
                values.append(row[0])
            await asyncio.sleep(0.01)  # hold the connection so others are opened
            return tuple(values)

    results = await asyncio.gather(*(pragmas() for _ in range(4)))
    assert db.opened >= 2
    for values in results:
        assert values == ("wal", 1, 100, 1, -8000, 2, 1 << 20)


async def test_transaction_commits_and_rolls_back(db: Database) -> None:
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO t (v) VALUES ('kept')")
    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO t (v) VALUES ('dropped')")
            raise RuntimeError("boom")
    async with db.read() as conn:
        rows = await (await conn.execute("SELECT v FROM t")).fetchall()
    assert [r[0] for r in rows] == ["kept"]


async def test_concurrent_writers_lose_nothing(db: Database) -> None:
    async def write(i: int) -> None:
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO t (v) VALUES (?)", (str(i),))

    await asyncio.gather(*(write(i) for i in range(200)))
    async with db.read() as conn:
        row = await (await conn.execute("SELECT count(*) FROM t")).fetchone()
    assert row[0] == 200


async def test_locked_by_another_process_is_a_typed_busy_error(db: Database) -> None:
    other = sqlite3.connect(db.path, isolation_level=None, timeout=0)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(ScsError) as caught:
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO t (v) VALUES ('x')")
        assert caught.value.code == "DATABASE_BUSY"
        assert caught.value.details["retryable"] is True
    finally:
        other.execute("ROLLBACK")
        other.close()
    async with db.transaction() as conn:  # recovers by itself once the lock is gone
        await conn.execute("INSERT INTO t (v) VALUES ('after')")


async def test_stats_and_ping(db: Database) -> None:
    assert await db.ping()
    stats = db.stats()
    assert stats["pool_size"] == 4 and stats["in_use"] == 0


async def test_new_database_files_are_private(tmp_path: Path) -> None:
    import stat

    database = Database(tmp_path / "private" / "p.db")
    await database.open()
    async with database.transaction() as conn:
        await conn.execute("CREATE TABLE secret (x)")
    try:
        assert stat.S_IMODE((tmp_path / "private").stat().st_mode) == 0o700
        for name in ("p.db", "p.db-wal", "p.db-shm"):
            assert stat.S_IMODE((tmp_path / "private" / name).stat().st_mode) == 0o600
    finally:
        await database.close()
