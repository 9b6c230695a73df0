"""SQLite connections through the data API: statement runners, executors, reader pool.

The runners are plain functions of a ``sqlite3.Connection``, shared by the executor
that runs them on the event loop (``LoopExecutor``, short work), the one that runs
them in a worker thread (``ThreadExecutor``, one hop per statement) and ``db.read()``'s,
which tries each query on the loop first (``LoopFirstExecutor``). The engine itself
is ``scs_server.storage.sqlite``.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, NoReturn

from scs_server.storage.api import Change, Row, column_index, make_rows
from scs_server.storage.engine import Emitting
from scs_server.storage.errors import IntegrityError, busy_error, constraint_kind

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Sequence

    from scs_server.storage.api import Params
    from scs_server.storage.feed import Pending

INSERT_CHANGE = "INSERT INTO scs_changes (topic, payload, origin, at) VALUES (?, ?, ?, ?)"
# A db.read() query runs on the loop while it takes less: a page of get_messages with its
# count is ~0.3 ms on a session of 3,000 messages, ~1.5 ms at 20,000 (at 0.5 ms, noise
# sent many to the thread: load.py's open loop had p99 29-39 ms inside the server, 2-25
# at 2 ms; bench/README.md)
LOOP_READ_BUDGET_S = 0.002
BUDGET_CHECK_STEPS = 1000  # SQLite VM instructions between two looks at the clock
MAX_SKIPS = 64  # runs an over-budget query text goes straight to a thread, at most


def is_busy(error: BaseException) -> bool:
    text = str(error).lower()
    return isinstance(error, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


def is_interrupted(error: BaseException) -> bool:
    return isinstance(error, sqlite3.OperationalError) and str(error) == "interrupted"


def raise_typed(error: sqlite3.Error) -> NoReturn:
    """Raise the data API's typed error for an SQLite one (the original when it has none)."""
    if isinstance(error, sqlite3.IntegrityError):
        raise IntegrityError(constraint_kind(str(error)), error) from error
    if is_busy(error):
        raise busy_error(error) from error
    raise error


# The statement runners, shared by the loop-side and the threaded executors.
def run_execute(conn: sqlite3.Connection, sql: str, params: Params) -> int:
    cursor = conn.execute(sql, params)
    count = cursor.rowcount
    cursor.close()
    return count


def run_execute_many(conn: sqlite3.Connection, sql: str, rows: Sequence[Params]) -> int:
    cursor = conn.executemany(sql, rows)
    count = cursor.rowcount
    cursor.close()
    return count


def run_fetch_all(conn: sqlite3.Connection, sql: str, params: Params) -> list[Row]:
    cursor = conn.execute(sql, params)
    values = cursor.fetchall()
    names = tuple([d[0] for d in cursor.description or ()])
    return make_rows(names, values)


def run_fetch_one(conn: sqlite3.Connection, sql: str, params: Params) -> Row | None:
    cursor = conn.execute(sql, params)
    values = cursor.fetchone()
    names = tuple([d[0] for d in cursor.description or ()])
    cursor.close()  # resets the statement: no read snapshot is left open
    return None if values is None else Row(values, column_index(names))


def run_fetch_value(conn: sqlite3.Connection, sql: str, params: Params) -> Any:
    cursor = conn.execute(sql, params)
    values = cursor.fetchone()
    cursor.close()
    return None if values is None else values[0]


