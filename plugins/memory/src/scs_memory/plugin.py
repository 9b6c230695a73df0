"""Hook implementations of the memory plugin."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scs_server import hookimpl

from scs_memory import export, rules, store
from scs_memory.service import MemoryService
from scs_memory.settings import MemorySettings
from scs_memory.sweeper import Sweeper
from scs_memory.tools import register

if TYPE_CHECKING:
    from collections.abc import Sequence

    from fastmcp import FastMCP
    from scs_server import Identity, Migration
    from scs_server.app import App
    from scs_server.storage import Change


# archives (scs_server.archiving): the memory record
scs_export = hookimpl(export.export_records)
scs_import = hookimpl(export.import_records)


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

    async def tell_subscribers(change: Change) -> None:
        """A private entry set or deleted (by any process) changes agent://{agent_id}/memory;
        only that agent or an admin could subscribe, checked again per notification.
        Shared memory (owner ``#shared:…``) and expiry sweeps (None) name no agent."""
        agent_id = change.payload.get("agent_id") if isinstance(change.payload, dict) else None
        if not isinstance(agent_id, str) or agent_id.startswith(rules.SHARED_OWNER_PREFIX):
            return

        def may_read(identity: Identity) -> bool:
            return rules.may_read_memory_of(identity, agent_id)

        await app.subscriptions.updated(f"agent://{agent_id}/memory", visible_to=may_read)

    app.subscriptions.follow([store.TOPIC], tell_subscribers)


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
