"""The hooks a plugin may implement. One small function per hook.

Hooks that do work may be ``async``: the host awaits what they return. Hooks
called per plugin (settings, requires, migrations, register) are called once for
each enabled plugin in dependency order; the others fan out to every plugin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from collections.abc import Awaitable, Sequence

    import click
    from fastmcp import FastMCP
    from fastmcp.server.middleware import Middleware
    from starlette.routing import Route

    from scs.app import App
    from scs.events import Event
    from scs.migrations import Migration
    from scs.request import Call
    from scs.settings import ScsSettings

PROJECT = "scs"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def scs_settings() -> type[ScsSettings] | None:
    """Return the plugin's settings model (a ``ScsSettings`` subclass, prefix ``SCS_<PLUGIN>_``)."""


@hookspec
def scs_requires() -> Sequence[str]:  # type: ignore[empty-body]
    """Return the names of plugins this plugin needs enabled (e.g. ``["sessions"]``)."""


@hookspec
def scs_migrations() -> Sequence[Migration]:  # type: ignore[empty-body]
    """Return the plugin's schema steps; each version is applied once, in a transaction."""


@hookspec
def scs_register(app: App, mcp: FastMCP[Any]) -> Awaitable[None] | None:
    """Add the plugin's tools, resources and prompts to ``mcp`` (the plugin's own server)."""


@hookspec
def scs_middleware(app: App) -> Sequence[Middleware]:  # type: ignore[empty-body]
    """Return FastMCP middleware (placed by its ``order``) for plugins that wrap the call,
    e.g. a cache; to observe or refuse calls the ``scs_call_*`` hooks are cheaper."""


@hookspec
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
def scs_call_admitted(app: App, call: Call) -> None:
    """The caller is verified (``call.identity``) and holds the permission the tool needs.

    Synchronous and cheap. Raise ``ScsError`` to refuse (e.g. a rate limit); the tool
    does not run.
    """


@hookspec
def scs_call_finished(app: App, call: Call) -> None:
    """A call ended: ``call.seconds`` and ``call.error`` (the client's error code, or None).

    Runs for every call that ``scs_call_started`` saw, refused ones included.
    Synchronous and cheap; it must not raise (metrics, logs, giving back a token).
    """


@hookspec
def scs_http_routes(app: App) -> Sequence[Route]:  # type: ignore[empty-body]
    """Return extra Starlette routes for the HTTP app (e.g. ``/metrics``)."""


@hookspec
def scs_startup(app: App) -> Awaitable[None] | None:
    """Run once after migrations and registration, before the first request."""


@hookspec
def scs_shutdown(app: App) -> Awaitable[None] | None:
    """Run once when the server stops, before the pool closes (reverse order)."""


@hookspec
def scs_event(app: App, event: Event) -> Awaitable[None] | None:
    """React to a domain event (``message.added``, ``memory.set``...) after its commit."""


@hookspec
def scs_commands(cli: click.Group) -> None:
    """Add subcommands to the ``scs`` command line."""


# --- export, import and retention (issue #17; driven by the archive plugin) ----------
# Types: scs.archiving. Guide: docs/plugins.md, "Export, import and retention".


@hookspec
def scs_export(app: App, reader: Executor, request: ExportRequest) -> AsyncIterator[Record] | None:
    """Yield this plugin's records for ``request`` (an ``async def`` generator), read
    through ``reader`` (one consistent snapshot for the whole export), keyset-paged."""


@hookspec
def scs_import(
    app: App, tx: Transaction | None, batch: ImportBatch
) -> Awaitable[int | None] | None:
    """Import ``batch`` if its kind is yours: return the records written (``tx`` None:
    only validate, raising ``scs.archiving.record_error``); None for kinds you do not own."""


@hookspec
def scs_retention(app: App, policy: RetentionPolicy) -> Awaitable[dict[str, int]] | None:
    """Delete what ``policy`` allows of your rows, in small batches; return counts by kind."""


if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from scs.archiving import ExportRequest, ImportBatch, Record, RetentionPolicy
    from scs.storage import Executor, Transaction
