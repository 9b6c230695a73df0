"""The database: WAL-mode SQLite reached four ways, plus migrations.

- ``read()``: an aiosqlite connection from a pool (scs.pool), for queries that scan.
- ``transaction()``: the aiosqlite writer, for multi-step async write transactions.
- ``write(fn)``: a synchronous function run in one write transaction, on the event
  loop itself when SQLite's write lock is free (the common case), in a worker thread
  when another process holds it.
- ``lookup(fn)``: a synchronous indexed read run on the event loop.

Why the last two: a round trip to a connection's thread costs ~55 us of CPU on this
machine (future, queue, thread wake-up, ``call_soon_threadsafe``, GIL hand-off), while
a whole ``BEGIN IMMEDIATE; INSERT; COMMIT`` in WAL mode costs ~12 us and a point
lookup ~1 us. The hot path of a tool call made four such round trips.

All SQL of the core lives here and in ``scs.auth.store``; plugins keep theirs in
their own store modules and reach the database only through this object.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import aiosqlite

from scs.errors import ErrorCode, ScsError
from scs.files import make_private_dir
from scs.migrations import Migration, split_statements
from scs.pool import ConnectionPool, PoolTimeoutError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Sequence

log = logging.getLogger("scs.db")

T = TypeVar("T")

# The loop-side writer never lets SQLite checkpoint inside a commit (a checkpoint
# fsyncs and would stall the event loop). A PASSIVE checkpoint runs on a pooled
# (threaded) connection instead, after CHECKPOINT_COMMITS loop-side commits (a one-row
# commit writes a few WAL pages: about SQLite's own 1000-page default), or sooner once
# the WAL file has grown by CHECKPOINT_WAL_GROWTH (big rows), checked every
# CHECKPOINT_SIZE_CHECK commits.
CHECKPOINT_COMMITS = 250
CHECKPOINT_WAL_GROWTH = 4 * 1024 * 1024
CHECKPOINT_SIZE_CHECK = 16

MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS scs_migrations (
    plugin TEXT NOT NULL,
    version INTEGER NOT NULL,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (plugin, version)
)
"""


class MigrationError(Exception):
    """A plugin's schema step failed; the database is left as it was."""

    def __init__(self, plugin: str, migration: Migration, cause: BaseException) -> None:
        self.plugin = plugin
        self.migration = migration
        super().__init__(
            f"migration {migration.version} ({migration.name}) of plugin {plugin!r} failed: {cause}"
        )


def busy_error(cause: BaseException | None = None) -> ScsError:
    return ScsError(
        ErrorCode.DATABASE_BUSY,
        "the database is busy (locked by another writer)",
        "retry in a moment; nothing was written",
        retryable=True,
        retry_after=1,
        cause=str(cause) if cause else None,
    )


