"""What both engines share: the store-function write, one-statement writes, the commit tail.

``SqliteDatabase`` and ``PostgresDatabase`` subclass ``Engine`` and supply
``transaction()``; ``write(fn)`` and ``execute(sql)`` are that transaction, so SQLite's
loop-side fast path (no thread hop while the write lock is free) is the one they take.
``published`` is what every committed write transaction does last, on either engine.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Concatenate

from scs_server.storage.feed import Feed, Pending, Pruner

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence
    from contextlib import AbstractAsyncContextManager

    from scs_server.storage.api import Change, P, Params, T, Transaction

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
