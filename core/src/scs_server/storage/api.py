"""The engine-neutral data API: what plugins see of a database.

Plugin SQL uses ``?`` placeholders on every engine (translated per engine, see
``scs_server.storage.sql``). Rows are read-only mappings that are also indexable by
position. ``db.dialect`` names the engine for the rare statement that must differ.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Concatenate, Literal, ParamSpec, Protocol, TypeVar, overload

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Collection
    from contextlib import AbstractAsyncContextManager
    from pathlib import Path

    from scs_server.migrations import Migration

P = ParamSpec("P")
T = TypeVar("T")
Dialect = Literal["sqlite", "postgresql"]
Params = Sequence[Any]
"""Positional parameters, one per ``?``."""

_INDEXES: dict[tuple[str, ...], dict[str, int]] = {}


def column_index(names: tuple[str, ...]) -> dict[str, int]:
    """The column→position dict shared by every row of statements with these columns."""
    index = _INDEXES.get(names)
    if index is None:
        if len(_INDEXES) > 4096:  # ad-hoc SQL must not grow this without bound
            _INDEXES.clear()
        index = {}
        for i, name in enumerate(names):
            index.setdefault(name, i)  # a repeated column name: the first one wins
        _INDEXES[names] = index
    return index


class Row(Mapping[str, Any]):
    """One result row: a read-only mapping of column name to value, also ``row[0]``.

    Cheap to build: the values tuple plus a column index shared by the statement.
    Iterating yields the column names (like a dict); ``tuple(row.values())`` the values.
    """

    __slots__ = ("_index", "_values")

    def __init__(self, values: tuple[Any, ...], index: dict[str, int]) -> None:
        self._values = values
        self._index = index

    @overload
    def __getitem__(self, key: str) -> Any: ...
    @overload
    def __getitem__(self, key: int) -> Any: ...
    def __getitem__(self, key: str | int) -> Any:
        if isinstance(key, int):
            return self._values[key]
        return self._values[self._index[key]]

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def __repr__(self) -> str:
        return f"Row({dict(self)!r})"


def make_rows(names: tuple[str, ...], values: Sequence[tuple[Any, ...]]) -> list[Row]:
    index = column_index(names)
    return [Row(v, index) for v in values]


GAP_TOPIC = "*"
"""The topic of a gap: changes were missed (no ``emit`` can use it)."""


@dataclass(frozen=True, slots=True)
class Change:
    """A committed change: ``seq`` grows with commit order; ``payload`` is small JSON.

    In the emitting process ``payload`` is the object given to ``emit`` (treat it as
    read-only); in the others it is decoded from JSON.

    A *gap* (``change.gap``, topic ``GAP_TOPIC``) says that changes were missed: this
    process fell behind the feed's retention (it was stopped, suspended or cut off
    longer than ``SCS_CHANGES_RETENTION_S``), or a ``listen()`` consumer fell more than
    its queue behind. It reaches every subscriber whatever its topics; the consumer must
    resynchronise (drop what it caches, re-read what it waits on). A commit of this
    process cut off midway (cancelled, its connection lost: PostgreSQL) gives one too,
    as its changes may have been committed unseen. Its payload is
    ``{"reason": "retention" | "overflow" | "uncertain", "after": <the last seq seen>}``.
    """

    seq: int
    topic: str
    payload: Any

    @property
    def gap(self) -> bool:
        """Whether this is a gap (changes were missed), not a change."""
        return self.topic == GAP_TOPIC


class Executor(Protocol):
    """Runs statements: one connection, a transaction or a borrowed reader."""

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; return the number of rows it changed."""
        ...

    async def execute_many(self, sql: str, rows: Sequence[Params]) -> int:
        """Run one statement once per parameter row; return the rows changed in total."""
        ...

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        """The first row of the result, or None."""
        ...

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        """Every row of the result."""
        ...

    async def fetch_value(self, sql: str, params: Params = ()) -> Any:
        """The first column of the first row, or None when there is no row."""
        ...


