"""SQLite only: the write fast path stays on the loop, another process's lock sends it to
a thread, checkpoints run off the loop, the file is private."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import TYPE_CHECKING

import pytest
import scs_server.storage.sqlite
from scs_server.errors import ScsError
from scs_server.storage.sqlite import SqliteDatabase

from .conftest import create_notes, eventually

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from scs_server.storage import Change, OneStatement, Transaction


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[SqliteDatabase]:
    database = SqliteDatabase(tmp_path / "s.db", pool_size=4, busy_timeout_ms=5000)
    await database.open()
    await create_notes(database)
    yield database
    await database.close()


def lock_elsewhere(db: SqliteDatabase) -> sqlite3.Connection:
    """Another connection, standing for another process, holding the write lock."""
    other = sqlite3.connect(db.path, isolation_level=None, timeout=0)
    other.execute("BEGIN IMMEDIATE")
    return other


async def test_a_short_write_runs_on_the_loop_without_a_thread_hop(db: SqliteDatabase) -> None:
    before = db.stats()
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO notes (body) VALUES (?)", ("x",))
        tx.emit("notes", {"id": 1})
    await db.execute("INSERT INTO notes (body) VALUES (?)", ("y",))
    after = db.stats()
    assert after["writes_on_loop"] - before["writes_on_loop"] == 2
    assert after["writes_in_thread"] == before["writes_in_thread"]


async def test_point_reads_between_writes_use_the_idle_writer(db: SqliteDatabase) -> None:
    await db.execute("INSERT INTO notes (body) VALUES (?)", ("x",))
    before = db.reads_on_writer
    assert await db.fetch_value("SELECT body FROM notes") == "x"
    assert [r["body"] for r in await db.fetch_all("SELECT body FROM notes")] == ["x"]
    assert db.reads_on_writer == before + 2


async def test_short_queries_of_a_read_block_run_on_the_loop(db: SqliteDatabase) -> None:
    await db.execute("INSERT INTO notes (body) VALUES (?)", ("x",))
    before = db.stats()
    async with db.read() as reader:
        assert await reader.fetch_value("SELECT body FROM notes") == "x"
        assert [r["body"] for r in await reader.fetch_all("SELECT body FROM notes")] == ["x"]
        row = await reader.fetch_one("SELECT count(*) AS n FROM notes")
        assert row is not None and row["n"] == 1
    after = db.stats()
    assert after["reads_on_loop"] - before["reads_on_loop"] == 3
    assert after["reads_over_budget"] == before["reads_over_budget"]
    assert after["reads_on_writer"] - before["reads_on_writer"] == 3  # its warm cache


LONG_QUERY = (  # runs for a good part of a second: always past the loop's budget
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000000)"
    " SELECT count(*) FROM n"
)


async def test_a_long_query_of_a_read_block_moves_to_a_thread_and_answers_whole(
    db: SqliteDatabase,
) -> None:
    def counts() -> tuple[int, int]:
        stats = db.stats()
        return stats["reads_on_loop"], stats["reads_over_budget"]

    await db.execute("INSERT INTO notes (body) VALUES (?)", ("first",))  # the loop's writer
    on_writer = db.stats()["reads_on_writer"]
    on_loop, over = counts()
    async with db.read() as reader:
        assert await reader.fetch_value(LONG_QUERY) == 3_000_000  # interrupted, run again
        assert db.stats()["reads_on_writer"] == on_writer + 1  # it was tried on the writer
        assert counts() == (on_loop, over + 1)
        assert await reader.fetch_value(LONG_QUERY) == 3_000_000  # straight to the thread
        assert counts() == (on_loop, over + 1)
        assert await reader.fetch_value(LONG_QUERY) == 3_000_000  # tried on the loop again
        assert counts() == (on_loop, over + 2)
        for _ in range(2):  # now skipped twice
            assert await reader.fetch_value(LONG_QUERY) == 3_000_000
        assert counts() == (on_loop, over + 2)
        assert await reader.fetch_value("SELECT count(*) FROM notes") == 1  # others: the loop
        assert counts() == (on_loop + 1, over + 2)
    # the budget left the loop-side connection with the query: a point read is not cut short
    assert await db.fetch_value(LONG_QUERY) == 3_000_000
    # and the interrupted query left no read open on the writer: it still writes
    await db.execute("INSERT INTO notes (body) VALUES (?)", ("after",))
    assert await db.fetch_value("SELECT body FROM notes ORDER BY id DESC") == "after"


async def test_a_read_block_that_began_a_transaction_reads_in_it(db: SqliteDatabase) -> None:
    async with db.read() as reader:
        await reader.execute("BEGIN")
        assert await reader.fetch_value("SELECT count(*) FROM notes") == 0  # the snapshot
        await db.execute("INSERT INTO notes (body) VALUES (?)", ("later",))
        on_loop = db.stats()["reads_on_loop"]
        assert await reader.fetch_value("SELECT count(*) FROM notes") == 0
        assert db.stats()["reads_on_loop"] == on_loop  # the block's connection answered
        await reader.execute("COMMIT")
        assert await reader.fetch_value("SELECT count(*) FROM notes") == 1


async def test_a_failing_query_of_a_read_block_raises_from_the_loop(db: SqliteDatabase) -> None:
    before = db.stats()
    async with db.read() as reader:
        with pytest.raises(sqlite3.OperationalError, match="no such table"):
            await reader.fetch_all("SELECT * FROM no_such_table")
        assert await reader.fetch_value("SELECT 1") == 1  # the block goes on
    after = db.stats()
    assert after["reads_over_budget"] == before["reads_over_budget"]
    assert after["reads_on_loop"] - before["reads_on_loop"] == 1


async def open_write(db: SqliteDatabase, body: str) -> tuple[asyncio.Task[None], asyncio.Event]:
    """A write transaction that inserted ``body`` and stays open (holding the write lock)
    until the returned event is set."""
    inserted, release = asyncio.Event(), asyncio.Event()

    async def write() -> None:
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO notes (body) VALUES (?)", (body,))
            inserted.set()
            await release.wait()  # the transaction stays open across this await

    writing = asyncio.create_task(write())
    await asyncio.wait_for(inserted.wait(), 10)
    return writing, release


async def test_a_point_read_during_a_write_does_not_see_its_uncommitted_rows(
    db: SqliteDatabase,
) -> None:
    writing, release = await open_write(db, "uncommitted")
    before = db.reads_on_writer
    assert await db.fetch_value("SELECT count(*) FROM notes") == 0
    assert await db.fetch_one("SELECT body FROM notes") is None
    assert db.reads_on_writer == before  # the loop-side reader answered
    release.set()
    await asyncio.wait_for(writing, 10)
    assert await db.fetch_value("SELECT count(*) FROM notes") == 1


async def _note(one: OneStatement, body: str) -> int:
    row = await one.fetch_one("INSERT INTO notes (body) VALUES (?) RETURNING id", (body,))
    assert row is not None
    return int(row["id"])


@pytest.mark.usefixtures("grouping")
async def test_write_one_statements_of_one_loop_turn_share_a_commit(db: SqliteDatabase) -> None:
    before = db.stats()
    ids = await asyncio.gather(*(db.write_one(_note, f"n{i}") for i in range(5)))
    after = db.stats()
    assert after["writes_on_loop"] - before["writes_on_loop"] == 1  # one BEGIN ... COMMIT
    assert after["grouped_writes"] - before["grouped_writes"] == 4
    rows = await db.fetch_all("SELECT id, body FROM notes ORDER BY id")
    assert [(r["id"], r["body"]) for r in rows] == [(id_, f"n{i}") for i, id_ in enumerate(ids)]
    await db.write_one(_note, "alone")  # nothing else ready: committed at once, alone
    assert db.stats()["writes_on_loop"] == after["writes_on_loop"] + 1
    assert db.stats()["grouped_writes"] == after["grouped_writes"]


async def test_with_few_callbacks_ready_each_write_commits_at_once(db: SqliteDatabase) -> None:
    few = 3  # well under GROUP_MIN_READY, whatever timers of the engine are also ready
    assert few + 3 < scs_server.storage.sqlite.GROUP_MIN_READY
    before = db.stats()
    await asyncio.gather(*(db.write_one(_note, f"few{i}") for i in range(few)))
    after = db.stats()
    assert after["writes_on_loop"] - before["writes_on_loop"] == few  # none waited a turn
    assert after["grouped_writes"] == before["grouped_writes"]
    many = scs_server.storage.sqlite.GROUP_MIN_READY + 2  # the first sees the others ready
    await asyncio.gather(*(db.write_one(_note, f"many{i}") for i in range(many)))
    assert db.stats()["writes_on_loop"] - after["writes_on_loop"] == 1
    assert db.stats()["grouped_writes"] - after["grouped_writes"] == many - 1
    batched = db.stats()  # the last group was not alone: two started together share one
    await asyncio.gather(db.write_one(_note, "then0"), db.write_one(_note, "then1"))
    assert db.stats()["writes_on_loop"] - batched["writes_on_loop"] == 1
    assert await db.fetch_value("SELECT count(*) FROM notes") == few + many + 2


async def test_writes_that_wait_for_the_lock_wait_together_and_share_a_commit(
    db: SqliteDatabase,
) -> None:
    holding, release = await open_write(db, "first")
    before = db.stats()
    waiting = [asyncio.create_task(db.write_one(_note, f"w{i}")) for i in range(5)]
    for _ in range(3):  # each is queued now: behind the lock, or behind the first of them
        await asyncio.sleep(0)
    assert not any(task.done() for task in waiting)
    release.set()
    await holding
    ids = await asyncio.gather(*waiting)
    after = db.stats()
    assert after["writes_on_loop"] - before["writes_on_loop"] == 1  # one transaction for five
    assert after["grouped_writes"] - before["grouped_writes"] == 4
    rows = await db.fetch_all("SELECT id, body FROM notes ORDER BY id")
    assert [r["body"] for r in rows] == ["first", "w0", "w1", "w2", "w3", "w4"]
    assert [r["id"] for r in rows[1:]] == ids


@pytest.mark.usefixtures("grouping")
async def test_a_read_while_writes_wait_for_their_commit_sees_only_committed_rows(
    db: SqliteDatabase,
) -> None:
    async def count() -> int:
        return int(await db.fetch_value("SELECT count(*) FROM notes"))

    writing = asyncio.gather(db.write_one(_note, "a"), db.write_one(_note, "b"))
    reading = asyncio.ensure_future(count())  # runs in the same turn, before the commit
    assert await reading == 0
    await writing
    assert await count() == 2


@pytest.mark.usefixtures("grouping")
async def test_a_caller_cancelled_while_its_group_commits_leaves_its_row_written(
    db: SqliteDatabase,
) -> None:
    seen: list[Change] = []
    await db.changes.subscribe(seen.append, topics={"notes"})

    async def note_emitting(one: OneStatement, body: str) -> int:
        one.emit_rows("notes", {}, ("id",))
        return await _note(one, body)

    first = asyncio.create_task(db.write_one(note_emitting, "kept"))
    second = asyncio.create_task(db.write_one(note_emitting, "cancelled"))
    await asyncio.sleep(0)  # both ran their statement; the commit is the next turn's
    assert db.stats()["writer_waiting"]
    second.cancel()
    await first
    with pytest.raises(asyncio.CancelledError):
        await second
    rows = await db.fetch_all("SELECT body FROM notes ORDER BY id")
    assert [r["body"] for r in rows] == ["kept", "cancelled"]
    assert len(seen) == 2  # its change was delivered with the group's


@pytest.mark.usefixtures("grouping")
async def test_a_statement_that_ends_the_shared_transaction_fails_the_writes_in_it(
    db: SqliteDatabase,
) -> None:
    async def rollback(one: OneStatement) -> int:
        return await one.execute("ROLLBACK")

    first, rogue, later = await asyncio.gather(
        db.write_one(_note, "lost"),
        db.write_one(rollback),
        db.write_one(_note, "kept"),
        return_exceptions=True,
    )
    assert isinstance(first, sqlite3.Error) and isinstance(rogue, sqlite3.Error)
    assert isinstance(later, int)  # it began a transaction of its own
    rows = await db.fetch_all("SELECT body FROM notes")
    assert [r["body"] for r in rows] == ["kept"]  # nothing answered as written was lost
    assert not db.stats()["writer_waiting"]


async def test_another_process_holding_the_lock_sends_the_wait_to_a_thread(
    db: SqliteDatabase,
) -> None:
    other = lock_elsewhere(db)
    before = db.stats()
    pending = asyncio.create_task(db.execute("INSERT INTO notes (body) VALUES (?)", ("waited",)))
    await eventually(lambda: db.writes_in_thread == before["writes_in_thread"] + 1)
    assert await db.fetch_value("SELECT 1") == 1  # the loop keeps serving meanwhile
    other.execute("ROLLBACK")
    other.close()
    assert await asyncio.wait_for(pending, 10) == 1
    assert await db.fetch_value("SELECT body FROM notes") == "waited"
    assert db.writes_on_loop == before["writes_on_loop"]  # it went through the thread


async def test_a_cancelled_waiting_writer_keeps_the_lock_until_its_thread_is_done(
    db: SqliteDatabase,
) -> None:
    other = lock_elsewhere(db)
    before = db.writes_in_thread
    pending = asyncio.create_task(db.execute("INSERT INTO notes (body) VALUES (?)", ("gone",)))
    await eventually(lambda: db.writes_in_thread == before + 1)
    pending.cancel()
    for _ in range(3):  # deliver the cancellation; a task that let go would end here
        await asyncio.sleep(0)
    assert not pending.done()
    assert db.stats()["writer_waiting"]  # the thread still uses the writer connection
    other.execute("ROLLBACK")
    other.close()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(pending, 10)
    assert not db.stats()["writer_waiting"]
    await db.execute("INSERT INTO notes (body) VALUES (?)", ("next",))
    rows = await db.fetch_all("SELECT body FROM notes")
    assert [r["body"] for r in rows] == ["next"]  # the cancelled caller wrote nothing


async def test_past_the_busy_timeout_a_write_is_a_typed_busy_error(tmp_path: Path) -> None:
    impatient = SqliteDatabase(tmp_path / "i.db", busy_timeout_ms=50)
    await impatient.open()
    await create_notes(impatient)
    other = lock_elsewhere(impatient)
    try:
        with pytest.raises(ScsError) as caught:
            await impatient.execute("INSERT INTO notes (body) VALUES (?)", ("x",))
        assert caught.value.code == "DATABASE_BUSY" and caught.value.details["retryable"]
        # write_one callers waiting together behind the first one's wait get its answer
        answers = await asyncio.gather(
            *(impatient.write_one(_note, f"w{i}") for i in range(3)), return_exceptions=True
        )
        assert [getattr(a, "code", a) for a in answers] == ["DATABASE_BUSY"] * 3
    finally:
        other.execute("ROLLBACK")
        other.close()
    await impatient.execute("INSERT INTO notes (body) VALUES (?)", ("after",))
    assert await impatient.fetch_value("SELECT count(*) FROM notes") == 1
    await impatient.close()


async def test_the_loop_writer_leaves_checkpoints_to_a_thread(
    db: SqliteDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scs_server.storage.sqlite, "CHECKPOINT_COMMITS", 3)
    for n in range(2):
        await db.execute("INSERT INTO notes (body) VALUES (?)", (f"x{n}",))
    assert db.checkpoints == 0
    # a pooled reader keeps the default (a snapshot read runs on the block's connection)
    async with db.read(snapshot=True) as reader:
        assert await reader.fetch_value("PRAGMA wal_autocheckpoint") > 0
    await db.execute("INSERT INTO notes (body) VALUES (?)", ("x2",))
    await eventually(lambda: db.checkpoints == 1)


async def test_new_database_files_are_private(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "new" / "p.db")
    await db.open()
    await db.close()
    assert (tmp_path / "new").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "new" / "p.db").stat().st_mode & 0o777 == 0o600


async def test_old_changes_are_pruned(db: SqliteDatabase, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scs_server.storage.feed, "PRUNE_EVERY", 5)
    db._pruner.retention_s = -1  # everything counts as old
    for i in range(5):
        async with db.transaction() as tx:
            tx.emit("notes", i)
    await eventually(lambda: db._pruner._task is None)
    rows = await db.fetch_all("SELECT seq, payload FROM scs_changes")
    assert [r["payload"] for r in rows] == ["4"]  # the newest is kept: seqs never repeat
    async with db.transaction() as tx:
        tx.emit("notes", 5)
    assert await db.fetch_value("SELECT max(seq) FROM scs_changes") == rows[0]["seq"] + 1


PRAGMAS = (
    "journal_mode",
    "synchronous",
    "foreign_keys",
    "cache_size",
    "temp_store",
    "mmap_size",
    "journal_size_limit",
)


async def test_every_connection_has_the_pragmas(tmp_path: Path) -> None:
    db = SqliteDatabase(
        tmp_path / "p.db", pool_size=4, busy_timeout_ms=100, mmap_size=1 << 20,
        journal_size_limit=1 << 22,
    )  # fmt: skip
    await db.open()
    expected = ("wal", 1, 1, -8000, 2, 1 << 20, 1 << 22)

    async def through_a_reader() -> tuple[object, ...]:
        async with db.read(snapshot=True) as reader:  # on the pooled connection itself
            values = [await reader.fetch_value(f"PRAGMA {name}") for name in PRAGMAS]
            busy = await reader.fetch_value("PRAGMA busy_timeout")
            await asyncio.sleep(0.01)  # hold the connection so that others are opened
        assert busy == 100  # threads may wait for the lock
        return tuple(values)

    try:
        for values in await asyncio.gather(*(through_a_reader() for _ in range(4))):
            assert values == expected
        assert db.opened >= 2
        on_loop = tuple([await db.fetch_value(f"PRAGMA {name}") for name in PRAGMAS])
        assert on_loop == expected
        assert await db.fetch_value("PRAGMA busy_timeout") == 0  # the loop never waits
        async with db.transaction() as tx:
            assert tuple([await tx.fetch_value(f"PRAGMA {n}") for n in PRAGMAS]) == expected
    finally:
        await db.close()


async def test_written_files_stay_private(db: SqliteDatabase) -> None:
    await db.execute("INSERT INTO notes (body) VALUES (?)", ("secret",))
    async with db.read() as reader:
        assert await reader.fetch_value("SELECT body FROM notes") == "secret"
    for suffix in ("", "-wal", "-shm"):
        path = db.path.with_name(db.path.name + suffix)
        assert path.stat().st_mode & 0o777 == 0o600, suffix


async def test_a_loop_side_write_rolls_back_on_error(db: SqliteDatabase) -> None:
    before = db.stats()
    await db.execute("INSERT INTO notes (body) VALUES (?)", ("kept",))
    with pytest.raises(RuntimeError):
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO notes (body) VALUES (?)", ("dropped",))
            tx.emit("notes", {"body": "dropped"})
            raise RuntimeError("boom")
    assert [r["body"] for r in await db.fetch_all("SELECT body FROM notes")] == ["kept"]
    assert await db.fetch_value("SELECT count(*) FROM scs_changes WHERE topic = 'notes'") == 0
    after = db.stats()
    assert after["writes_on_loop"] - before["writes_on_loop"] == 2
    assert after["writes_in_thread"] == before["writes_in_thread"]


async def test_loop_heavy_and_store_function_writes_interleave_losing_nothing(
    db: SqliteDatabase,
) -> None:
    async def insert(tx: Transaction, body: str) -> None:
        await tx.execute("INSERT INTO notes (body) VALUES (?)", (body,))

    async def heavy(i: int) -> None:
        async with db.transaction(heavy=True) as tx:
            await insert(tx, f"h{i}")

    async def loop_side(i: int) -> None:
        async with db.transaction() as tx:
            await insert(tx, f"t{i}")

    await asyncio.gather(
        *(db.write(insert, f"w{i}") for i in range(60)),
        *(loop_side(i) for i in range(60)),
        *(heavy(i) for i in range(30)),
    )
    bodies = [r["body"] for r in await db.fetch_all("SELECT body FROM notes")]
    assert len(bodies) == len(set(bodies)) == 150


async def test_a_growing_wal_is_checkpointed_before_the_commit_count(
    db: SqliteDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scs_server.storage.sqlite, "CHECKPOINT_WAL_GROWTH", 64 * 1024)
    monkeypatch.setattr(scs_server.storage.sqlite, "CHECKPOINT_SIZE_CHECK", 1)
    assert db.checkpoints == 0
    await db.execute("INSERT INTO notes (body) VALUES (?)", ("x" * 100_000,))
    await eventually(lambda: db.checkpoints == 1)


async def test_the_wal_starts_over_under_steady_writes(
    db: SqliteDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkpoint in a thread never catches up with writes that go on meanwhile; once
    the WAL holds ``wal_restart_bytes`` a pass with the writers held back completes it,
    so the WAL starts over instead of growing until writes pause."""
    monkeypatch.setattr(scs_server.storage.sqlite, "CHECKPOINT_COMMITS", 20)
    db.wal_restart_bytes = 256 * 1024
    wal = db.path.with_name(db.path.name + "-wal")
    largest = 0
    writes = 4000  # ~26 KiB of frames each: ~100 MiB of WAL without the second pass
    for n in range(writes):
        await db.execute("INSERT INTO notes (body) VALUES (?)", ("x" * 2000 + str(n),))
        largest = max(largest, wal.stat().st_size)
        await asyncio.sleep(0)  # a server's writers yield between calls
    assert db.wal_restarts >= 1
    assert largest < 24 * 1024 * 1024  # 2-5 MiB seen, on a busy machine too
    assert await db.fetch_value("SELECT count(*) FROM notes") == writes


