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
    """Return FastMCP middleware to install (outermost first), e.g. rate limits, timing."""


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
