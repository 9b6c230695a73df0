"""What both engines share: the store-function write, one-statement writes, the commit tail.

``SqliteDatabase`` and ``PostgresDatabase`` subclass ``Engine`` and supply
``transaction()``; ``write(fn)`` and ``execute(sql)`` are that transaction, so SQLite's
loop-side fast path (no thread hop while the write lock is free) is the one they take.
``write_one(fn)`` holds ``fn`` to one statement (``SingleStatement``), which the engine's
``_statement`` runs and commits: here in a transaction of its own; PostgreSQL sends it
alone with its changes emitted inside it. ``published`` is what every committed write
does last, on either engine.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Any, Concatenate

from scs_server.storage.api import RowChange
from scs_server.storage.feed import Feed, Pending, Pruner, check_topic

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping, Sequence
    from contextlib import AbstractAsyncContextManager

    from scs_server.storage.api import Change, OneStatement, P, Params, Row, T, Transaction

    Statement = Callable[[str, Params, RowChange | None, bool], Awaitable[tuple[list[Row], int]]]

log = logging.getLogger("scs.storage")


class Emitting:
    """The ``emit``/``after_commit`` half of a transaction: both wait for the commit."""

    __slots__ = ()
    pending: list[Pending]
    committed: list[Callable[[], None]]

    def emit(self, topic: str, payload: Any = None) -> None:
        self.pending.append(Pending(topic, payload))

    def after_commit(self, callback: Callable[[], None]) -> None:
        self.committed.append(callback)


def run_after_commit(callbacks: Sequence[Callable[[], None]]) -> None:
    """Run a committed transaction's ``after_commit`` callbacks; one failing does not
    stop the others (the data is committed whatever they do)."""
    for callback in callbacks:
        try:
            callback()
        except Exception:
            log.exception("an after_commit callback failed")


class Engine:
    """The engine-independent half of a ``Database`` (see the module docstring)."""

    changes: Feed
    _pruner: Pruner

    def transaction(self, *, heavy: bool = False) -> AbstractAsyncContextManager[Transaction]:
        raise NotImplementedError

    async def write(
        self,
        fn: Callable[Concatenate[Transaction, P], Awaitable[T]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """``await fn(tx, *args, **kwargs)`` in one write transaction."""
        async with self.transaction() as tx:
            return await fn(tx, *args, **kwargs)

    async def write_one(
        self,
        fn: Callable[Concatenate[OneStatement, P], Awaitable[T]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """``await fn(one, *args, **kwargs)``, ``fn`` running exactly one statement (see
        ``scs_server.storage.api.OneStatement``)."""
        one = SingleStatement(self._statement)
        try:
            return await fn(one, *args, **kwargs)
        finally:
            if one.done and one.committed:
                run_after_commit(one.committed)

    async def _statement(
        self, sql: str, params: Params, change: RowChange | None, rows: bool
    ) -> tuple[list[Row], int]:
        """Run and commit ``write_one``'s statement, emitting ``change`` per row; its rows
        (when ``rows``) and the number of rows it changed."""
        async with self.transaction() as tx:
            return await run_statement_in(tx, sql, params, change, rows)

    async def execute(self, sql: str, params: Params = ()) -> int:
        """One statement in its own write transaction."""
        async with self.transaction() as tx:
            return await tx.execute(sql, params)

    def published(self, changes: list[Change], committed: Sequence[Callable[[], None]]) -> None:
        """After a commit: count the changes for pruning, hand them to this process's
        subscribers, then run the ``after_commit`` callbacks."""
        if changes:
            self._pruner.emitted(len(changes))
            self.changes.deliver(changes)
        if committed:
            run_after_commit(committed)


async def run_statement_in(
    tx: Transaction, sql: str, params: Params, change: RowChange | None, rows: bool
) -> tuple[list[Row], int]:
    """``_statement``'s work inside the open transaction ``tx``."""
    if not rows:
        return [], await tx.execute(sql, params)
    found = await tx.fetch_all(sql, params)
    if change is not None:
        for row in found:
            tx.emit(change.topic, change.payload(row))
    return found, len(found)


def one_statement_in(tx: Transaction) -> OneStatement:
    """A ``OneStatement`` whose statement runs inside ``tx`` and commits with it: a store
    function written for ``write_one`` reused in a larger transaction."""
    return SingleStatement(functools.partial(run_statement_in, tx), tx)


class SingleStatement:
    """``write_one``'s ``OneStatement``: lets one statement through to ``run`` (the
    engine's ``_statement``), with the change declared before it."""

    __slots__ = ("_change", "_run_statement", "_tx", "committed", "done", "ran")

    def __init__(self, run: Statement, tx: Transaction | None = None) -> None:
        self._run_statement = run
        self._tx = tx  # the enclosing transaction, for ``one_statement_in``
        self._change: RowChange | None = None
        self.committed: list[Callable[[], None]] = []
        self.ran = False  # the statement was sent
        self.done = False  # ... and committed

    def emit_rows(
        self, topic: str, fields: Mapping[str, Any] | None = None, columns: Sequence[str] = ()
    ) -> None:
        if self.ran or self._change is not None:
            raise TypeError("write_one: call emit_rows once, before the statement")
        self._change = RowChange(check_topic(topic), dict(fields or {}), tuple(columns))

    def emit(self, topic: str, payload: Any = None) -> None:  # noqa: ARG002
        raise TypeError("write_one: declare the change with emit_rows, before the statement")

    def after_commit(self, callback: Callable[[], None]) -> None:
        if self._tx is not None:
            self._tx.after_commit(callback)
        else:
            self.committed.append(callback)

    async def _run(self, sql: str, params: Params, rows: bool) -> tuple[list[Row], int]:
        if self.ran:
            raise TypeError("write_one runs one statement; use write() for more")
        self.ran = True
        result = await self._run_statement(sql, params, self._change, rows)
        self.done = True
        return result

    async def execute(self, sql: str, params: Params = ()) -> int:
        if self._change is not None and not self.ran:
            raise TypeError("emit_rows needs the statement's rows: use fetch_one or fetch_all")
        return (await self._run(sql, params, rows=False))[1]

    async def execute_many(self, sql: str, rows: Sequence[Params]) -> int:  # noqa: ARG002
        raise TypeError("write_one runs one statement; use write() for execute_many")

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        found = (await self._run(sql, params, rows=True))[0]
        return found[0] if found else None

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        return (await self._run(sql, params, rows=True))[0]

    async def fetch_value(self, sql: str, params: Params = ()) -> Any:
        row = await self.fetch_one(sql, params)
        return None if row is None else row[0]