class LoopExecutor:
    """Statements run synchronously on the event loop (only for short work)."""

    __slots__ = ("conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        try:
            return run_execute(self.conn, sql, params)
        except sqlite3.Error as error:
            raise_typed(error)

    async def execute_many(self, sql: str, rows: Sequence[Params]) -> int:
        try:
            return run_execute_many(self.conn, sql, rows)
        except sqlite3.Error as error:
            raise_typed(error)

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        try:
            return run_fetch_one(self.conn, sql, params)
        except sqlite3.Error as error:
            raise_typed(error)

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        try:
            return run_fetch_all(self.conn, sql, params)
        except sqlite3.Error as error:
            raise_typed(error)

    async def fetch_value(self, sql: str, params: Params = ()) -> Any:
        try:
            return run_fetch_value(self.conn, sql, params)
        except sqlite3.Error as error:
            raise_typed(error)


class ThreadExecutor:
    """Statements run in a worker thread, one hop each (scans, long batches)."""

    __slots__ = ("conn", "pool")

    def __init__(self, conn: sqlite3.Connection, pool: ThreadPoolExecutor) -> None:
        self.conn = conn
        self.pool = pool

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        future = asyncio.get_running_loop().run_in_executor(self.pool, fn, self.conn, *args)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            # the thread still uses the connection: lend it on only once it is done
            with contextlib.suppress(BaseException):
                await future
            raise
        except sqlite3.Error as error:
            raise_typed(error)

    async def execute(self, sql: str, params: Params = ()) -> int:
        result: int = await self._run(run_execute, sql, params)
        return result

    async def execute_many(self, sql: str, rows: Sequence[Params]) -> int:
        result: int = await self._run(run_execute_many, sql, rows)
        return result

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        result: Row | None = await self._query(run_fetch_one, sql, params)
        return result

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        result: list[Row] = await self._query(run_fetch_all, sql, params)
        return result

    async def fetch_value(self, sql: str, params: Params = ()) -> Any:
        return await self._query(run_fetch_value, sql, params)

    async def _query(
        self, runner: Callable[[sqlite3.Connection, str, Params], Any], sql: str, params: Params
    ) -> Any:
        """Where the fetches run: in the thread (``LoopFirstExecutor`` tries the loop first)."""
        return await self._run(runner, sql, params)


class LoopReads:
    """What ``LoopFirstExecutor`` learned: queries answered on the loop, queries that ran
    over the budget there, and the query texts that did so lately. Such a text goes
    straight to a thread for its next 1, 2, 4 ... ``MAX_SKIPS`` runs (doubling while it
    keeps running over), then is tried on the loop again: a query's cost depends on its
    parameters (a small session's page, a large one's)."""

    __slots__ = ("_skips", "on_loop", "over_budget")

    def __init__(self) -> None:
        self.on_loop = 0
        self.over_budget = 0
        self._skips: dict[str, list[int]] = {}  # sql -> [runs left to skip, last skip length]

    def worth_trying(self, sql: str) -> bool:
        skip = self._skips.get(sql)
        if skip is None or skip[0] == 0:
            return True
        skip[0] -= 1
        return False

    def fitted(self, sql: str) -> None:
        self.on_loop += 1
        if self._skips:
            self._skips.pop(sql, None)

    def overran(self, sql: str) -> None:
        self.over_budget += 1
        last = self._skips.get(sql)
        length = min(MAX_SKIPS, last[1] * 2) if last else 1
        if last is None and len(self._skips) >= 1024:  # texts built per call: stay bounded
            self._skips.clear()
        self._skips[sql] = [length, length]


class LoopFirstExecutor(ThreadExecutor):
    """``db.read()``'s executor: each query runs on the event loop first, on a loop-side
    connection, and in the worker thread if it runs past ``LOOP_READ_BUDGET_S`` there
    (SQLite interrupts it; a read leaves nothing to undo) or meets a lock.

    A hop costs a short query more than the query itself: under load its answer waits
    for a thread, for the interpreter lock at every row (``sqlite3`` lets go of it around
    each step, and a busy loop keeps it up to a switch interval) and for the loop's next
    turn. A query inside a transaction the block began stays on the block's connection,
    as do ``execute`` and ``execute_many``."""

    __slots__ = ("loop_connection", "reads")

    def __init__(
        self,
        conn: sqlite3.Connection,
        pool: ThreadPoolExecutor,
        loop_connection: Callable[[], sqlite3.Connection],
        reads: LoopReads,
    ) -> None:
        super().__init__(conn, pool)
        self.loop_connection = loop_connection
        self.reads = reads

    async def _query(
        self, runner: Callable[[sqlite3.Connection, str, Params], Any], sql: str, params: Params
    ) -> Any:
        reads = self.reads
        if not self.conn.in_transaction and reads.worth_trying(sql):
            conn = self.loop_connection()
            deadline = time.perf_counter() + LOOP_READ_BUDGET_S
            conn.set_progress_handler(lambda: time.perf_counter() > deadline, BUDGET_CHECK_STEPS)
            try:
                result = runner(conn, sql, params)
            except sqlite3.Error as error:
                if is_interrupted(error):
                    reads.overran(sql)
                elif not is_busy(error):  # busy: the thread waits for the lock instead
                    raise_typed(error)
            else:
                reads.fitted(sql)
                return result
            finally:
                conn.set_progress_handler(None, 0)
        return await self._run(runner, sql, params)


class LoopTransaction(Emitting, LoopExecutor):
    __slots__ = ("committed", "pending")

    def __init__(self, conn: sqlite3.Connection) -> None:
        super().__init__(conn)
        self.pending = []
        self.committed = []


class ThreadTransaction(Emitting, ThreadExecutor):
    __slots__ = ("committed", "pending")

    def __init__(self, conn: sqlite3.Connection, pool: ThreadPoolExecutor) -> None:
        super().__init__(conn, pool)
        self.pending = []
        self.committed = []


def insert_changes(conn: sqlite3.Connection, pending: list[Pending], origin: str) -> list[Change]:
    at = time.time()
    changes = []
    for change in pending:
        cursor = conn.execute(INSERT_CHANGE, (change.topic, change.encoded, origin, at))
        changes.append(Change(cursor.lastrowid or 0, change.topic, change.payload))
    return changes


class ReaderPool:
    """At most ``size`` reader connections, opened on demand, each used by one caller."""

    def __init__(self, connect: Callable[[], sqlite3.Connection], size: int, timeout_s: float):
        self._connect = connect
        self._slots = asyncio.Semaphore(size)
        self._idle: list[sqlite3.Connection] = []
        self._timeout_s = timeout_s
        self.threads = ThreadPoolExecutor(size + 2, thread_name_prefix="scs-sqlite")
        self.waits = 0
        self.in_use = 0

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[sqlite3.Connection]:
        if self._slots.locked():
            self.waits += 1
            try:
                await asyncio.wait_for(self._slots.acquire(), self._timeout_s)
            except TimeoutError:
                raise busy_error(TimeoutError("no reader connection free")) from None
        else:
            await self._slots.acquire()
        try:
            if self._idle:
                conn = self._idle.pop()
            else:  # opening runs PRAGMAs that may wait for a lock: not on the loop
                loop = asyncio.get_running_loop()
                conn = await loop.run_in_executor(self.threads, self._connect)
            self.in_use += 1
            try:
                yield conn
            finally:
                self.in_use -= 1
                if conn.in_transaction:
                    conn.rollback()
                self._idle.append(conn)
        finally:
            self._slots.release()

    def close(self) -> None:
        for conn in self._idle:
            with contextlib.suppress(Exception):
                conn.close()
        self._idle.clear()
        self.threads.shutdown(wait=True)


def rollback_if_open(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.rollback()
