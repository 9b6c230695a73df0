"""The ``scs`` command line."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

import scs
from scs.app import StartupError, create_app, plugin_tools
from scs.auth.secrets import ensure_secrets, new_secret
from scs.errors import ScsError
from scs.identity import PERMISSIONS
from scs.plugins import CORE, PluginHost, SelectionError, discover, select
from scs.runner import configure_logging, run
from scs.settings import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from scs.app import App
    from scs.auth.tokens import Minted

CLIENTS = ("claude", "cursor", "vscode", "gemini", "generic")
CLI_CLIENT = "cli"  # the client address the audit trail records for these commands
T = TypeVar("T")


def fail(message: str, code: int = 2) -> None:
    click.echo(f"scs: error: {message}", err=True)
    sys.exit(code)


def with_app(settings: Settings, work: Callable[[App], Awaitable[T]]) -> T:
    """Open the App on the configured database, run ``work`` with it, close it.

    Commands that run this have the admin's authority: they hold the server's secrets.
    """

    async def run_work() -> T:
        app = await create_app(settings)
        try:
            return await work(app)
        finally:
            await app.close()

    try:
        return asyncio.run(run_work())
    except (StartupError, ConfigError) as error:
        fail(str(error), 1)
        raise  # unreachable
    except ScsError as error:
        fail(f"{error.message}" + (f" ({error.hint})" if error.hint else ""))
        raise  # unreachable


def settings_from(**overrides: Any) -> Settings:
    try:
        settings: Settings = load_settings(Settings, **overrides)
    except ConfigError as error:
        fail(str(error))
        raise  # unreachable; keeps type checkers happy
    return settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(scs.__version__, prog_name="scs")
def cli() -> None:
    """shared-context-server: shared sessions, messages, memory and search for AI agents."""


@cli.command()
@click.option("--plugins", help="Plugins to enable, e.g. 'default,-ratelimit,foo' (SCS_PLUGINS).")
@click.option("--transport", type=click.Choice(["http", "stdio"]), help="SCS_TRANSPORT.")
@click.option("--host", help="Address to bind for HTTP (SCS_HOST, default 127.0.0.1).")
@click.option("--port", type=int, help="Port for HTTP (SCS_PORT, default 23456; 0 = any free).")
@click.option(
    "--database",
    type=click.Path(dir_okay=False, path_type=Path),
    help="SQLite file (SCS_DATABASE_PATH).",
)
@click.option("--reload", is_flag=True, help="Restart on code changes (development, HTTP only).")
def serve(
    plugins: str | None,
    transport: str | None,
    host: str | None,
    port: int | None,
    database: Path | None,
    reload: bool,
) -> None:
    """Run the server (streamable HTTP on 127.0.0.1:23456 by default, or stdio)."""
    settings = settings_from(
        plugins=plugins, transport=transport, host=host, port=port, database_path=database
    )
    configure_logging(settings.log_level)
    if reload:
        _serve_reload(settings, plugins, host, port, database)
        return
    try:
        asyncio.run(run(settings))
    except (StartupError, ConfigError, SelectionError) as error:
        fail(str(error))
    except KeyboardInterrupt:
        pass


def _serve_reload(
    settings: Settings,
    plugins: str | None,
    host: str | None,
    port: int | None,
    database: Path | None,
) -> None:
    import uvicorn

    for name, value in (
        ("SCS_PLUGINS", plugins),
        ("SCS_HOST", host),
        ("SCS_PORT", port),
        ("SCS_DATABASE_PATH", database),
    ):
        if value is not None:
            os.environ[name] = str(value)
    uvicorn.run(
        "scs.runner:reload_factory",
        factory=True,
        reload=True,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        proxy_headers=False,  # forwarded headers: only from SCS_TRUSTED_PROXIES (App.http_app)
    )


@cli.command()
@click.option("--plugins", help="Plugin selection to check (default: SCS_PLUGINS).")
@click.option("--database", type=click.Path(dir_okay=False, path_type=Path))
def check(plugins: str | None, database: Path | None) -> None:
    """Validate configuration, plugins and database; print the effective settings."""
    settings = settings_from(plugins=plugins, database_path=database)

    async def probe() -> dict[str, Any]:
        app = await create_app(settings)
        try:
            async with app.db.read() as conn:
                cursor = await conn.execute("PRAGMA quick_check")
                row = await cursor.fetchone()
            status = row[0] if row is not None else "no answer"
            return {"plugins": app.plugins, "tools": sorted(app.tools), "database": status}
        finally:
            await app.close()

    try:
        result = asyncio.run(probe())
    except (StartupError, ConfigError) as error:
        fail(str(error), 1)
        return
    effective = json.loads(ensure_secrets(settings).model_dump_json())
    effective["agent_registration"] = settings.registration_mode()
    click.echo(json.dumps({"settings": effective, **result}, indent=2, default=str))
    if result["database"] != "ok":
        fail(f"database check failed: {result['database']}", 1)


@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def plugins_command(as_json: bool) -> None:
    """List installed plugins: version, enabled, hooks and tools."""
    settings = settings_from()
    infos = discover()
    try:
        enabled = set(select(settings.plugins, infos))
    except SelectionError as error:
        fail(str(error))
        return
    tools = asyncio.run(_tools_by_plugin(settings, infos))
    rows: list[dict[str, Any]] = [
        {
            "name": info.name,
            "distribution": info.distribution,
            "version": info.version,
            "enabled": info.name in enabled or info.name == CORE,
            "builtin": info.builtin,
            "hooks": info.hook_names(),
            "tools": tools.get(info.name, []),
            "error": info.error,
        }
        for info in sorted(infos.values(), key=lambda i: (i.name != CORE, i.name))
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'name':<14} {'version':<9} {'enabled':<8} {'distribution':<24} tools")
    for row in rows:
        mark = "yes" if row["enabled"] else "no"
        click.echo(
            f"{row['name']:<14} {row['version']:<9} {mark:<8} {row['distribution']:<24} "
            f"{', '.join(row['tools']) or row['error'] or '-'}"
        )


async def _tools_by_plugin(settings: Settings, infos: dict[str, Any]) -> dict[str, list[str]]:
    """Every installed plugin's tools, from its own FastMCP server: no database, no
    migrations, no start-up hooks; a plugin that cannot be built is named on stderr."""
    tools, refused = await plugin_tools(settings, infos)
    for name, reason in refused.items():
        click.echo(f"scs: plugin {name!r}: {reason}", err=True)
    return tools


@cli.command()
def version() -> None:
    """Print the versions of scs and its plugins."""
    click.echo(f"scs {scs.__version__}")
    for info in sorted(discover().values(), key=lambda i: i.name):
        if info.name != CORE:
            click.echo(f"  {info.name} {info.version} ({info.distribution})")


@cli.command()
@click.option("--agent-id", required=True, help="The agent's stable name.")
@click.option("--agent-type", default="generic", show_default=True)
@click.option(
    "--permissions",
    default="read,write",
    show_default=True,
    help=f"Comma-separated subset of {','.join(PERMISSIONS)}.",
)
def token(agent_id: str, agent_type: str, permissions: str) -> None:
    """Mint a token with the admin's authority (for wiring a client by hand).

    Works for registered ids; an id given admin permissions becomes protected.
    """
    wanted = [p.strip() for p in permissions.split(",") if p.strip()]

    async def mint(app: App) -> str:
        minted = await app.auth.issue("admin", agent_id, agent_type, wanted, CLI_CLIENT)
        return minted.token

    click.echo(with_app(settings_from(), mint))


@cli.command("client-config")
@click.argument("client", type=click.Choice(CLIENTS))
@click.option("--agent-id", default=None, help="Agent id for the token (default: the client name).")
def client_config(client: str, agent_id: str | None) -> None:
    """Print a ready configuration snippet for an MCP client."""
    settings = ensure_secrets(settings_from())
    default_type = client if client in settings.agent_type_permissions else "generic"
    minted, secret = with_app(
        settings, lambda app: _client_token(app, agent_id or client, default_type)
    )
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    url = f"http://{host}:{settings.port}/mcp"
    header = f"Authorization: Bearer {minted.token}"
    if client == "claude":
        click.echo(
            f"claude mcp add --transport http scs {shlex.quote(url)} --header {shlex.quote(header)}"
        )
        return
    entry: dict[str, Any] = {"url": url, "headers": {"Authorization": f"Bearer {minted.token}"}}
    if client == "vscode":
        entry["type"] = "http"
        click.echo(json.dumps({"servers": {"scs": entry}}, indent=2))
    elif client == "gemini":
        entry = {"httpUrl": url, "headers": entry["headers"]}
        click.echo(json.dumps({"mcpServers": {"scs": entry}}, indent=2))
    else:
        click.echo(json.dumps({"mcpServers": {"scs": entry}}, indent=2))
    click.echo(
        f"# token expires {minted.as_result()['expires_at']}; renew with refresh_token "
        "or run this command again",
        err=True,
    )
    if secret is not None:
        click.echo(
            f"# registered agent id {minted.identity.agent_id!r}; its agent_secret "
            f"(shown once, for authenticate_agent): {secret}",
            err=True,
        )


async def _client_token(app: App, agent_id: str, default_type: str) -> tuple[Minted, str | None]:
    """A token for a registered id: register it first if needed (returning its new secret)."""
    record = app.auth.agents.find(agent_id)
    secret: str | None = None
    if record is None:
        registered = await app.auth.agents.register(
            agent_id, default_type, admin=True, replace=False, by=CLI_CLIENT, client=CLI_CLIENT
        )
        secret = str(registered["agent_secret"])
    agent_type = record.agent_type if record is not None else default_type
    permissions = sorted(app.auth.tokens.allowed_permissions(agent_type))
    minted = await app.auth.issue("admin", agent_id, agent_type, permissions, CLI_CLIENT)
    return minted, secret


@cli.group()
def agents() -> None:
    """Register, list and remove protected agent ids (with the admin's authority)."""


@agents.command("add")
@click.argument("agent_id")
@click.option("--agent-type", default="generic", show_default=True)
@click.option("--rotate", is_flag=True, help="Replace the secret of a registered id.")
def agents_add(agent_id: str, agent_type: str, rotate: bool) -> None:
    """Register AGENT_ID and print its agent_secret (shown this once)."""

    async def add(app: App) -> dict[str, Any]:
        return await app.auth.agents.register(
            agent_id, agent_type, admin=True, replace=rotate, by=CLI_CLIENT, client=CLI_CLIENT
        )

    registered = with_app(settings_from(), add)
    click.echo(registered["agent_secret"])
    done = "new secret for" if registered["rotated"] else "registered"
    click.echo(
        f"# {done} {agent_id!r} (type {agent_type}); store the secret now, it is not shown again",
        err=True,
    )


@agents.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def agents_list(as_json: bool) -> None:
    """List registered and admin-held agent ids (never their secrets)."""

    async def listing(app: App) -> list[dict[str, Any]]:
        return await app.auth.agents.list_public()

    rows = with_app(settings_from(), listing)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'agent_id':<30} {'type':<10} {'secret':<7} {'admin':<6} registered_by")
    for row in rows:
        secret = "yes" if row["has_secret"] else "no"
        admin = "yes" if row["admin_held"] else "no"
        click.echo(
            f"{row['agent_id']:<30} {row['agent_type']:<10} {secret:<7} {admin:<6} "
            f"{row['registered_by']}"
        )