async def test_a_checkpoint_that_meets_another_counts_for_nothing(db: SqliteDatabase) -> None:
    """While another connection checkpoints (here a RESTART waiting for a reader), a
    PASSIVE one copies nothing: it must not count as the WAL starting over."""
    await db.execute("INSERT INTO notes (body) VALUES (?)", ("before",))
    reader = sqlite3.connect(db.path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM notes").fetchall()  # holds its snapshot
    await db.execute("INSERT INTO notes (body) VALUES (?)", ("after",))
    other = sqlite3.connect(db.path, isolation_level=None, check_same_thread=False)
    other.execute("PRAGMA busy_timeout=10000")
    restart = asyncio.get_running_loop().run_in_executor(
        None, lambda: other.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()
    )
    try:

        async def met() -> bool:
            return await db.checkpoint(hold_writers=True) == (0, -1)

        deadline = asyncio.get_running_loop().time() + 10
        while not await met():  # until the RESTART holds the checkpoint lock
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.01)
        assert db.wal_restarts == 0
    finally:
        reader.execute("COMMIT")
        assert (await restart)[0][0] == 0  # the RESTART completes once the reader is done
        reader.close()
        other.close()
    frames, copied = await db.checkpoint(hold_writers=True)
    assert frames == copied and db.wal_restarts == 1
