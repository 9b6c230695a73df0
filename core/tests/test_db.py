"""The database: PRAGMAs on every connection, transactions, loop-side writes and lookups,
busy errors, checkpoints."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from typing import TYPE_CHECKING

import pytest
import scs.db
from scs.db import Database
from scs.errors import ScsError

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path


@pytest.fixture
async def db(tmp_path: Path):
    database = Database(tmp_path / "p.db", pool_size=4, busy_timeout_ms=100, mmap_size=1 << 20)
    await database.open()
    async with database.transaction() as conn:
        await conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    yield database
    await database.close()


def lock_elsewhere(db: Database) -> sqlite3.Connection:
    """Another connection, standing for another process, holding the write lock."""
    other = sqlite3.connect(db.path, isolation_level=None, timeout=0)
    other.execute("BEGIN IMMEDIATE")
    return other


def release(other: sqlite3.Connection) -> None:
    other.execute("ROLLBACK")
    other.close()


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
    other = lock_elsewhere(db)
    try:
        with pytest.raises(ScsError) as caught:
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO t (v) VALUES ('x')")
        assert caught.value.code == "DATABASE_BUSY"
        assert caught.value.details["retryable"] is True
    finally:
        release(other)
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


def _insert(conn: sqlite3.Connection, value: str) -> int:
    cursor = conn.execute("INSERT INTO t (v) VALUES (?)", (value,))
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def _values(conn: sqlite3.Connection) -> list[str]:
    return [row["v"] for row in conn.execute("SELECT v FROM t ORDER BY id")]


async def test_write_commits_on_the_loop_and_rolls_back_on_error(db: Database) -> None:
    first = await db.write(_insert, "kept")

    def failing(conn: sqlite3.Connection) -> None:
        _insert(conn, "dropped")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await db.write(failing)
    assert db.lookup(_values) == ["kept"]
    assert first == 1
    assert db.stats()["writes_on_loop"] == 2
    assert db.stats()["writes_in_thread"] == 0


async def test_write_and_transaction_interleave_without_losing_anything(db: Database) -> None:
    async def through_transaction(i: int) -> None:
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO t (v) VALUES (?)", (f"t{i}",))

    await asyncio.gather(
        *(db.write(_insert, f"w{i}") for i in range(100)),
        *(through_transaction(i) for i in range(100)),
    )
    values = db.lookup(_values)
    assert len(values) == 200
    assert len(set(values)) == 200


async def _wait_for(predicate: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.005)


@pytest.fixture
async def patient_db(tmp_path: Path):
    """A database that waits 5 s for another process's write lock (the default)."""
    database = Database(tmp_path / "patient.db", busy_timeout_ms=5000)
    await database.open()
    await database.write(lambda conn: conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v)"))
    yield database
    await database.close()


async def test_write_waits_in_a_thread_while_another_process_holds_the_lock(
    patient_db: Database,
) -> None:
    other = lock_elsewhere(patient_db)
    pending = asyncio.create_task(patient_db.write(_insert, "waited"))
    await _wait_for(lambda: patient_db.writes_in_thread == 1)
    assert patient_db.lookup(lambda conn: conn.execute("SELECT 1").fetchone()[0]) == 1
    release(other)  # the loop kept serving (the lookup above) meanwhile
    assert await asyncio.wait_for(pending, 10) == 1
    assert patient_db.lookup(_values) == ["waited"]
    await patient_db.write(_insert, "fast again")
    assert patient_db.writes_on_loop == 2  # the CREATE TABLE and this one


async def test_write_past_busy_timeout_is_a_typed_busy_error(db: Database) -> None:
    other = lock_elsewhere(db)
    try:
        with pytest.raises(ScsError) as caught:
            await db.write(_insert, "x")
        assert caught.value.code == "DATABASE_BUSY"
        assert caught.value.details["retryable"] is True
    finally:
        release(other)
    assert db.lookup(_values) == []
    await db.write(_insert, "after")  # recovers by itself once the lock is gone
    assert db.lookup(_values) == ["after"]


async def test_lookup_leaves_no_transaction_and_sees_committed_writes(db: Database) -> None:
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO t (v) VALUES ('from aiosqlite')")
    assert db.lookup(_values) == ["from aiosqlite"]
    await db.write(_insert, "from write")
    assert db.lookup(_values) == ["from aiosqlite", "from write"]


async def test_the_loop_writer_leaves_checkpoints_to_a_thread(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scs.db, "CHECKPOINT_COMMITS", 3)
    for n in range(2):
        await db.write(_insert, f"x{n}")
    assert db.checkpoints == 0
    assert db._loop_writer is not None
    assert db._loop_writer.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    assert db.lookup(lambda conn: conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]) > 0
    await db.write(_insert, "x2")
    await _wait_for(lambda: db.checkpoints == 1)


async def test_a_growing_wal_is_checkpointed_before_the_commit_count(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scs.db, "CHECKPOINT_WAL_GROWTH", 64 * 1024)
    monkeypatch.setattr(scs.db, "CHECKPOINT_SIZE_CHECK", 1)
    big = "x" * 100_000
    await db.write(_insert, big)
    await _wait_for(lambda: db.checkpoints == 1)


async def test_a_cancelled_thread_write_keeps_the_lock_until_the_thread_is_done(
    patient_db: Database,
) -> None:
    other = lock_elsewhere(patient_db)
    pending = asyncio.create_task(patient_db.write(_insert, "cancelled caller"))
    await _wait_for(lambda: patient_db.writes_in_thread == 1)
    pending.cancel()
    for _ in range(3):  # deliver the cancellation; a task that let go would end here
        await asyncio.sleep(0)
    assert not pending.done()
    assert patient_db.stats()["writer_waiting"]  # the thread still uses the connection
    release(other)
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(pending, 10)
    assert not patient_db.stats()["writer_waiting"]
    await patient_db.write(_insert, "next")
    # the thread finished its transaction (the caller was gone, the write was not)
    assert patient_db.lookup(_values) == ["cancelled caller", "next"]
