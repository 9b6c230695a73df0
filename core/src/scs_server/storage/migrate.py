"""Applying a plugin's migrations inside one engine transaction (the engine locks)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from scs_server.migrations import Migration
    from scs_server.storage.api import Transaction


class MigrationError(Exception):
    """A plugin's schema step failed; the database is left as it was."""

    def __init__(self, plugin: str, migration: Migration, cause: BaseException) -> None:
        self.plugin = plugin
        self.migration = migration
        super().__init__(
            f"migration {migration.version} ({migration.name}) of plugin {plugin!r} failed: {cause}"
        )


async def apply_migrations(
    tx: Transaction,
    plugin: str,
    migrations: Sequence[Migration],
    dialect: str,
    run_script: Callable[[Any, str], Awaitable[None]],
) -> list[int]:
    """Apply the steps not yet recorded in ``scs_migrations``; return their versions.

    The caller holds the engine's migration lock, so the applied set read here is exact
    even when several processes start at once.
    """
    rows = await tx.fetch_all("SELECT version FROM scs_migrations WHERE plugin = ?", (plugin,))
    done = {row[0] for row in rows}
    pending = sorted((m for m in migrations if m.version not in done), key=lambda m: m.version)
    for current in pending:
        try:
            script = current.sql_for(dialect)
            if script.strip():
                await run_script(tx, script)
            if current.fn is not None:
                await current.fn(tx)
            await tx.execute(
                "INSERT INTO scs_migrations (plugin, version, name) VALUES (?, ?, ?)",
                (plugin, current.version, current.name),
            )
        except Exception as error:
            raise MigrationError(plugin, current, error) from error
    return [m.version for m in pending]
