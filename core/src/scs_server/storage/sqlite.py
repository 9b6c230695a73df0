"""The SQLite engine: WAL mode, short work on the event loop, long work in threads.

- ``db.fetch_*``: a loop-side reader connection, no thread hop (a point read ~3 us).
- ``db.transaction()`` / ``db.execute``: the loop-side writer, ``BEGIN IMMEDIATE`` with
  busy_timeout 0. When another process holds the write lock, ``BEGIN IMMEDIATE`` waits
  in a worker thread (busy_timeout) and the transaction then continues on the loop: in
  WAL mode nothing after it waits. One asyncio lock orders this process's writers.
- ``db.write_one``: the same writer; the statements that run in one turn of the loop
  share a transaction and its commit (under load, tens of writes pay for one commit's
  WAL frames), each still atomic alone, every caller answered after the commit; those
  that arrive while the first waits for the lock wait with it (no queue on the lock).
- ``db.read()``: each query first runs on the loop (a loop-side connection); one that
  runs past ``LOOP_READ_BUDGET_S`` is interrupted and runs in a worker thread, on the
  block's pooled connection (``LoopFirstExecutor``). ``db.read(snapshot=True)`` and
  ``db.transaction(heavy=True)``: connections used in worker threads, one hop per
  statement, for scans and long batches.
- The loop-side writer never checkpoints inside a commit (an fsync would stall the loop);
  a PASSIVE checkpoint runs in a thread every CHECKPOINT_COMMITS commits or sooner when
  the WAL grew by CHECKPOINT_WAL_GROWTH. Under steady writes such a checkpoint never
  catches up (commits land while it fsyncs), so the WAL would never start over; once it
  holds ``wal_restart_bytes``, a second pass runs with this process's writers held back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import uuid
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, Literal

from scs_server.files import make_private_dir
from scs_server.storage.engine import Engine, run_statement_in
from scs_server.storage.feed import (
    CATCH_UP_LIMIT,
    CATCH_UP_SQL,
    LAST_SEQ_SQL,
    Feed,
    Pruner,
)
from scs_server.storage.migrate import apply_migrations
from scs_server.storage.sqlite_conn import (
    LoopExecutor,
    LoopFirstExecutor,
    LoopReads,
    LoopTransaction,
    ReaderPool,
    ThreadExecutor,
    ThreadTransaction,
    insert_changes,
    is_busy,
    raise_typed,
    rollback_if_open,
    run_fetch_all,
    run_fetch_one,
    run_fetch_value,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence

    from scs_server.migrations import Migration
    from scs_server.storage.api import Change, Executor, P, Params, Row, RowChange, T

log = logging.getLogger("scs.storage.sqlite")

# a write_one group commits at once while fewer callbacks than this are ready to run
# (and the last group was alone): a loop with little to do would make it wait a turn for
# writers that rarely come (at 200 calls/s, 97-98 % of the groups that waited stayed
# alone; PostgreSQL's commit_siblings is the same idea)
GROUP_MIN_READY = 8
CHECKPOINT_COMMITS = 250
CHECKPOINT_WAL_GROWTH = 4 * 1024 * 1024
CHECKPOINT_SIZE_CHECK = 16
# the WAL starts over once it holds this much (or half of journal_size_limit, if less):
# left to grow, it restarts only when writes pause, and the commit that restarts it cuts
# the file back to journal_size_limit on the loop (freeing 450 MiB stalled it 300-540 ms)
CHECKPOINT_RESTART_BYTES = 32 * 1024 * 1024
WAL_FRAME_HEADER = 24

BOOTSTRAP = (
    """CREATE TABLE IF NOT EXISTS scs_migrations (
    plugin TEXT NOT NULL,
    version INTEGER NOT NULL,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (plugin, version)
)""",
    # a plain rowid: AUTOINCREMENT and an index on ``at`` cost ~40 us more per emitting
    # commit (bench/storage_api.py); pruning keeps the newest row, so no seq is reused
    """CREATE TABLE IF NOT EXISTS scs_changes (
    seq INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    payload TEXT,
    origin TEXT NOT NULL,
    at REAL NOT NULL
)""",
)


class _LoopWrite:
    """``db.transaction()`` on the loop-side writer (a class: cheaper than a generator)."""

    __slots__ = ("db", "tx")

    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db

    async def __aenter__(self) -> LoopTransaction:
        db = self.db
        await db._write_lock.acquire()
        try:
            conn = db._writer_connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
                db.writes_on_loop += 1
            except sqlite3.OperationalError as error:
                if not is_busy(error):
                    raise_typed(error)
                db.writes_in_thread += 1
                await db._begin_in_thread(conn)  # another process holds the lock
        except BaseException:
            db._write_lock.release()
            raise
        self.tx = LoopTransaction(conn)
        return self.tx

    async def __aexit__(self, error_type: type[BaseException] | None, *_: object) -> None:
        self.finish(failed=error_type is not None)

    def finish(self, *, failed: bool) -> None:
        """Commit (roll back when ``failed``), release the write lock, publish the changes."""
        db, tx = self.db, self.tx
        conn = tx.conn
        try:
            if failed:
                if conn.in_transaction:
                    conn.rollback()
                return
            try:
                changes = insert_changes(conn, tx.pending, db.origin) if tx.pending else []
                conn.execute("COMMIT")
            except BaseException as error:
                if conn.in_transaction:
                    conn.rollback()
                if isinstance(error, sqlite3.Error):
                    raise_typed(error)
                raise
        finally:
            db._write_lock.release()
        db._after_commit()
        if changes or tx.committed:
            db.published(changes, tx.committed)


class _Group:
    """``write_one`` statements that share one write transaction and its commit: those
    that run while it is open, in the event loop's turn that began it, and those that
    arrived while its first writer waited for the write lock (``_statement``)."""

    __slots__ = ("coming", "commit", "failed", "opened", "waiters", "write")

    def __init__(self) -> None:
        self.write: _LoopWrite | None = None  # None until the transaction is open
        self.opened = asyncio.Event()  # each waiter its own future: cancelling one is safe
        self.failed: BaseException | None = None  # why it could not open
        self.coming = 0  # callers waiting for it to open that have not joined yet
        self.waiters: list[asyncio.Future[None]] = []
        self.commit: asyncio.Handle | None = None


class SqliteWatcher:
    """Other processes' changes: poll ``PRAGMA data_version`` on a private connection."""

    def __init__(self, db: SqliteDatabase, feed: Feed, interval_s: float) -> None:
        self.db = db
        self.feed = feed
        self.interval_s = interval_s
        self._conn: sqlite3.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self.live = False

    async def start(self) -> None:
        self._conn = self.db.connect_now()
        self._version = self._data_version()
        self.feed.last_seq = int(run_fetch_value(self._conn, LAST_SEQ_SQL, ()))
        self._task = asyncio.get_running_loop().create_task(self._watch())
        self.live = True

    def _data_version(self) -> int:
        assert self._conn is not None
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                self._poll()
            except sqlite3.Error:  # busy (recovery elsewhere): look again next time
                log.debug("change watcher could not read; retrying", exc_info=True)

    def poll(self) -> None:
        """Deliver what other processes committed since the last look (a few us if nothing)."""
        try:
            self._poll()
        except sqlite3.Error as error:
            raise_typed(error)

    def _poll(self) -> None:
        if self._conn is None:
            return  # stopped
        version = self._data_version()
        if version == self._version:
            return
        self._version = version
        feed, conn = self.feed, self._conn
        while feed.take(
            run_fetch_all(conn, CATCH_UP_SQL, (feed.last_seq, CATCH_UP_LIMIT)), self.db.origin
        ):
            pass

    async def stop(self) -> None:
        self.live = False
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class SqliteDatabase(Engine):
    """One WAL-mode SQLite file through the data API (see the module docstring)."""

    dialect: Literal["sqlite"] = "sqlite"

    def __init__(
        self,
        path: Path | str,
        *,
        pool_size: int = 20,
        busy_timeout_ms: int = 5000,
        mmap_size: int = 268_435_456,
        acquire_timeout_s: float = 10,
        changes_retention_s: float = 3600,
        changes_poll_s: float = 0.05,
        journal_size_limit: int = 64 * 1024 * 1024,
    ) -> None:
        self.path = Path(path)
        self.journal_size_limit = journal_size_limit
        self._wal_path = self.path.with_name(self.path.name + "-wal")
        self.pool_size = pool_size
        self.busy_timeout_ms = busy_timeout_ms
        self.mmap_size = mmap_size
        self.acquire_timeout_s = acquire_timeout_s
        self.origin = uuid.uuid4().hex
        self.changes = Feed(lambda feed: SqliteWatcher(self, feed, changes_poll_s), self.fetch_all)
        self._pruner = Pruner(changes_retention_s, self.execute)
        self._write_lock = asyncio.Lock()
        self._writer: sqlite3.Connection | None = None
        self._heavy_writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._readers: ReaderPool | None = None
        self._commits_since_checkpoint = 0
        self._wal_bytes_at_checkpoint = 0
        self._page_size = 0
        self._checkpoint: asyncio.Task[None] | None = None
        self.opened = 0
        self.writes_on_loop = 0
        self.reads_on_writer = 0  # point reads served by the idle writer (its warm cache)
        self.loop_reads = LoopReads()  # db.read() queries tried on the loop first
        self.writes_in_thread = 0
        self.grouped_writes = 0  # write_one statements that shared an earlier one's commit
        self.checkpoints = 0
        self.wal_restarts = 0  # checkpoints that caught up with writers held back
        self.wal_restart_bytes = max(
            CHECKPOINT_WAL_GROWTH, min(CHECKPOINT_RESTART_BYTES, journal_size_limit // 2)
        )
        self._group: _Group | None = None
        self._last_group_size = 0  # writes the last committed group answered

    @property
    def pragmas(self) -> tuple[str, ...]:
        return (
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=NORMAL",
            f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}",
            "PRAGMA foreign_keys=ON",
            "PRAGMA cache_size=-8000",
            "PRAGMA temp_store=MEMORY",
            f"PRAGMA mmap_size={int(self.mmap_size)}",
            f"PRAGMA journal_size_limit={int(self.journal_size_limit)}",
        )

    def connect(self) -> sqlite3.Connection:
        """A connection with the PRAGMAs, waiting up to busy_timeout (for threads)."""
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        for pragma in self.pragmas:
            conn.execute(pragma)
        self.opened += 1
        return conn

    def connect_now(self) -> sqlite3.Connection:
        """A connection for the loop: no busy wait (a wait would stall the loop)."""
        conn = self.connect()
        conn.execute("PRAGMA busy_timeout=0")
        return conn

    async def open(self) -> None:
        """Create the file (folder 0700, file 0600: it holds private messages) and the tables."""
        make_private_dir(self.path.parent)
        if not self.path.exists():
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        self._readers = ReaderPool(self.connect, self.pool_size, self.acquire_timeout_s)
        async with self.transaction(heavy=True) as tx:
            for statement in BOOTSTRAP:
                await tx.execute(statement)

    def _open_readers(self) -> ReaderPool:
        if self._readers is None:
            raise RuntimeError("database is not open")
        return self._readers

    async def close(self) -> None:
        """Stop the feed, run ``PRAGMA optimize`` and close every connection."""
        if self._readers is None:
            return
        await self.changes.close()
        await self._pruner.close()
        with contextlib.suppress(Exception):  # closing must not fail because optimize did
            async with self.read() as reader:
                await reader.execute("PRAGMA optimize")
        if self._checkpoint is not None:
            with contextlib.suppress(Exception):
                await self._checkpoint
        async with self._write_lock:  # a transaction waiting in a thread finishes first
            for conn in (self._writer, self._heavy_writer, self._reader):
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
            self._writer = self._heavy_writer = self._reader = None
        readers, self._readers = self._readers, None
        await asyncio.get_running_loop().run_in_executor(None, readers.close)

    # point reads: on the loop, no executor object in between (the hottest path)
    def _loop_reader(self) -> sqlite3.Connection:
        if self._reader is None:
            self._open_readers()
            self._reader = self.connect_now()
        return self._reader

    def _point_reader(self) -> sqlite3.Connection:
        """The connection for one statement on the loop: the writer's while no write
        transaction holds it, else the loop-side reader.

        The writer's page cache survives its own commits, while every commit discards
        the reader's (it must reload the pages it reads). Safe for a single statement
        only: it runs without yielding to the loop, so no write can begin on the writer
        meanwhile (``lookup`` yields between statements and keeps to the reader).
        """
        writer = self._writer
        if writer is not None and not self._write_lock.locked() and not writer.in_transaction:
            self.reads_on_writer += 1
            return writer
        return self._reader or self._loop_reader()

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        try:
            return run_fetch_one(self._point_reader(), sql, params)
        except sqlite3.Error as error:
            raise_typed(error)

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        try:
            return run_fetch_all(self._point_reader(), sql, params)
        except sqlite3.Error as error:
            raise_typed(error)

    async def fetch_value(self, sql: str, params: Params = ()) -> Any:
        try:
            return run_fetch_value(self._point_reader(), sql, params)
        except sqlite3.Error as error:
            raise_typed(error)

    @asynccontextmanager
    async def read(self, *, snapshot: bool = False) -> AsyncIterator[ThreadExecutor]:
        """A reader connection (autocommit; no transaction held): each query runs on the
        loop while it is short, else in a worker thread (``LoopFirstExecutor``).

        ``snapshot``: one read transaction for the whole block (WAL: every statement sees
        the database as it was on entry, whatever commits meanwhile), in a worker thread.
        """
        readers = self._open_readers()
        async with readers.connection() as conn:
            if not snapshot:
                yield LoopFirstExecutor(conn, readers.threads, self._point_reader, self.loop_reads)
                return
            executor = ThreadExecutor(conn, readers.threads)
            await executor.execute("BEGIN")
            try:
                # a deferred BEGIN takes its snapshot at the first read: take it now
                await executor.fetch_value("SELECT count(*) FROM sqlite_master")
                yield executor
            finally:
                with contextlib.suppress(Exception):
                    await executor._run(rollback_if_open)

    async def backup(self, path: Path | str) -> None:
        """A consistent copy of the live database at ``path`` (SQLite's online backup API),
        made in a worker thread while the server keeps serving; the copy is mode 0600."""
        target = Path(path)
        make_private_dir(target.parent)
        fd = os.open(target, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        os.close(fd)

        def copy(source: sqlite3.Connection) -> None:
            destination = sqlite3.connect(target)
            try:
                source.backup(destination, pages=1024)
            finally:
                destination.close()

        readers = self._open_readers()
        async with readers.connection() as conn:
            await ThreadExecutor(conn, readers.threads)._run(copy)

    async def _statement(
        self, sql: str, params: Params, change: RowChange | None, rows: bool
    ) -> tuple[list[Row], int]:
        """``write_one``'s statement, committed with the others of the loop's turn.

        The first opens a write transaction (``_LoopWrite``: the lock, ``BEGIN
        IMMEDIATE``) and commits it at the loop's next turn; statements that run
        before then join it. Each statement is atomic on its own (SQLite backs out a
        failed statement, not the transaction), every caller waits for the commit, and a
        statement commits at once when little else is ready to run. A caller
        cancelled while it waits is not answered, but its statement commits with the
        others and its changes are delivered (its own ``after_commit`` callbacks do not
        run), as a cancelled statement on PostgreSQL may have committed.
        """
        loop = asyncio.get_running_loop()
        group, leader = await self._join_group()
        write = group.write
        assert write is not None
        try:
            result = await run_statement_in(write.tx, sql, params, change, rows)
        except BaseException as error:
            if not write.tx.conn.in_transaction:  # the error ended the transaction
                self._commit_group(group, error)
            elif leader and group.commit is None:  # the others of this turn still commit
                group.commit = loop.call_soon(self._commit_group, group)
            raise
        done = loop.create_future()  # answered by the group's commit
        group.waiters.append(done)
        if self._group is group:
            # at once when the statement ended the transaction (a ROLLBACK: the COMMIT
            # then fails for every caller, and nobody joins it after), or when nothing
            # else is ready to run (CPython's queue of ready callbacks; uvloop has none)
            ready = getattr(loop, "_ready", None)
            others = 1 if ready is None else len(ready)
            if not others or not write.tx.conn.in_transaction:
                self._commit_group(group)
            elif leader:
                # writers would rarely come with few callbacks ready (GROUP_MIN_READY),
                # no writer that waited for the lock still to join and the last group
                # alone: commit now; else let this turn's statements join and commit here
                # (the leader goes on at once: a commit callback would cost it a turn)
                if (
                    ready is not None
                    and others < GROUP_MIN_READY
                    and not group.coming
                    and self._last_group_size < 2
                ):
                    self._commit_group(group)
                else:
                    try:
                        await asyncio.sleep(0)
                    finally:
                        self._commit_group(group)
        await done
        return result

    async def _join_group(self) -> tuple[_Group, bool]:
        """The open group to run a statement in, and whether this caller leads it.

        Writers that arrive while the first one waits for the write lock wait for its
        transaction together, so each hand-over of the lock serves them all: queued
        one by one, every writer would wait for every one before it, one turn each.
        """
        while True:
            group = self._group
            if group is None:
                group = self._group = _Group()
                write = _LoopWrite(self)
                try:
                    await write.__aenter__()
                except BaseException as error:
                    self._group = None
                    if not isinstance(error, asyncio.CancelledError):
                        group.failed = error  # the others waiting get the same answer
                    group.opened.set()
                    raise
                group.write = write
                group.opened.set()
                return group, True
            if group.write is None:  # its first writer waits for the lock
                group.coming += 1
                try:
                    await group.opened.wait()
                finally:
                    group.coming -= 1
                if group.failed is not None:
                    raise group.failed
                if self._group is not group:
                    continue  # it closed before this caller ran, or never opened
            self.grouped_writes += 1
            return group, False

    def _commit_group(self, group: _Group, error: BaseException | None = None) -> None:
        """Commit a group (or, after ``error`` ended its transaction, release it) and
        answer its callers."""
        if self._group is not group:
            return  # already committed
        self._group = None
        self._last_group_size = len(group.waiters)
        if group.commit is not None:
            group.commit.cancel()
        try:
            assert group.write is not None
            group.write.finish(failed=error is not None)
        except BaseException as failure:
            error = failure
        for waiter in group.waiters:
            if waiter.done():  # its caller was cancelled: its statement commits all the same
                continue
            if error is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(error)

    def transaction(
        self, *, heavy: bool = False
    ) -> AbstractAsyncContextManager[LoopTransaction | ThreadTransaction]:
        """A write transaction: committed when the block ends, rolled back on error.

        ``heavy``: statements run in a worker thread (long batches, sweeps, migrations).
        """
        if heavy:
            return self._heavy_transaction()
        return _LoopWrite(self)

    async def _begin_in_thread(self, conn: sqlite3.Connection) -> None:
        """Another process holds the write lock: wait for it in a thread, not on the loop."""

        def begin() -> None:
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
            try:
                conn.execute("BEGIN IMMEDIATE")
            finally:
                conn.execute("PRAGMA busy_timeout=0")

        future = asyncio.get_running_loop().run_in_executor(self._open_readers().threads, begin)
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError:
            with contextlib.suppress(BaseException):
                await future
            if conn.in_transaction:
                conn.rollback()
            raise
        except sqlite3.Error as error:
            raise_typed(error)

    @asynccontextmanager
    async def _heavy_transaction(self) -> AsyncIterator[ThreadTransaction]:
        readers = self._open_readers()
        async with self._write_lock:
            if self._heavy_writer is None:
                self._heavy_writer = self.connect()
            tx = ThreadTransaction(self._heavy_writer, readers.threads)
            await tx.execute("BEGIN IMMEDIATE")
            self.writes_in_thread += 1
            try:
                yield tx
                pending = tx.pending
                changes: list[Change] = await tx._run(insert_changes, pending, self.origin)
                await tx.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(Exception):
                    await tx._run(rollback_if_open)
                raise
        self.published(changes, tx.committed)

    def _writer_connection(self) -> sqlite3.Connection:
        if self._writer is None:
            self._open_readers()
            self._writer = self.connect_now()
            self._writer.execute("PRAGMA wal_autocheckpoint=0")
        return self._writer

    def _after_commit(self) -> None:
        self._commits_since_checkpoint += 1
        if self._checkpoint is not None:
            return
        commits = self._commits_since_checkpoint
        due = commits >= CHECKPOINT_COMMITS
        if not due and commits % CHECKPOINT_SIZE_CHECK == 0:
            due = self._wal_bytes() - self._wal_bytes_at_checkpoint >= CHECKPOINT_WAL_GROWTH
        if due:
            self._commits_since_checkpoint = 0
            self._wal_bytes_at_checkpoint = self._wal_bytes()
            self._checkpoint = asyncio.get_running_loop().create_task(self._run_checkpoint())

    def _wal_bytes(self) -> int:
        try:
            return self._wal_path.stat().st_size
        except OSError:
            return 0

    async def _run_checkpoint(self) -> None:
        try:
            frames, copied = await self.checkpoint()
            self.checkpoints += 1
            if copied == frames and frames * self._frame_bytes >= self.wal_restart_bytes:
                await self.checkpoint(hold_writers=True)
        except Exception:
            log.warning("WAL checkpoint failed; retried after more commits", exc_info=True)
        finally:
            self._checkpoint = None

    async def checkpoint(self, *, hold_writers: bool = False) -> tuple[int, int]:
        """Copy the WAL into the database now (PASSIVE: waits for no reader), in a thread;
        returns the frames in the WAL and those copied (-1 when another checkpoint ran).

        The next write after a complete checkpoint restarts the WAL (and cuts the file
        back to ``journal_size_limit``). ``hold_writers``: this process's writers wait
        until it is done, so that it can be complete under steady writes.
        """
        held = self._write_lock if hold_writers else contextlib.nullcontext()
        async with self.read() as reader, held:  # a reader first: never wait for one held
            row = await reader._run(run_fetch_one, "PRAGMA wal_checkpoint(PASSIVE)", ())
        # (1, -1, -1): another connection's checkpoint was running, nothing was copied
        frames, copied = (row[1], row[2]) if row is not None and row[0] == 0 else (0, -1)
        if hold_writers and copied == frames:
            self.wal_restarts += 1
        return frames, copied

    @property
    def _frame_bytes(self) -> int:
        if self._page_size == 0:
            self._page_size = run_fetch_value(self._point_reader(), "PRAGMA page_size", ())
        return self._page_size + WAL_FRAME_HEADER

    async def lookup(
        self,
        fn: Callable[Concatenate[Executor, P], Awaitable[T]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """``await fn(executor, *args, **kwargs)``: a few point reads on one connection."""
        return await fn(LoopExecutor(self._reader or self._loop_reader()), *args, **kwargs)

    async def migrate(self, plugin: str, migrations: Sequence[Migration]) -> list[int]:
        """Apply a plugin's pending steps in one transaction (BEGIN IMMEDIATE: once)."""
        async with self.transaction(heavy=True) as tx:
            return await apply_migrations(tx, plugin, migrations, self.dialect, _run_script)

    async def ping(self) -> bool:
        """``SELECT 1`` on the loop-side reader: never waits for the reader pool."""
        try:
            await self.fetch_value("SELECT 1")
        except Exception:
            return False
        return True

    def stats(self) -> dict[str, Any]:
        return {
            "dialect": self.dialect,
            "pool_size": self.pool_size,
            "in_use": self._readers.in_use if self._readers else 0,
            "connections_opened": self.opened,
            "acquire_waits": self._readers.waits if self._readers else 0,
            "writer_waiting": self._write_lock.locked(),
            "writes_on_loop": self.writes_on_loop,
            "reads_on_writer": self.reads_on_writer,
            "reads_on_loop": self.loop_reads.on_loop,
            "reads_over_budget": self.loop_reads.over_budget,
            "writes_in_thread": self.writes_in_thread,
            "grouped_writes": self.grouped_writes,
            "checkpoints": self.checkpoints,
            "wal_restarts": self.wal_restarts,
            "changes_delivered": self.changes.delivered,
            "changes_gaps": self.changes.gaps,
        }


def split_statements(script: str) -> Iterator[str]:
    """Split an SQL script into complete statements (triggers with inner ``;`` stay whole).

    ``executescript`` would commit the surrounding transaction, so migrations run
    statement by statement instead.
    """
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statement = pending.strip()
            if statement.strip(";").strip():
                yield statement
            pending = ""
    if pending.strip():
        yield pending.strip()


async def _run_script(tx: Any, script: str) -> None:
    for statement in split_statements(script):
        await tx.execute(statement)


def inspect_file(path: Path) -> dict[str, Any]:
    """A read-only look at a database file for ``scs check``: whether it exists, its
    integrity (``PRAGMA quick_check``) and the migrations applied per plugin. Opens it
    with ``mode=ro``: nothing is created, migrated or written."""
    if not path.exists():
        return {"exists": False, "status": "missing (created by the first scs serve)"}
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as error:
        return {"exists": True, "status": f"cannot open: {error}"}
    try:
        row = conn.execute("PRAGMA quick_check").fetchone()
        try:
            rows = conn.execute("SELECT plugin, version FROM scs_migrations").fetchall()
        except sqlite3.OperationalError:
            rows = []
    except sqlite3.Error as error:
        return {"exists": True, "status": f"cannot read: {error}"}
    finally:
        conn.close()
    applied: dict[str, list[int]] = {}
    for plugin, version in rows:
        applied.setdefault(str(plugin), []).append(int(version))
    return {
        "exists": True,
        "status": str(row[0]) if row is not None else "no answer",
        "applied": {name: sorted(versions) for name, versions in applied.items()},
    }
