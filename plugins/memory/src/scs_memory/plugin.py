"""Hook implementations of the memory plugin."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scs import hookimpl

from scs_memory import store
from scs_memory.service import MemoryService
from scs_memory.settings import MemorySettings
from scs_memory.sweeper import Sweeper
from scs_memory.tools import register

if TYPE_CHECKING:
    from collections.abc import Sequence

    from fastmcp import FastMCP
    from scs import Migration
    from scs.app import App


@hookimpl
def scs_requires() -> list[str]:
    return ["sessions"]


@hookimpl
def scs_settings() -> type[MemorySettings]:
    return MemorySettings


@hookimpl
def scs_migrations() -> Sequence[Migration]:
    return store.MIGRATIONS


@hookimpl
def scs_register(app: App, mcp: FastMCP[Any]) -> None:
    service = MemoryService(app, app.config("memory"))
    app.services.provide(MemoryService, service, by="memory")
    register(mcp, service)


@hookimpl
def scs_startup(app: App) -> None:
    sweeper = Sweeper(app, app.config("memory"))
    app.services.provide(Sweeper, sweeper, by="memory")
    sweeper.start()


@hookimpl
async def scs_shutdown(app: App) -> None:
    sweeper = app.services.remove(Sweeper)
    if sweeper is not None:
        await sweeper.stop()
