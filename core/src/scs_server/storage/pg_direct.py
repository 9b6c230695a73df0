"""Statements on a borrowed PostgreSQL connection, sent through libpq directly.

psycopg's cursor costs ~190 µs of CPU a point read here, ~90 of them above libpq: a
cursor object, the query's conversion, the prepared-statement manager and its
generator-driven wait (bench/pg_statement_cpu.py). This sends statements as psycopg
would (its dumpers and loaders, ``psycopg.adapt.Transformer``), prepares each on its
second use on a connection, waits for the socket on the loop itself and reads the
results. Several statements go in one round trip (libpq's pipeline mode).

The pool's connections are opened with psycopg's own preparation off
(``prepare_threshold=None``): psycopg answers a ROLLBACK or a DROP with ``DEALLOCATE
ALL``, which would drop the statements prepared here. Should a prepared statement be
gone or stale anyway (``cached plan must not change result type`` after a migration),
the connection forgets what it prepared and a statement outside a transaction is sent
once more, unprepared.

Only for a connection used by one task at a time outside psycopg's pipeline mode (a
pooled connection, in or out of a transaction): psycopg's connection lock is still
taken, so two statements of one executor run one after the other. A statement cut off
(cancelled) is cancelled on the server and read to its end, as psycopg does; should that
fail, the connection is closed and the pool drops it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import psycopg
import psycopg.errors
from psycopg.adapt import PyFormat, Transformer
from psycopg.pq import ExecStatus, TransactionStatus

from scs_server.storage.sql import to_numbered

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from psycopg.abc import Buffer
    from psycopg.pq.abc import PGconn, PGresult

    from scs_server.storage.api import Params

log = logging.getLogger("scs.storage.postgres")

CANCEL_TIMEOUT_S = 5.0  # a cancelled statement's end, waited for at most this long
PREPARED_MAX = 256  # statements a connection keeps prepared; later ones are sent unprepared
SEEN_MAX = 4096  # statements counted on a connection before the count starts over
_FAILED = (ExecStatus.FATAL_ERROR, ExecStatus.BAD_RESPONSE, ExecStatus.NONFATAL_ERROR)
_STALE = "cached plan must not change result type"

T = TypeVar("T")
Key = tuple[bytes, tuple[int, ...]]  # a statement's SQL and its parameters' types


@dataclass(slots=True)
class Result:
    """A statement's outcome: column names, the rows loaded (all, or the first ``limit``)
    and the rows it affected or returned."""

    names: tuple[str, ...]
    values: list[tuple[Any, ...]]
    rowcount: int


class _Prepared:
    """A connection's prepared statements, and the statements seen once (prepared when
    seen again)."""

    __slots__ = ("names", "seen", "transformer")

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.names: dict[Key, bytes] = {}
        self.seen: set[Key] = set()
        self.transformer = Transformer(conn)


@dataclass(slots=True)
class _Command:
    """One statement as it will be sent: prepared under ``name`` (``prepare``: in this
    round trip) or not (``name`` None)."""

    query: bytes
    values: Sequence[Buffer | None] | None
    types: tuple[int, ...]
    formats: list[Any] | None
    name: bytes | None
    prepare: bool


_connections: weakref.WeakKeyDictionary[psycopg.AsyncConnection[Any], _Prepared] = (
    weakref.WeakKeyDictionary()
)
_names = (f"scs_{n}".encode() for n in itertools.count(1))
_formats: dict[int, list[PyFormat]] = {}


async def run(
    conn: psycopg.AsyncConnection[Any], sql: str, params: Params = (), limit: int | None = None
) -> Result:
    """Run ``sql`` (``?`` placeholders) with ``params`` on ``conn``, its rows loaded up to
    ``limit``; raise psycopg's error for a failed statement, as its cursor would. Without
    parameters the statement goes by the simple protocol, so a script of several
    statements runs whole (the first one's result is returned)."""
    async with conn.lock:
        try:
            return (await _run(conn, ((sql, params),), limit))[0]
        except psycopg.errors.Error as error:
            if not _forgot(conn, error) or conn.pgconn.transaction_status != TransactionStatus.IDLE:
                raise
        return (await _run(conn, ((sql, params),), limit))[0]  # unprepared this time


async def run_all(
    conn: psycopg.AsyncConnection[Any],
    statements: Sequence[tuple[str, Params]],
    limit: int | None = None,
) -> list[Result]:
    """Run ``statements`` in one round trip (each sent with the extended protocol); raise
    the error of the first one that failed (the ones after it did not run)."""
    async with conn.lock:
        try:
            return await _run(conn, statements, limit)
        except psycopg.errors.Error as error:
            _forgot(conn, error)
            raise


def _forgot(conn: psycopg.AsyncConnection[Any], error: psycopg.errors.Error) -> bool:
    """Whether ``error`` says a prepared statement is gone or stale; if so the connection
    forgets every statement it prepared."""
    stale = isinstance(error, psycopg.errors.InvalidSqlStatementName) or (
        isinstance(error, psycopg.errors.FeatureNotSupported) and _STALE in str(error)
    )
    if stale:
        _connections.pop(conn, None)
    return stale


async def _run(
    conn: psycopg.AsyncConnection[Any],
    statements: Sequence[tuple[str, Params]],
    limit: int | None,
) -> list[Result]:
    state = _connections.get(conn)
    if state is None:
        state = _connections[conn] = _Prepared(conn)
    pgconn = conn.pgconn
    if len(statements) == 1 and not statements[0][1]:  # a script: the simple protocol
        pgconn.send_query(to_numbered(statements[0][0]))
        return [_loaded(conn, state, _first(await _received(conn, _results), conn), limit)]
    commands = [_command(state, sql, params) for sql, params in statements]
    if len(commands) == 1 and not commands[0].prepare:
        _send(pgconn, commands[0])
        return [_loaded(conn, state, _first(await _received(conn, _results), conn), limit)]
    pgconn.enter_pipeline_mode()
    try:
        for command in commands:
            _send(pgconn, command)
        pgconn.pipeline_sync()
        sets = await _received(conn, _pipeline_results)
    except BaseException:
        _unprepared(state, commands)  # whether the server has them is unknown
        raise
    finally:
        try:
            pgconn.exit_pipeline_mode()
        except psycopg.OperationalError:  # results still due: the pool drops the connection
            pgconn.finish()
    outcomes: list[PGresult] = []
    failure: PGresult | None = None
    in_order = iter(sets)
    for command in commands:  # a prepare's result set, then its statement's
        if command.prepare:
            prepared = next(in_order)
            if _failed(prepared) is not None:
                _unprepared(state, [command])
            failure = failure or _failed(prepared)
        results = next(in_order)
        failure = failure or _failed(results)
        if results:
            outcomes.append(results[0])
    if failure is not None:
        raise psycopg.errors.error_from_result(failure, encoding=conn.info.encoding)
    return [_loaded(conn, state, result, limit) for result in outcomes]


def _unprepared(state: _Prepared, commands: Sequence[_Command]) -> None:
    """Forget the names of the statements these commands were to prepare."""
    for command in commands:
        if command.prepare:
            state.names.pop((command.query, command.types), None)


def _command(state: _Prepared, sql: str, params: Params) -> _Command:
    """How ``sql`` goes out with ``params`` dumped: prepared if seen before."""
    query = to_numbered(sql)
    if not params:
        return _Command(query, None, (), None, None, prepare=False)
    tx = state.transformer
    count = len(params)
    formats = _formats.get(count) or _formats.setdefault(count, [PyFormat.AUTO] * count)
    values = tx.dump_sequence(params, formats)
    types = tx.types or ()
    key = (query, types)
    name = state.names.get(key)
    if name is not None:
        return _Command(query, values, types, tx.formats, name, prepare=False)
    if key in state.seen and len(state.names) < PREPARED_MAX:
        state.seen.discard(key)
        name = state.names[key] = next(_names)  # the next uses of this round trip take it
        return _Command(query, values, types, tx.formats, name, prepare=True)
    if len(state.seen) >= SEEN_MAX:
        state.seen.clear()
    state.seen.add(key)
    return _Command(query, values, types, tx.formats, None, prepare=False)


def _send(pgconn: PGconn, command: _Command) -> None:
    if command.prepare:
        assert command.name is not None
        pgconn.send_prepare(command.name, command.query, param_types=command.types)
    if command.name is not None:
        pgconn.send_query_prepared(command.name, command.values, param_formats=command.formats)
    else:
        pgconn.send_query_params(
            command.query, command.values, param_types=command.types, param_formats=command.formats
        )


def _loaded(
    conn: psycopg.AsyncConnection[Any], state: _Prepared, result: PGresult, limit: int | None
) -> Result:
    if result.status != ExecStatus.TUPLES_OK:
        return Result((), [], result.command_tuples or 0)
    tx = state.transformer
    rows = result.ntuples
    encoding = conn.info.encoding
    names = tuple((result.fname(i) or b"").decode(encoding) for i in range(result.nfields))
    tx.set_pgresult(result)
    try:
        values = tx.load_rows(0, rows if limit is None else min(limit, rows), tuple)
    finally:
        tx.set_pgresult(None)
    return Result(names, values, rows)


def _failed(results: Sequence[PGresult]) -> PGresult | None:
    for result in results:
        if result.status in _FAILED:
            return result
    return None


def _first(results: Sequence[PGresult], conn: psycopg.AsyncConnection[Any]) -> PGresult:
    """The first result, or the error of the first that failed."""
    failure = _failed(results)
    if failure is not None:
        raise psycopg.errors.error_from_result(failure, encoding=conn.info.encoding)
    if not results:
        raise psycopg.OperationalError("the server sent no result")
    return results[0]


async def _received(
    conn: psycopg.AsyncConnection[Any], receive: Callable[[PGconn], Awaitable[T]]
) -> T:
    """``receive(pgconn)``; cut off (cancelled), it first has the server cancel the
    statement and reads to its end, as psycopg does: a statement left running would
    still commit, and its connection would stay busy."""
    try:
        return await receive(conn.pgconn)
    except (asyncio.CancelledError, KeyboardInterrupt):
        if conn.pgconn.transaction_status == TransactionStatus.ACTIVE:
            try:
                await conn.cancel_safe(timeout=CANCEL_TIMEOUT_S)
                await asyncio.wait_for(receive(conn.pgconn), CANCEL_TIMEOUT_S)
            except BaseException as error:  # no answer, or cut off again: unknown state
                log.warning("statement not ended after cancelling (%r): closing", error)
                conn.pgconn.finish()
        raise


async def _results(pgconn: PGconn) -> list[PGresult]:
    """Send what is queued, then gather one statement's results as the socket has them."""
    loop = asyncio.get_running_loop()
    fd = pgconn.socket
    await _flushed(loop, pgconn)
    results: list[PGresult] = []
    while True:
        pgconn.consume_input()  # a broken connection raises OperationalError
        while not pgconn.is_busy():
            result = pgconn.get_result()
            if result is None:
                return results
            results.append(result)
        await _readable(loop, fd)


async def _pipeline_results(pgconn: PGconn) -> list[list[PGresult]]:
    """Send what is queued, then gather each command's result set (a prepare's too), in
    order, up to the pipeline's sync. An error aborts the commands after it (their sets
    say so)."""
    loop = asyncio.get_running_loop()
    fd = pgconn.socket
    await _flushed(loop, pgconn)
    sets: list[list[PGresult]] = []
    current: list[PGresult] = []
    while True:
        pgconn.consume_input()
        while not pgconn.is_busy():
            result = pgconn.get_result()
            if result is None:
                if not current:
                    break  # the next set has not arrived yet
                sets.append(current)
                current = []
            elif result.status == ExecStatus.PIPELINE_SYNC:
                return sets
            else:
                current.append(result)
        await _readable(loop, fd)


async def _flushed(loop: asyncio.AbstractEventLoop, pgconn: PGconn) -> None:
    """Send what libpq has queued. While the socket takes no more, read what the server
    sends meanwhile (libpq's advice for non-blocking sends): a long pipeline's results
    would otherwise fill the buffers both ways and stall both sides."""
    fd = pgconn.socket
    while pgconn.flush():  # 1: more to send
        ready: asyncio.Future[bool] = loop.create_future()
        loop.add_writer(fd, _wake, ready, False)
        loop.add_reader(fd, _wake, ready, True)
        try:
            readable = await ready
        finally:
            loop.remove_writer(fd)
            loop.remove_reader(fd)
        if readable:
            pgconn.consume_input()


async def _readable(loop: asyncio.AbstractEventLoop, fd: int) -> None:
    ready: asyncio.Future[bool] = loop.create_future()
    loop.add_reader(fd, _wake, ready, True)
    try:
        await ready
    finally:
        loop.remove_reader(fd)


def _wake(ready: asyncio.Future[bool], readable: bool) -> None:
    if not ready.done():
        ready.set_result(readable)