class Transaction(Executor, Protocol):
    """An open write transaction: committed when its block ends, rolled back on error."""

    def emit(self, topic: str, payload: Any = None) -> None:
        """Publish a change to the change feed when (and only if) this transaction commits."""
        ...

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` on the event loop right after this transaction commits (never
        if it rolls back), in the commit path itself: a caller cancelled after the commit
        cannot skip it. Keep it quick and synchronous (schedule work, do not do it)."""
        ...


_COLUMN = re.compile(r"[a-z_][a-z0-9_]{0,62}")


@dataclass(frozen=True, slots=True)
class RowChange:
    """The change ``OneStatement.emit_rows`` emits for each row its statement returns:
    on ``topic``, a JSON object of ``fields`` (constants) and the row's ``columns``
    (returned columns holding JSON scalars: numbers, text, booleans, NULL)."""

    topic: str
    fields: Mapping[str, Any]
    columns: tuple[str, ...]

    def __post_init__(self) -> None:
        _check_columns(self.columns)

    def payload(self, row: Row) -> dict[str, Any]:
        """The change's payload for ``row``, as this process delivers it."""
        payload = dict(self.fields)
        for column in self.columns:
            payload[column] = row[column]
        return payload


@functools.lru_cache(maxsize=256)
def _check_columns(columns: tuple[str, ...]) -> None:
    for column in columns:
        if not _COLUMN.fullmatch(column):
            raise ValueError(f"emit_rows: {column!r} is not a plain lower-case column name")


class OneStatement(Executor, Protocol):
    """The transaction of ``Database.write_one``: exactly one statement, which commits when
    it completes (a second statement raises ``TypeError``). On PostgreSQL it travels alone,
    without ``BEGIN``/``COMMIT``, its changes emitted inside it: one round trip.

    Changes are declared before the statement with ``emit_rows`` (``emit`` raises
    ``TypeError``: its payload would come too late). ``after_commit`` callbacks run when
    the function given to ``write_one`` has returned or raised, if the statement committed.
    """

    def emit_rows(
        self, topic: str, fields: Mapping[str, Any] | None = None, columns: Sequence[str] = ()
    ) -> None:
        """Emit one change per row the statement returns (``RowChange``); call it before
        the statement (``INSERT/UPDATE/DELETE ... RETURNING`` those ``columns``)."""
        ...

    def emit(self, topic: str, payload: Any = None) -> None:
        """Not available here: use ``emit_rows`` before the statement."""
        ...

    def after_commit(self, callback: Callable[[], None]) -> None:
        """As ``Transaction.after_commit``: run once the statement has committed."""
        ...


class Subscription(Protocol):
    def close(self) -> None:
        """Stop receiving changes."""
        ...


class ChangeFeed(Protocol):
    """Committed changes from this process (at once) and from every other one."""

    async def subscribe(
        self, callback: Callable[[Change], None], topics: Collection[str] | None = None
    ) -> Subscription:
        """Call ``callback`` on the event loop for each change (of ``topics``, or all),
        and for each gap (whatever ``topics``: see ``Change.gap``).

        Returns once the watcher runs: every change committed afterwards is delivered,
        or a gap says it was missed.
        """
        ...

    def listen(
        self, topics: Collection[str] | None = None, *, limit: int = 10_000
    ) -> AsyncIterator[Change]:
        """The changes (of ``topics``) from now on, as an async iterator. When more than
        ``limit`` wait unread, they are dropped for one gap (see ``Change``)."""
        ...

    @property
    def position(self) -> int:
        """The seq up to which every committed change (of every process) has been
        delivered here: in commit order, without gaps (0 before the first ``subscribe``).
        A reader that resumes later from this seq with ``since`` misses nothing."""
        ...

    @property
    def live(self) -> bool:
        """Whether the watcher is watching now: started and, on PostgreSQL, connected and
        caught up (False from the moment its connection fails until it has read what it
        missed). While False, ``position`` may lag every other process without bound."""
        ...

    async def since(
        self, seq: int, topics: Collection[str], limit: int
    ) -> tuple[list[Change], bool]:
        """The durable changes of ``topics`` committed after ``seq``, in commit order (at
        most ``limit``); and False when some after ``seq`` were already pruned."""
        ...

    def poll(self) -> None:
        """Deliver the changes other processes have committed, now, where that is cheap.

        SQLite: one ``PRAGMA data_version`` read (a few us), and the new changes if it
        moved; afterwards every change committed before the call has been delivered.
        PostgreSQL: nothing (NOTIFY is pushed; another replica's write arrives within the
        feed's latency, ~1-2 ms p50). Does nothing before the first ``subscribe``. Raises
        a typed error when the engine cannot look (treat as "anything may have changed").
        """
        ...


class Database(Protocol):
    """One database, either engine. Point reads run on it directly.

    ``fetch_*`` on the database are for short indexed reads (SQLite: on the event loop,
    no thread hop). ``read()`` lends an executor for reads that scan. ``transaction()``
    is a write transaction (SQLite: on the loop while the write lock is free);
    ``transaction(heavy=True)`` one that runs long (batches, sweeps), kept off the loop.
    ``execute`` is a one-statement transaction; ``write_one`` the form of it that
    returns rows and emits a change per row.
    """

    @property
    def dialect(self) -> Dialect: ...
    @property
    def changes(self) -> ChangeFeed: ...
    @property
    def origin(self) -> str:
        """This open database's id in the change feed (unique per process and open)."""
        ...

    async def open(self) -> None: ...
    async def close(self) -> None: ...

    async def execute(self, sql: str, params: Params = ()) -> int: ...
    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None: ...
    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]: ...
    async def fetch_value(self, sql: str, params: Params = ()) -> Any: ...

    def read(self, *, snapshot: bool = False) -> AbstractAsyncContextManager[Executor]:
        """An executor lent for the block; ``snapshot``: every statement in it sees the
        database as it was on entry (SQLite: one WAL read transaction; PostgreSQL:
        REPEATABLE READ, READ ONLY). Keep snapshot blocks for exports and checks: on
        SQLite a long one delays WAL checkpoints."""
        ...

    async def backup(self, path: Path | str) -> None:
        """A consistent online copy of the database file (SQLite); PostgreSQL raises
        ``NotImplementedError`` (use ``pg_dump``)."""
        ...

    def transaction(self, *, heavy: bool = False) -> AbstractAsyncContextManager[Transaction]: ...

    async def write(
        self,
        fn: Callable[Concatenate[Transaction, P], Awaitable[T]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """``await fn(tx, *args, **kwargs)`` in one write transaction (the store-function form)."""
        ...

    async def write_one(
        self,
        fn: Callable[Concatenate[OneStatement, P], Awaitable[T]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """``await fn(one, *args, **kwargs)`` where ``fn`` runs exactly one statement
        (``OneStatement``): the cheapest write (PostgreSQL: one round trip, its changes
        emitted in it). The statement commits when it completes, whatever ``fn`` does next."""
        ...

    async def lookup(
        self,
        fn: Callable[Concatenate[Executor, P], Awaitable[T]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """``await fn(executor, *args, **kwargs)`` for a few point reads (SQLite: on the loop)."""
        ...

    async def migrate(self, plugin: str, migrations: Sequence[Migration]) -> list[int]:
        """Apply a plugin's pending steps once (across processes); return the versions applied."""
        ...

    async def ping(self) -> bool:
        """Liveness for ``/health``: never queues behind the reader pool."""
        ...

    def stats(self) -> dict[str, Any]: ...
