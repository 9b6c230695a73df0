"""Hook implementations of the leases plugin."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scs_server import hookimpl
from scs_server.periodic import Periodic

from scs_leases import export, store
from scs_leases.cli import add_commands
from scs_leases.service import LeaseService
from scs_leases.settings import LeasesSettings
from scs_leases.tools import register

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import click
    from fastmcp import FastMCP
    from scs_server import Identity, Migration
    from scs_server.app import App
    from scs_server.storage import Change, Subscription

RESOURCE = "leases://active"

# archives (scs_server.archiving): `scs export --include leases` and its import
scs_export = hookimpl(export.export_records)
scs_import = hookimpl(export.import_records)


@dataclass
class Running:
    """What ``scs_startup`` starts and ``scs_shutdown`` stops (a service of this plugin)."""

    sweeper: Periodic
    subscription: Subscription


@hookimpl
def scs_settings() -> type[LeasesSettings]:
    return LeasesSettings


@hookimpl
def scs_migrations() -> Sequence[Migration]:
    return store.MIGRATIONS


@hookimpl
def scs_register(app: App, mcp: FastMCP[Any]) -> None:
    service = LeaseService(app, app.config("leases"))
    app.services.provide(LeaseService, service, by="leases")

    async def tell_subscribers(_change: Change) -> None:
        """Every lease change (from any process) changes leases://active, which every
        authenticated agent may read."""

        def anyone(identity: Identity) -> bool:
            return not identity.anonymous

        await app.subscriptions.updated(RESOURCE, visible_to=anyone)

    app.subscriptions.follow([store.TOPIC], tell_subscribers)
    register(mcp, service)


@hookimpl
def scs_commands(cli: click.Group) -> None:
    add_commands(cli)


@hookimpl
async def scs_startup(app: App) -> None:
    service = app.services.get(LeaseService, needed_by="leases")
    publish = _events_publisher(app)

    def on_change(change: Change) -> None:
        service.wake_waiters()  # on a gap too: the waiters re-read the live leases
        if not change.gap:
            publish(change)

    subscription = await app.db.changes.subscribe(on_change, topics=(store.TOPIC,))
    # expired leases never count (grants ignore them); the sweep keeps the table small
    # and announces expiries, each batch its own heavy transaction
    sweeper = Periodic("scs-leases-sweep", service.settings.sweep_interval_s, service.sweep_once)
    app.services.provide(Running, Running(sweeper, subscription), by="leases")
    sweeper.start()


def _events_publisher(app: App) -> Callable[[Change], None]:
    """Lease changes from any process onto ``GET /events`` (the inbox plugin's stream) as
    ``lease.acquired`` / ``.renewed`` / ``.released`` / ``.expired`` with the feed's
    payload, for every authenticated reader (leases are public to agents); a no-op
    without the inbox plugin."""
    hub = None
    if "inbox" in app.plugins:
        with contextlib.suppress(ImportError):
            from scs_inbox.api import EventHub

            hub = app.services.find(EventHub)
    if hub is None:
        return lambda _change: None
    found = hub

    def authenticated(identity: Identity) -> bool:
        return not identity.anonymous

    def publish(change: Change) -> None:
        payload = change.payload if isinstance(change.payload, dict) else {}
        found.publish(f"lease.{payload.get('what', 'changed')}", payload, authenticated)

    return publish


@hookimpl
async def scs_shutdown(app: App) -> None:
    running = app.services.remove(Running)
    if running is not None:
        await running.sweeper.stop()
        running.subscription.close()
