"""Per-plugin, versioned schema steps."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import aiosqlite

MigrationFn = Callable[["aiosqlite.Connection"], Awaitable[None]]


@dataclass(frozen=True)
class Migration:
    """One schema step of a plugin: ``sql`` (one or more statements) or an async ``fn``.

    ``postgresql``, when given, replaces ``sql`` on PostgreSQL (for the statements whose
    syntax differs); otherwise ``sql`` runs on every engine.
    """

    version: int
    name: str
    sql: str = ""
    fn: MigrationFn | None = None
    postgresql: str | None = None

    def sql_for(self, dialect: str) -> str:
        """The script to run on ``dialect``."""
        if dialect == "postgresql" and self.postgresql is not None:
            return self.postgresql
        return self.sql


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
