"""The PostgreSQL engine: psycopg 3 and its AsyncConnectionPool.

Every call borrows a pooled connection (autocommit; health-checked on borrow, so a
connection broken by a server restart is replaced by itself). An unreachable server is
``DATABASE_UNAVAILABLE`` (retryable); service resumes when the pool reconnects.

The change feed: ``scs_emit()`` takes a transaction-scoped advisory lock, inserts the
change and ``NOTIFY``\\ s it, so ``seq`` order is commit order across replicas and a
listener that sees a gap (or reconnects) reads ``seq > last`` and misses nothing. The
notification carries the whole change when it fits, so a listener usually needs no read.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
import weakref
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Concatenate, Literal

import psycopg
import psycopg.errors
from psycopg.pq import TransactionStatus
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from scs_server.storage import pg_direct
from scs_server.storage.api import Change, P, Row, RowChange, T, column_index, make_rows
from scs_server.storage.engine import Emitting, Engine
from scs_server.storage.errors import IntegrityError, busy_error, constraint_kind, unavailable_error
from scs_server.storage.feed import (
    CATCH_UP_LIMIT,
    CATCH_UP_SQL,
    LAST_SEQ_SQL,
    Feed,
    Pruner,
    decode_change,
    encode_payload,
)
from scs_server.storage.migrate import apply_migrations

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence

    from scs_server.migrations import Migration
    from scs_server.storage.api import Executor, Params
    from scs_server.storage.pg_direct import Result

log = logging.getLogger("scs.storage.postgres")

CHANNEL = "scs_changes"
MIGRATION_LOCK = 0x5C5_0001  # pg_advisory_xact_lock keys: one for migrations,
CHANGES_LOCK = 0x5C5_0002  # one that orders the change feed's commits
EMIT_SQL = "SELECT scs_emit(?, ?, ?)"
CHECK_IDLE_S = 1.0  # a pooled connection idle this long is health-checked on borrow
NOTIFY_LIMIT = 7900  # PostgreSQL refuses NOTIFY payloads of 8000 bytes and more
OPEN_TIMEOUT_S = 30.0  # the first connection at start-up (see PostgresDatabase.open)
PING_TIMEOUT_S = 2.0  # a liveness probe that takes longer says "unreachable"

BOOTSTRAP = f"""
CREATE TABLE IF NOT EXISTS scs_migrations (
    plugin TEXT NOT NULL,
    version INTEGER NOT NULL,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL
        DEFAULT to_char(now() AT TIME ZONE 'utc', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    PRIMARY KEY (plugin, version)
);
CREATE TABLE IF NOT EXISTS scs_changes (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic TEXT NOT NULL,
    payload TEXT,
    origin TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL
);
CREATE OR REPLACE FUNCTION scs_emit(p_topic TEXT, p_payload TEXT, p_origin TEXT)
RETURNS BIGINT LANGUAGE plpgsql AS $fn$
DECLARE
    new_seq BIGINT;
    note TEXT;
BEGIN
    PERFORM pg_advisory_xact_lock({CHANGES_LOCK});
    INSERT INTO scs_changes (topic, payload, origin, at)
    VALUES (p_topic, p_payload, p_origin, extract(epoch FROM clock_timestamp()))
    RETURNING seq INTO new_seq;
    note := new_seq::text || ' ' || p_origin || ' ' || p_topic;
    IF octet_length(note) + octet_length(coalesce(p_payload, '')) < {NOTIFY_LIMIT} THEN
        note := note || ' ' || coalesce(p_payload, '');
    END IF;
    PERFORM pg_notify('{CHANNEL}', note);
    RETURN new_seq;
END
$fn$;
"""


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """Raise the data API's typed errors for psycopg's."""
    try:
        yield
    except psycopg.errors.IntegrityError as error:
        raise IntegrityError(constraint_kind(str(error)), error) from error
    except (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected) as error:
        raise busy_error(error) from error
    except psycopg.errors.LockNotAvailable as error:
        raise busy_error(error) from error
    except (PoolTimeout, psycopg.OperationalError, psycopg.InterfaceError) as error:
        raise unavailable_error(error) from error


class PgExecutor:
    """Statements on one borrowed connection, sent through libpq (``pg_direct``)."""

    __slots__ = ("conn",)

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn

    def _with_begin(self, statements: list[tuple[str, Params]]) -> list[tuple[str, Params]]:
        """``statements`` with whatever must travel ahead of them (nothing here)."""
        return statements

    async def _query(self, sql: str, params: Params, limit: int | None = None) -> Result:
        """``sql``'s outcome, its rows loaded up to ``limit``."""
        statements = self._with_begin([(sql, params)])
        if len(statements) == 1:
            return await pg_direct.run(self.conn, sql, params, limit)
        return (await pg_direct.run_all(self.conn, statements, limit))[-1]

    async def execute(self, sql: str, params: Params = ()) -> int:
        with translated():
            return (await self._query(sql, params, 0)).rowcount

    async def execute_many(self, sql: str, rows: Sequence[Params]) -> int:
        """The rows in one round trip; the rows they affected."""
        with translated():
            statements = self._with_begin([(sql, row) for row in rows])
            return sum(r.rowcount for r in await pg_direct.run_all(self.conn, statements))

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        with translated():
            result = await self._query(sql, params, 1)
            return Row(result.values[0], column_index(result.names)) if result.values else None

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        with translated():
            result = await self._query(sql, params)
            return make_rows(result.names, result.values)

    async def fetch_value(self, sql: str, params: Params = ()) -> Any:
        with translated():
            result = await self._query(sql, params, 1)
            return result.values[0][0] if result.values else None


class PgTransaction(Emitting, PgExecutor):
    """A write transaction whose ``BEGIN`` travels with its first statement (one round
    trip for both); one that runs no statement and emits nothing sends
    nothing at all."""

    __slots__ = ("begun", "committed", "pending")

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        super().__init__(conn)
        self.pending = []
        self.committed = []
        self.begun = False

    def _with_begin(self, statements: list[tuple[str, Params]]) -> list[tuple[str, Params]]:
        """``BEGIN`` ahead of the transaction's first statements, in their round trip."""
        if self.begun:
            return statements
        self.begun = True  # even if they fail: the transaction must be rolled back
        return [("BEGIN", ()), *statements]

    async def begin(self) -> None:
        """Send ``BEGIN`` now if no statement has (for work on ``conn`` itself)."""
        if not self.begun:
            with translated():
                await pg_direct.run_all(self.conn, self._with_begin([]))


class PgListener:
    """Other replicas' changes: LISTEN on a connection of its own (not from the pool)."""

    def __init__(self, db: PostgresDatabase, feed: Feed) -> None:
        self.db = db
        self.feed = feed
        self.conn: psycopg.AsyncConnection[Any] | None = None
        self.reconnects = 0
        self._listening = False  # caught up on the current connection (until it is closed)
        self.live = False  # caught up on a connection not known to have failed
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        self.feed.last_seq = int(await self.db.fetch_value(LAST_SEQ_SQL))
        self._task = asyncio.get_running_loop().create_task(self._run())
        try:
            await asyncio.wait_for(self._ready.wait(), self.db.acquire_timeout_s)
        except TimeoutError:
            await self.stop()
            raise unavailable_error(TimeoutError("the change listener could not connect")) from None

    async def _run(self) -> None:
        delay = 0.05
        while True:
            try:
                self.conn = await psycopg.AsyncConnection.connect(
                    self.db.url, autocommit=True, connect_timeout=5
                )
                await self.conn.execute(f"LISTEN {CHANNEL}")
                await self._listen(self.conn)
            except (psycopg.Error, OSError) as error:
                log.info("change listener lost its connection (%s); reconnecting", error)
            except Exception as error:  # DATABASE_UNAVAILABLE from a catch-up read
                log.info("change listener could not catch up (%s); retrying", error)
            finally:
                if self.conn is not None:
                    with contextlib.suppress(Exception):
                        await self.conn.close()
                    self.conn = None
            if self._listening:  # it had worked: the first retry comes soon
                delay, self._listening = 0.05, False
            self.reconnects += 1
            await asyncio.sleep(delay)  # back off while the server is away (bounded)
            delay = min(delay * 2, 2.0)

    async def _listen(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Catch up, then deliver notifications as they arrive, until the connection fails.

        One reader on the socket for the connection's life, draining every notification
        libpq has at each wake-up: psycopg's ``notifies()`` registers and removes a
        reader, a future and a timer at every wake-up, a cost each replica paid for
        every change of every replica, its own included (bench/README.md, call_profile).
        """
        pgconn = conn.pgconn
        encoding = conn.info.encoding
        readable = asyncio.Event()
        loop = asyncio.get_running_loop()
        fd = pgconn.socket
        loop.add_reader(fd, readable.set)
        try:
            await self.catch_up()  # whatever was committed while we were away
            self._listening = self.live = True
            self._ready.set()
            while True:
                pgconn.consume_input()  # a broken connection raises OperationalError
                while (note := pgconn.notifies()) is not None:
                    await self._on_notify(note.extra.decode(encoding))
                await readable.wait()
                readable.clear()
        finally:
            self.live = False
            loop.remove_reader(fd)

    async def _on_notify(self, note: str) -> None:
        parts = note.split(" ", 3)
        seq, origin = int(parts[0]), parts[1]
        if seq <= self.feed.last_seq:
            return
        if seq != self.feed.last_seq + 1 or len(parts) < 4:
            await self.catch_up()  # a gap, or a change too large for the notification
            return
        self.feed.last_seq = seq
        if origin != self.db.origin:  # this process delivered its own at commit
            self.feed.deliver((decode_change(seq, parts[2], parts[3]),))

    async def catch_up(self) -> None:
        """Read and deliver ``seq > last`` (a gap first if a prune took some unread)."""
        feed = self.feed
        while feed.take(
            await self.db.fetch_all(CATCH_UP_SQL, (feed.last_seq, CATCH_UP_LIMIT)), self.db.origin
        ):
            pass

    def poll(self) -> None:
        """Nothing to do: NOTIFY pushes other replicas' changes (~1-2 ms p50 after commit)."""

    async def stop(self) -> None:
        self.live = False
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class PostgresDatabase(Engine):
    """A PostgreSQL database through the data API (see the module docstring)."""

    dialect: Literal["postgresql"] = "postgresql"

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 20,
        pool_min_size: int = 1,
        acquire_timeout_s: float = 10,
        changes_retention_s: float = 3600,
    ) -> None:
        self.url = url
        self.pool_size = pool_size
        self.acquire_timeout_s = acquire_timeout_s
        self.in_use = 0
        self.origin = uuid.uuid4().hex
        self.changes = Feed(lambda feed: PgListener(self, feed), self.fetch_all)
        self._pruner = Pruner(changes_retention_s, self.execute)
        self._probe: psycopg.AsyncConnection[Any] | None = None  # ping's own connection
        self._probe_lock = asyncio.Lock()
        self._pool = AsyncConnectionPool(
            url,
            min_size=min(pool_min_size, pool_size),
            max_size=pool_size,
            open=False,
            timeout=acquire_timeout_s,
            check=self._check,
            # prepared statements are pg_direct's (see there why not psycopg's too)
            kwargs={"autocommit": True, "prepare_threshold": None},
            name="scs",
        )
        self._opened = False
        self._last_used: weakref.WeakKeyDictionary[psycopg.AsyncConnection[Any], float] = (
            weakref.WeakKeyDictionary()
        )

    async def _check(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """The pool's health check, only for connections idle a while.

        A check is a round trip: on every borrow it doubled the cost of a point read
        (bench/storage_api.py). A connection used less than CHECK_IDLE_S ago is trusted;
        one that broke anyway fails its call once with DATABASE_UNAVAILABLE and the pool
        drops it on return.
        """
        if time.monotonic() - self._last_used.get(conn, 0.0) >= CHECK_IDLE_S:
            await AsyncConnectionPool.check_connection(conn)

    async def open(self) -> None:
        """Open the pool (not waiting for the server) and create the core's tables.

        The first connection may wait ``OPEN_TIMEOUT_S`` even when calls wait less
        (``acquire_timeout_s``): a loaded host can take seconds to start a backend. A
        failed open closes the pool, whose tasks would otherwise retry for ever.
        """
        await self._pool.open(wait=False)
        self._opened = True
        try:
            async with (
                self._connection(max(OPEN_TIMEOUT_S, self.acquire_timeout_s)) as conn,
                conn.transaction(),
            ):
                await conn.execute(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
                await conn.execute(BOOTSTRAP)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if not self._opened:
            return
        await self.changes.close()
        await self._pruner.close()
        self._opened = False
        await self._close_probe()
        await self._pool.close()

    @asynccontextmanager
    async def _connection(
        self, timeout: float | None = None
    ) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        conn = await self._borrow(timeout)
        try:
            with translated():
                yield conn
        finally:
            await self._give_back(conn)

    async def _borrow(self, timeout: float | None = None) -> psycopg.AsyncConnection[Any]:
        """A pooled connection (waiting at most ``timeout``, else the pool's), without the
        pool's ``connection()`` context manager (the connection's own ``__aexit__`` in it
        costs a locked no-op commit on every call: the connections are autocommit, and
        ``transaction()`` ends its own); give it back with ``_give_back`` in a ``finally``."""
        if not self._opened:
            raise RuntimeError("database is not open")
        with translated():
            conn = await self._pool.getconn(timeout)
        self.in_use += 1
        return conn

    async def _give_back(self, conn: psycopg.AsyncConnection[Any]) -> None:
        # marked here, not in the pool's ``reset`` callback: with one, every return
        # goes through a pool worker task (a queue hop per borrow)
        self._last_used[conn] = time.monotonic()
        self.in_use -= 1
        await self._pool.putconn(conn)  # a broken or mid-query connection is dropped there

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        conn = await self._borrow()
        try:
            return await PgExecutor(conn).fetch_one(sql, params)
        finally:
            await self._give_back(conn)

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        conn = await self._borrow()
        try:
            return await PgExecutor(conn).fetch_all(sql, params)
        finally:
            await self._give_back(conn)

    async def fetch_value(self, sql: str, params: Params = ()) -> Any:
        conn = await self._borrow()
        try:
            return await PgExecutor(conn).fetch_value(sql, params)
        finally:
            await self._give_back(conn)

    @asynccontextmanager
    async def read(self, *, snapshot: bool = False) -> AsyncIterator[PgExecutor]:
        """A pooled connection for reads (autocommit).

        ``snapshot``: one REPEATABLE READ, READ ONLY transaction for the whole block
        (every statement sees the database as it was at the first one).
        """
        async with self._connection() as conn:
            if not snapshot:
                yield PgExecutor(conn)
                return
            with translated():
                async with conn.transaction():
                    await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    executor = PgExecutor(conn)
                    await executor.fetch_value("SELECT 1")
                    yield executor

    async def backup(self, path: object) -> None:
        """Not offered here: PostgreSQL is copied with its own tools."""
        raise NotImplementedError(
            "scs backup copies SQLite files only; for PostgreSQL use pg_dump "
            "(https://www.postgresql.org/docs/current/app-pgdump.html) or scs export"
        )

    @asynccontextmanager
    async def transaction(
        self,
        *,
        heavy: bool = False,  # noqa: ARG002 (nothing runs on the loop here)
    ) -> AsyncIterator[PgTransaction]:
        """A write transaction (``heavy`` changes nothing here: no work runs on the loop).

        BEGIN and COMMIT are sent by hand (the connections are autocommit): BEGIN in one
        pipeline with the first statement (``PgTransaction``), COMMIT in one with the
        change feed's emits (``_commit``). An ``add_message`` is thus three round trips
        where it was four.
        """
        async with self._connection() as conn:
            with translated():
                tx = PgTransaction(conn)
                committing = False
                try:
                    yield tx
                    committing = True
                    changes = await self._commit(tx)
                except BaseException as error:
                    await _rollback(conn)
                    if committing and tx.pending:
                        self._maybe_lost(error)
                    raise
        self.published(changes, tx.committed)

    def _maybe_lost(self, error: BaseException) -> None:
        """A commit cut off (cancelled, connection lost) may have happened unseen: its
        changes were then never delivered here (this process's own notifications are
        skipped), so the subscribers get a gap and resynchronise."""
        if isinstance(error, asyncio.CancelledError | psycopg.OperationalError):
            log.info("a commit's outcome is unknown (%r); subscribers resynchronise", error)
            self.changes.gap("uncertain")

    async def _commit(self, tx: PgTransaction) -> list[Change]:
        """COMMIT, with this transaction's changes emitted just before it in one round trip
        (pipeline mode). ``scs_emit`` takes the feed's advisory lock, which every emitting
        commit of every replica waits for: sent separately, it was held across a round trip
        to this process and its busy event loop (add_message at 100 agents on two replicas:
        p50 1.6 s); pipelined, only while the server runs the emits and the commit."""
        conn, pending = tx.conn, tx.pending
        if not pending:
            if tx.begun:
                await pg_direct.run(conn, "COMMIT")
            return []
        emits: list[tuple[str, Params]] = [
            (EMIT_SQL, (c.topic, c.encoded, self.origin)) for c in pending
        ]
        # emits only: BEGIN goes in the same round trip
        results = await pg_direct.run_all(conn, tx._with_begin([*emits, ("COMMIT", ())]))
        emitted = results[len(results) - len(pending) - 1 : -1]
        return [
            Change(result.values[0][0], change.topic, change.payload)
            for change, result in zip(pending, emitted, strict=True)
        ]

    async def _statement(
        self, sql: str, params: Params, change: RowChange | None, rows: bool
    ) -> tuple[list[Row], int]:
        """``write_one``'s statement alone on an autocommit connection, which commits it:
        no BEGIN/COMMIT, no pipeline; the changes are emitted by the statement itself
        (``_emitting``). One round trip where ``write()`` takes two (bench/README.md)."""
        conn = await self._borrow()
        try:
            with translated():
                if change is None:  # a plain statement: the executor's own forms
                    executor = PgExecutor(conn)
                    if not rows:
                        return [], await executor.execute(sql, params)
                    found = await executor.fetch_all(sql, params)
                    return found, len(found)
                try:
                    result = await pg_direct.run(
                        conn,
                        _emitting(sql, change.columns),
                        (*params, change.topic, encode_payload(change.fields), self.origin),
                    )
                except BaseException as error:
                    self._maybe_lost(error)
                    raise
        finally:
            await self._give_back(conn)
        values = result.values
        index = column_index(result.names[:-1])
        found = [Row(value[:-1], index) for value in values]
        changes = [
            Change(value[-1], change.topic, change.payload(row))
            for value, row in zip(values, found, strict=True)
        ]
        self.published(changes, ())
        return found, len(found)

    async def lookup(
        self,
        fn: Callable[Concatenate[Executor, P], Awaitable[T]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """``await fn(executor, *args, **kwargs)``: a few point reads on one connection."""
        conn = await self._borrow()
        try:
            return await fn(PgExecutor(conn), *args, **kwargs)
        finally:
            await self._give_back(conn)

    async def migrate(self, plugin: str, migrations: Sequence[Migration]) -> list[int]:
        """Apply a plugin's pending steps once: an advisory lock orders racing replicas."""
        async with self.transaction() as tx:
            await tx.execute(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
            return await apply_migrations(tx, plugin, migrations, self.dialect, _run_script)

    async def ping(self) -> bool:
        """Whether the server answers ``SELECT 1`` within PING_TIMEOUT_S.

        On a connection of its own (not from the pool): a liveness probe must not queue
        behind pooled work, nor take a connection from it. A failed probe drops the
        connection; the next one reconnects.
        """
        if not self._opened:
            return False
        try:
            async with asyncio.timeout(PING_TIMEOUT_S), self._probe_lock:
                if self._probe is None or self._probe.closed:
                    self._probe = await psycopg.AsyncConnection.connect(
                        self.url, autocommit=True, connect_timeout=int(PING_TIMEOUT_S)
                    )
                await self._probe.execute("SELECT 1")
        except Exception:
            await self._close_probe()
            return False
        return True

    async def _close_probe(self) -> None:
        probe, self._probe = self._probe, None
        if probe is not None:
            with contextlib.suppress(Exception):
                await probe.close()

    def stats(self) -> dict[str, Any]:
        pool = self._pool.get_stats()
        return {
            "dialect": self.dialect,
            "pool_size": self.pool_size,
            "connections_opened": pool.get("connections_num", 0),
            "in_use": self.in_use,
            "acquire_waits": pool.get("requests_waiting", 0),
            "changes_delivered": self.changes.delivered,
            "changes_gaps": self.changes.gaps,
        }


@functools.lru_cache(maxsize=256)
def _emitting(sql: str, columns: tuple[str, ...]) -> str:
    """``sql`` (a data-changing statement with RETURNING) wrapped so that it emits one
    change per returned row itself; the rows come back with the change's seq last. Its
    parameters are followed by the topic, the payload's constant fields (JSON) and the
    origin. ``columns`` are plain lower-case names (``RowChange`` checks them)."""
    pairs = ", ".join(f"'{column}', scs_w.\"{column}\"" for column in columns)
    return (
        f"WITH scs_w AS ({sql}) SELECT scs_w.*, scs_emit(?, "
        f"(CAST(? AS jsonb) || jsonb_build_object({pairs}))::text, ?) AS scs_seq FROM scs_w"
    )


async def _rollback(conn: psycopg.AsyncConnection[Any]) -> None:
    """End a failed or abandoned transaction (a broken connection is dropped by the pool)."""
    if conn.info.transaction_status != TransactionStatus.IDLE:
        with contextlib.suppress(Exception):
            await conn.execute("ROLLBACK")


async def _run_script(tx: PgTransaction, script: str) -> None:
    """A migration script as one simple-protocol call (``$$`` bodies stay whole)."""
    await tx.begin()
    with translated():
        await tx.conn.execute(script.encode())  # bytes: no placeholder parsing
