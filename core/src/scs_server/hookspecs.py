"""The hooks a plugin may implement. One small function per hook.

Two markers say how the host calls a hook (``scs_server.plugins.PluginHost`` reads them):

- ``per_plugin``: called once for each enabled plugin on its own, in dependency
  order (settings, requires, migrations, register, commands). ``tryfirst``, ``trylast`` and
  wrappers mean nothing there and are refused at load.
- ``sync``: the host uses the result directly, so an ``async def`` is refused at
  load. The other hooks may be ``async``: the host awaits what they return, one
  plugin at a time, in pluggy's order (``tryfirst``/``trylast`` honoured).

Wrappers (``@hookimpl(wrapper=True)``) are allowed on the fan-out ``sync`` hooks
(the call hooks, middleware, routes, stats) and refused elsewhere: on a
hook whose implementations may be async a wrapper would not see their work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

import pluggy

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence

    import click
    from fastmcp import FastMCP
    from fastmcp.server.middleware import Middleware
    from starlette.routing import Route

    from scs_server.app import App
    from scs_server.archiving import ExportRequest, ImportBatch, Record, RetentionPolicy
    from scs_server.events import Event
    from scs_server.migrations import Migration
    from scs_server.request import Call
    from scs_server.settings import ScsSettings
    from scs_server.storage import Executor, Transaction

PROJECT = "scs"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

SYNC_MARK = f"{PROJECT}_sync"
PER_PLUGIN_MARK = f"{PROJECT}_per_plugin"

F = TypeVar("F", bound="Callable[..., Any]")


def sync(spec: F) -> F:
    """Mark a spec whose result the host uses directly (no ``async def``)."""
    setattr(spec, SYNC_MARK, True)
    return spec


def per_plugin(spec: F) -> F:
    """Mark a spec the host calls for one plugin at a time (no ordering, no wrappers)."""
    setattr(spec, PER_PLUGIN_MARK, True)
    return spec


@hookspec
@per_plugin
@sync
def scs_settings() -> type[ScsSettings] | None:
    """Return the plugin's settings model (a ``ScsSettings`` subclass, prefix ``SCS_<PLUGIN>_``)."""


@hookspec
@per_plugin
@sync
def scs_requires() -> Sequence[str]:  # type: ignore[empty-body]
    """Return the names of plugins this plugin needs enabled (e.g. ``["sessions"]``)."""


@hookspec
@per_plugin
@sync
def scs_migrations() -> Sequence[Migration]:  # type: ignore[empty-body]
    """Return the plugin's schema steps; each version is applied once, in a transaction."""


@hookspec
@per_plugin
def scs_register(app: App, mcp: FastMCP[Any]) -> Awaitable[None] | None:
    """Add the plugin's tools, resources and prompts to ``mcp`` (the plugin's own server)
    and offer its services (``app.services.provide``)."""


@hookspec
@sync
def scs_middleware(app: App) -> Sequence[Middleware]:  # type: ignore[empty-body]
    """Return FastMCP middleware (placed by its ``order``) for plugins that wrap the call,
    e.g. a cache; to observe or refuse calls the ``scs_call_*`` hooks are cheaper."""


@hookspec
@sync
def scs_call_started(app: App, call: Call) -> None:
    """A tool call, resource read or prompt arrived; the caller is not verified yet.

    Synchronous and cheap (it runs on every call). ``call.kind`` is ``"tool"``,
    ``"resource"`` or ``"prompt"``, ``call.name`` the tool name, URI or prompt name,
    ``call.token`` the credential presented. Raise ``ScsError`` to refuse before any
    verification (e.g. a maintenance switch). Do not refuse by client address for
    failed authentications: the core throttles wrong credentials itself, and a guard
    here would refuse right ones too.
    """


@hookspec
@sync
def scs_call_admitted(app: App, call: Call) -> None:
    """The caller is verified (``call.identity``) and holds the permission the tool needs.

    Synchronous and cheap. Raise ``ScsError`` to refuse (e.g. a rate limit); the tool
    does not run.
    """


@hookspec
@sync
def scs_call_finished(app: App, call: Call) -> None:
    """A call ended: ``call.seconds`` and ``call.error`` (the client's error code, or None).

    Runs for every call that ``scs_call_started`` saw, refused ones included.
    Synchronous and cheap; it must not raise (metrics, logs, giving back a token): an
    exception is logged and stops the implementations after it.
    """


@hookspec
@sync
def scs_http_routes(app: App) -> Sequence[Route]:  # type: ignore[empty-body]
    """Return extra Starlette routes for the HTTP app (e.g. ``/metrics``)."""


@hookspec
@sync
def scs_stats(app: App) -> Mapping[str, Mapping[str, Any]]:  # type: ignore[empty-body]
    """Return figures for monitoring, by section: ``{"cache": {"hits": 3, ...}}``.

    Values are numbers or small mappings of numbers (JSON). Cheap: it runs on every
    ``get_performance_metrics`` call and every ``/metrics`` scrape.
    """


@hookspec
def scs_startup(app: App) -> Awaitable[None] | None:
    """Run once after migrations and registration, before the first request."""


@hookspec
def scs_shutdown(app: App) -> Awaitable[None] | None:
    """Run once when the server stops, before the pool closes (reverse order)."""


@hookspec
def scs_event(app: App, event: Event) -> Awaitable[None] | None:
    """React to a domain event (names in ``scs_server.events``) after its commit.

    Delivered in-process, one plugin after the other, before the writing call returns;
    the delivery finishes even when that call is cancelled. An exception is logged and
    does not stop the other plugins.
    """


@hookspec
@per_plugin
@sync
def scs_commands(cli: click.Group) -> None:
    """Add subcommands to the ``scs`` command line (a plugin whose commands fail to load
    is named on stderr; the others still load)."""


# --- export, import and retention (driven by the archive plugin) ----------------------
# Types: scs_server.archiving. Guide: docs/plugins.md, "Export, import and retention".
# Called through PluginHost.export_records / import_batch / retention.


@hookspec
def scs_export(app: App, reader: Executor, request: ExportRequest) -> AsyncIterator[Record] | None:
    """Yield this plugin's records for ``request`` (an ``async def`` generator), read
    through ``reader`` (one consistent snapshot for the whole export), keyset-paged."""


@hookspec
def scs_import(
    app: App, tx: Transaction | None, batch: ImportBatch
) -> Awaitable[int | None] | None:
    """Import ``batch`` if its kind is yours: return the records written (``tx`` None:
    only validate, raising ``scs_server.archiving.record_error``); None for kinds you do not own."""


@hookspec
def scs_retention(app: App, policy: RetentionPolicy) -> Awaitable[dict[str, int]] | None:
    """Delete what ``policy`` allows of your rows, in small batches; return counts by kind."""