def is_busy(error: BaseException) -> bool:
    text = str(error).lower()
    return isinstance(error, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


class Database:
    """A pool of SQLite connections with the PRAGMAs every connection needs.

    ``read()`` lends a connection for queries. ``transaction()`` runs a write
    transaction: one writer at a time inside this process (an asyncio lock, so
    writers queue fairly instead of spinning in SQLite's busy handler) and
    ``BEGIN IMMEDIATE`` across processes.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        pool_size: int = 20,
        busy_timeout_ms: int = 5000,
        mmap_size: int = 268_435_456,
        acquire_timeout_s: int = 10,
        journal_size_limit: int = 64 * 1024 * 1024,
    ) -> None:
        self.path = Path(path)
        self._wal_path = self.path.with_name(self.path.name + "-wal")
        self.pool_size = pool_size
        self.busy_timeout_ms = busy_timeout_ms
        self.mmap_size = mmap_size
        self.acquire_timeout_s = acquire_timeout_s
        self.journal_size_limit = journal_size_limit
        self._pool: ConnectionPool | None = None
        self._write_lock = asyncio.Lock()
        self._writer: aiosqlite.Connection | None = None
        self._loop_writer: sqlite3.Connection | None = None
        self._loop_reader: sqlite3.Connection | None = None
        self._commits_since_checkpoint = 0
        self._wal_bytes_at_checkpoint = 0
        self._checkpoint: asyncio.Task[None] | None = None
        self.in_use = 0
        self.opened = 0
        self.waits = 0
        self.writes_on_loop = 0
        self.writes_in_thread = 0
        self.checkpoints = 0

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
            # without it a WAL that once grew (big rows, a long reader) keeps its size
            # for good: SQLite reuses the file instead of shrinking it after a checkpoint
            f"PRAGMA journal_size_limit={int(self.journal_size_limit)}",
        )

    async def _connect(self) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        for pragma in self.pragmas:
            await conn.execute(pragma)
        self.opened += 1
        return conn

    def _connect_now(self) -> sqlite3.Connection:
        """A plain connection for the loop: no busy wait (a wait would stall the loop)."""
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        for pragma in self.pragmas:
            conn.execute(pragma)
        conn.execute("PRAGMA busy_timeout=0")
        self.opened += 1
        return conn

    async def open(self) -> None:
        """Create the file (and its folder) and the pool.

        A new folder is made 0700 and a new database file 0600: it holds private
        messages (SQLite gives the -wal and -shm files the database file's mode).
        """
        make_private_dir(self.path.parent)
        if not self.path.exists():
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        self._pool = ConnectionPool(self._connect, self.pool_size, self.acquire_timeout_s)
        async with self.read() as conn:
            await conn.execute(MIGRATIONS_TABLE)

    async def close(self) -> None:
        """Run ``PRAGMA optimize`` and close every connection."""
        if self._pool is None:
            return
        try:
            async with self.read() as conn:
                await conn.execute("PRAGMA optimize")
        except Exception:  # closing must not fail because optimize did
            log.warning("PRAGMA optimize failed on shutdown", exc_info=True)
        if self._checkpoint is not None:
            with contextlib.suppress(Exception):
                await self._checkpoint
        async with self._write_lock:  # a write deferred to a thread finishes first
            for plain in (self._loop_writer, self._loop_reader):
                if plain is not None:
                    with contextlib.suppress(Exception):
                        plain.close()
            self._loop_writer = self._loop_reader = None
        if self._writer is not None:
            with contextlib.suppress(Exception):
                await self._writer.close()
            self._writer = None
        await self._pool.close()
        self._pool = None

    @asynccontextmanager
    async def read(self) -> AsyncIterator[aiosqlite.Connection]:
        """Lend a connection for reads (autocommit; no transaction is held)."""
        if self._pool is None:
            raise RuntimeError("database is not open")
        pool = self._pool
        started = time.perf_counter()
        try:
            conn = await pool.acquire()
        except PoolTimeoutError as error:
            raise busy_error(error) from None
        if time.perf_counter() - started > 0.001:
            self.waits += 1
        self.in_use += 1
        try:
            yield conn
        except sqlite3.OperationalError as error:
            if is_busy(error):
                raise busy_error(error) from error
            raise
        finally:
            self.in_use -= 1
            await pool.release(conn)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """A write transaction: committed when the block ends, rolled back on error.

        Writers use one dedicated connection, not the pool: under the write lock every
        await costs a turn of a busy event loop, and the pool's check-out (``SELECT 1``)
        and check-in (``ROLLBACK``) would add two such turns to every write.
        """
        async with self._write_lock:
            conn = await self._writer_connection()
            try:
                await conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as error:
                if is_busy(error):
                    raise busy_error(error) from error
                raise
            self.in_use += 1
            try:
                try:
                    yield conn
                except BaseException:
                    await self._rollback(conn)
                    raise
                try:
                    await conn.commit()
                except sqlite3.OperationalError as error:
                    await self._rollback(conn)
                    if is_busy(error):
                        raise busy_error(error) from error
                    raise
            finally:
                self.in_use -= 1

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(conn, *args)`` in one write transaction and commit; roll back if it raises.

        ``fn`` is synchronous and gets a ``sqlite3.Connection``: it must only run a few
        statements (it usually runs on the event loop). When another process holds the
        write lock it runs in a worker thread instead, waiting up to ``busy_timeout``
        before ``DATABASE_BUSY``.
        """
        async with self._write_lock:
            conn = self._loop_writer_connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as error:
                if not is_busy(error):
                    raise
                return await self._write_in_thread(conn, fn, args)
            self.writes_on_loop += 1
            result = self._finish(conn, fn, args)
        self._after_commit()
        return result

    def lookup(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(conn, *args)``, a read of a few rows through an index, right now.

        No thread hop: use it for point lookups only (anything that scans belongs in
        ``read()``). WAL readers do not wait for writers; in the rare case SQLite
        reports the file busy (recovery by another process) this raises DATABASE_BUSY.
        """
        conn = self._loop_reader
        if conn is None:
            if self._pool is None:
                raise RuntimeError("database is not open")
            conn = self._loop_reader = self._connect_now()
        try:
            return fn(conn, *args)
        except sqlite3.OperationalError as error:
            if is_busy(error):
                raise busy_error(error) from error
            raise
        finally:
            if conn.in_transaction:
                conn.rollback()

    def data_version(self) -> int | None:
        """SQLite's change marker as this process's ``write`` connection sees it.

        It moves on commits by any other connection (other processes, ``transaction()``,
        migrations) but not on ``write`` calls, which callers announce with events
        (``App.write``). None (count it as a change) while a writer holds the write lock
        (a thread may be using the connection) or when it cannot be read.
        """
        if self._write_lock.locked():
            return None
        try:
            row = self._loop_writer_connection().execute("PRAGMA data_version").fetchone()
        except (sqlite3.Error, RuntimeError):
            return None
        return int(row[0])

    @property
    def writes(self) -> int:
        """``write`` transactions started so far (on the loop and in threads)."""
        return self.writes_on_loop + self.writes_in_thread

    def _loop_writer_connection(self) -> sqlite3.Connection:
        if self._pool is None:
            raise RuntimeError("database is not open")
        if self._loop_writer is None:
            self._loop_writer = self._connect_now()
            self._loop_writer.execute("PRAGMA wal_autocheckpoint=0")
        return self._loop_writer

    @staticmethod
    def _finish(conn: sqlite3.Connection, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        """Run ``fn`` inside the open transaction, then commit (or roll back)."""
        try:
            result = fn(conn, *args)
            conn.execute("COMMIT")
        except BaseException as error:
            if conn.in_transaction:
                conn.rollback()
            if isinstance(error, sqlite3.OperationalError) and is_busy(error):
                raise busy_error(error) from error
            raise
        return result

    async def _write_in_thread(
        self, conn: sqlite3.Connection, fn: Callable[..., T], args: tuple[Any, ...]
    ) -> T:
        """The write lock is held elsewhere: wait for it in a thread, not on the loop."""

        def blocking() -> T:
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
            try:
                try:
                    conn.execute("BEGIN IMMEDIATE")
                except sqlite3.OperationalError as error:
                    if is_busy(error):
                        raise busy_error(error) from error
                    raise
                return self._finish(conn, fn, args)
            finally:
                conn.execute("PRAGMA busy_timeout=0")

        self.writes_in_thread += 1
        future = asyncio.get_running_loop().run_in_executor(None, blocking)
        try:
            result = await asyncio.shield(future)
        except asyncio.CancelledError:
            # the thread still uses the connection: keep the write lock until it is done
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(asyncio.shield(future), self.busy_timeout_ms / 1000 + 5)
            raise
        self._after_commit()
        return result

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

    async def checkpoint(self) -> None:
        """Copy the WAL into the database now (PASSIVE: waits for nobody).

        The next write after a complete checkpoint restarts the WAL and truncates the
        file to ``journal_size_limit``.
        """
        async with self.read() as conn:
            await conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        self.checkpoints += 1

    async def _run_checkpoint(self) -> None:
        try:
            await self.checkpoint()
        except Exception:
            log.warning("WAL checkpoint failed; retried after more commits", exc_info=True)
        finally:
            self._checkpoint = None

    async def _writer_connection(self) -> aiosqlite.Connection:
        if self._pool is None:
            raise RuntimeError("database is not open")
        if self._writer is None:
            self._writer = await self._connect()
        return self._writer

    async def _rollback(self, conn: aiosqlite.Connection) -> None:
        """Roll back; a writer connection that cannot even do that is replaced."""
        try:
            await conn.rollback()
        except Exception:
            log.warning("rollback failed; reopening the writer connection", exc_info=True)
            self._writer = None
            with contextlib.suppress(Exception):
                await conn.close()

    async def applied_versions(self, plugin: str) -> set[int]:
        async with self.read() as conn:
            cursor = await conn.execute(
                "SELECT version FROM scs_migrations WHERE plugin = ?", (plugin,)
            )
            return {row[0] for row in await cursor.fetchall()}

    async def migrate(self, plugin: str, migrations: Sequence[Migration]) -> list[int]:
        """Apply a plugin's pending steps in one transaction; return the versions applied."""
        done = await self.applied_versions(plugin)
        pending = sorted((m for m in migrations if m.version not in done), key=lambda m: m.version)
        if not pending:
            return []
        current: Migration = pending[0]
        try:
            async with self.transaction() as conn:
                for current in pending:
                    for statement in split_statements(current.sql):
                        await conn.execute(statement)
                    if current.fn is not None:
                        await current.fn(conn)
                    await conn.execute(
                        "INSERT INTO scs_migrations (plugin, version, name) VALUES (?, ?, ?)",
                        (plugin, current.version, current.name),
                    )
        except Exception as error:
            raise MigrationError(plugin, current, error) from error
        return [m.version for m in pending]

    async def ping(self) -> bool:
        try:
            async with self.read() as conn:
                await conn.execute("SELECT 1")
        except Exception:
            return False
        return True

    def stats(self) -> dict[str, Any]:
        return {
            "pool_size": self.pool_size,
            "in_use": self.in_use,
            "connections_opened": self.opened,
            "acquire_waits": self.waits,
            "writer_waiting": self._write_lock.locked(),
            "writes_on_loop": self.writes_on_loop,
            "writes_in_thread": self.writes_in_thread,
            "checkpoints": self.checkpoints,
        }
