"""Hook implementations of the archive plugin: schema, settings, tools, retention
runs, and the `scs export` / `scs import` / `scs backup` commands."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scs_server import hookimpl

from scs_archive import commands, store, tools
from scs_archive.retention import Retention
from scs_archive.settings import ArchiveSettings

if TYPE_CHECKING:
    from collections.abc import Sequence

    import click
    from fastmcp import FastMCP
    from scs_server import Migration
    from scs_server.app import App


@hookimpl
def scs_requires() -> list[str]:
    return ["sessions"]


@hookimpl
def scs_settings() -> type[ArchiveSettings]:
    return ArchiveSettings


@hookimpl
def scs_migrations() -> Sequence[Migration]:
    return store.MIGRATIONS


@hookimpl
def scs_register(app: App, mcp: FastMCP[Any]) -> None:
    settings: ArchiveSettings = app.config("archive")
    retention = Retention(app, settings)
    app.services.provide(Retention, retention, by="archive")
    tools.register(app, mcp, settings, retention)


@hookimpl
def scs_startup(app: App) -> None:
    app.services.get(Retention, needed_by="archive").start()


@hookimpl
async def scs_shutdown(app: App) -> None:
    retention = app.services.find(Retention)
    if retention is not None:
        await retention.stop()


@hookimpl
def scs_stats(app: App) -> dict[str, dict[str, Any]]:
    """Retention runs and rows purged, for /metrics (``scs_retention_*``)."""
    retention = app.services.find(Retention)
    return {} if retention is None else {"retention": retention.stats()}


@hookimpl
def scs_commands(cli: click.Group) -> None:
    commands.add(cli)