@agents.command("remove")
@click.argument("agent_id")
def agents_remove(agent_id: str) -> None:
    """Unregister AGENT_ID: its secret stops working and the id is no longer protected."""

    async def remove(app: App) -> bool:
        return await app.auth.agents.remove(agent_id, by=CLI_CLIENT)

    if not with_app(settings_from(), remove):
        fail(f"agent id {agent_id!r} is not registered", 1)
    click.echo(f"removed {agent_id}")


@cli.command()
def secrets() -> None:
    """Print fresh random secrets in .env form."""
    for name in ("SCS_API_KEY", "SCS_ADMIN_API_KEY", "SCS_JWT_SECRET_KEY"):
        click.echo(f"{name}={new_secret()}")


def _add_plugin_commands() -> None:
    """Add the enabled plugins' subcommands; a plugin whose commands cannot be loaded is
    named on stderr (the other commands still work)."""
    try:
        settings = load_settings(Settings)
        infos = discover()
        host = PluginHost.create(select(settings.plugins, infos), infos, strict=False)
    except Exception:  # a broken configuration must not break `scs --help`; `scs check` reports it
        return
    for name, reason in {**host.refused, **host.commands(cli)}.items():
        click.echo(f"scs: plugin {name!r}: commands not loaded: {reason}", err=True)


def main() -> None:
    _add_plugin_commands()
    cli()


if __name__ == "__main__":  # pragma: no cover
    main()
