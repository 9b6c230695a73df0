"""Hook implementations of the leases plugin."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scs import hookimpl

from scs_leases import store
from scs_leases.api import EVENTS, SERVICE
from scs_leases.cli import add_commands
from scs_leases.service import LeaseService
from scs_leases.settings import LeasesSettings
from scs_leases.sweeper import Sweeper
from scs_leases.tools import register

if TYPE_CHECKING:
    from collections.abc import Sequence

    import click
    from fastmcp import FastMCP
    from scs import Identity, Migration
    from scs.app import App
    from scs.events import Event

SWEEPER = "leases.sweeper"
SUBSCRIPTION = "leases.subscription"
RESOURCE = "leases://active"


@hookimpl
def scs_settings() -> type[LeasesSettings]:
    return LeasesSettings


@hookimpl
def scs_migrations() -> Sequence[Migration]:
    return store.MIGRATIONS


@hookimpl
def scs_register(app: App, mcp: FastMCP[Any]) -> None:
    service = LeaseService(app, app.config("leases"))
    app.services[SERVICE] = service
    register(mcp, service)


@hookimpl
def scs_commands(cli: click.Group) -> None:
    add_commands(cli)


@hookimpl
async def scs_startup(app: App) -> None:
    service: LeaseService = app.services[SERVICE]
    app.services[SUBSCRIPTION] = await app.db.changes.subscribe(
        lambda _change: service.wake_waiters(), topics=(store.TOPIC,)
    )
    sweeper = Sweeper(service, service.settings.sweep_interval_s)
    app.services[SWEEPER] = sweeper
    sweeper.start()


@hookimpl
async def scs_shutdown(app: App) -> None:
    sweeper = app.services.pop(SWEEPER, None)
    if sweeper is not None:
        await sweeper.stop()
    subscription = app.services.pop(SUBSCRIPTION, None)
    if subscription is not None:
        subscription.close()


@hookimpl
async def scs_event(app: App, event: Event) -> None:
    """Every lease change changes leases://active (readable by every agent)."""
    if event.name not in EVENTS:
        return

    def anyone(identity: Identity) -> bool:
        return not identity.anonymous

    await app.subscriptions.updated(RESOURCE, visible_to=anyone)
