"""The data API: the only way plugins reach a database (SQLite or PostgreSQL).

::

    row = await db.fetch_one("SELECT * FROM notes WHERE id = ?", (note_id,))
    async with db.transaction() as tx:
        new_id = await tx.fetch_value("INSERT INTO notes (body) VALUES (?) RETURNING id", (b,))
        tx.emit("notes", {"id": new_id})

    async def add(one, body):  # one statement: the cheapest write (one round trip)
        one.emit_rows("notes", {"kind": "note"}, ("id",))  # a change per returned row
        return await one.fetch_value("INSERT INTO notes (body) VALUES (?) RETURNING id", (body,))
    new_id = await db.write_one(add, "hello")
    async with db.read() as r:
        rows = await r.fetch_all("SELECT id FROM notes ORDER BY id")

See docs/architecture.md, "Data API".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scs_server.storage.api import (
    GAP_TOPIC,
    Change,
    ChangeFeed,
    Database,
    Dialect,
    Executor,
    OneStatement,
    Params,
    Row,
    RowChange,
    Subscription,
    Transaction,
)
from scs_server.storage.engine import one_statement_in
from scs_server.storage.errors import IntegrityError, busy_error, unavailable_error
from scs_server.storage.feed import ChangeQueue
from scs_server.storage.migrate import MigrationError

if TYPE_CHECKING:
    from scs_server.settings import Settings

__all__ = [
    "GAP_TOPIC",
    "Change",
    "ChangeFeed",
    "ChangeQueue",
    "Database",
    "Dialect",
    "Executor",
    "IntegrityError",
    "MigrationError",
    "OneStatement",
    "Params",
    "Row",
    "RowChange",
    "Subscription",
    "Transaction",
    "busy_error",
    "one_statement_in",
    "open_database",
    "unavailable_error",
]


def open_database(settings: Settings) -> Database:
    """The engine ``settings`` select (PostgreSQL when ``database_url`` is set); not opened yet."""
    if settings.database_url is not None:
        from scs_server.storage.postgres import PostgresDatabase

        return PostgresDatabase(
            settings.database_url.get_secret_value(),
            pool_size=settings.db_pool_size,
            pool_min_size=settings.db_pool_min_size,
            acquire_timeout_s=settings.db_acquire_timeout_s,
            changes_retention_s=settings.changes_retention_s,
        )
    from scs_server.storage.sqlite import SqliteDatabase

    return SqliteDatabase(
        settings.db_path,
        pool_size=settings.db_pool_size,
        busy_timeout_ms=settings.db_busy_timeout_ms,
        mmap_size=settings.db_mmap_size,
        acquire_timeout_s=settings.db_acquire_timeout_s,
        changes_retention_s=settings.changes_retention_s,
        changes_poll_s=settings.changes_poll_ms / 1000,
        journal_size_limit=settings.db_journal_size_limit,
    )
