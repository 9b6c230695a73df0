"""Per-plugin, versioned schema steps."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scs_server.storage.api import Transaction

MigrationFn = Callable[["Transaction"], Awaitable[None]]

CORE = "core"
"""The core's name among the plugins, under which its migrations are recorded
(``scs_server.plugins.CORE``; here so that ``scs token`` need not import pluggy)."""


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
