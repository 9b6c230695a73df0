"""The ``scs`` command line.

Imports are lazy on purpose: ``scs --help``, ``scs version`` and ``scs token`` must
start in well under half a second, and ``scs serve`` must not import what only other
commands (or clients) need. ``core/tests/test_startup_imports.py`` guards this.
"""

from __future__ import annotations

import gc
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from scs_server.cli_tokens import client_config, token, tokens
from scs_server.clikit import (
    CLI_CLIENT,
    EXIT_FAILED,
    EXIT_PORT_IN_USE,
    fail,
    note,
    settings_from,
    with_auth,
)
from scs_server.daemon import connect, daemon

if TYPE_CHECKING:
    from scs_server.clikit import AuthApp
    from scs_server.settings import Settings


# Core commands that finish within a second or so: they run without cyclic garbage
# collection (``main`` turns it off). Their imports (pydantic, our modules) allocate ~100k
# objects that live until exit; the collections that growth triggers are ~3 % of the
# instructions of `scs token` (callgrind), 10-40 ms of CPU on a slow machine. Every other
# command (`serve`, `connect`, plugins' commands) runs with it on; `serve` tunes it itself
# (``runner.tune_gc``). `daemon` is short too: the server `daemon start` spawns is another
# process.
SHORT_COMMANDS = frozenset(
    (
        "token",
        "tokens",
        "client-config",
        "agents",
        "secrets",
        "version",
        "check",
        "plugins",
        "daemon",
    )
)


class ScsGroup(click.Group):
    """The top-level group: commands that plugins add (``scs_commands``) are loaded only
    when a name is not a core command, so core commands never import the plugins."""

    plugins_loaded = False

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if name not in SHORT_COMMANDS:
            gc.enable()
        return name, command, rest

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and not self.plugins_loaded:
            self.plugins_loaded = True
            _load_plugin_commands()
            command = super().get_command(ctx, cmd_name)
        return command


@click.group(
    cls=ScsGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Enabled plugins may add commands: `scs plugins` lists the plugins.",
)
@click.version_option(package_name="scs-server", prog_name="scs")
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
@click.option(
    "--database-url",
    help="postgresql://user:password@host/db: serve from PostgreSQL (SCS_DATABASE_URL).",
)
@click.option("--reload", is_flag=True, help="Restart on code changes (development, HTTP only).")
def serve(
    plugins: str | None,
    transport: str | None,
    host: str | None,
    port: int | None,
    database: Path | None,
    database_url: str | None,
    reload: bool,
) -> None:
    """Run the server (streamable HTTP on 127.0.0.1:23456 by default, or stdio).

    Over stdio the caller's identity is SCS_TOKEN (see docs/security.md). A port in use
    exits with status 3.
    """
    # No garbage collection while start-up imports and builds the app: it allocates
    # ~190k long-lived objects, and the full collections their growth triggers cost about
    # 0.5 s of CPU (bench/startup.py). ``runner.tune_gc`` turns it back on, frozen.
    if not reload:
        gc.disable()
    settings = settings_from(
        plugins=plugins,
        transport=transport,
        host=host,
        port=port,
        database_path=database,
        database_url=database_url,
    )
    from scs_server.runner import configure_logging, port_in_use

    configure_logging(settings.log_level)
    if settings.transport == "http":
        busy = port_in_use(settings.host, settings.port)
        if busy is not None:
            fail(
                f"port {settings.port} is in use ({busy}; is scs running already? "
                "`scs daemon status`, or pick another --port)",
                EXIT_PORT_IN_USE,
            )
    if reload:
        _serve_reload(settings, plugins, host, port, database)
        return
    run_server(settings)


def run_server(settings: Settings) -> None:
    """Serve until stopped; start-up errors are one line."""
    import asyncio

    from scs_server.plugins import SelectionError
    from scs_server.runner import run
    from scs_server.settings import ConfigError
    from scs_server.startup import StartupError

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

    from scs_server.http_options import uvicorn_options

    for name, value in (
        ("SCS_PLUGINS", plugins),
        ("SCS_HOST", host),
        ("SCS_PORT", port),
        ("SCS_DATABASE_PATH", database),
    ):
        if value is not None:
            os.environ[name] = str(value)
    uvicorn.run(
        "scs_server.runner:reload_factory",
        factory=True,
        reload=True,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        **uvicorn_options(),
    )


@cli.command()
@click.option("--plugins", help="Plugin selection to check (default: SCS_PLUGINS).")
@click.option("--database", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--fix", is_flag=True, help="Also generate missing secrets and run pending migrations."
)
def check(plugins: str | None, database: Path | None, fix: bool) -> None:
    """Validate configuration, plugins and database; print the effective settings.

    Changes nothing on disk (no secrets written, no migrations run) unless --fix.
    Prints the database location and every enabled plugin's effective settings.
    """
    from scs_server.checkup import run_check

    settings = settings_from(plugins=plugins, database_path=database)
    report = run_check(settings, fix=fix)
    for warning in report["warnings"]:
        note(f"warning: {warning}")
    click.echo(json.dumps(report, indent=2, default=str))
    if report["problems"]:
        fail("; ".join(report["problems"]), EXIT_FAILED)


@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def plugins_command(as_json: bool) -> None:
    """List installed plugins: version, enabled, hooks and tools."""
    import asyncio

    from scs_server.plugins import CORE, SelectionError, discover, select

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
    from scs_server.app import plugin_tools

    tools, refused = await plugin_tools(settings, infos)
    for name, reason in refused.items():
        click.echo(f"scs: plugin {name!r}: {reason}", err=True)
    return tools


@cli.command()
def version() -> None:
    """Print the versions of scs and its plugins (without importing them)."""
    from importlib.metadata import entry_points

    import scs_server
    from scs_server.plugins import CORE, ENTRY_POINT_GROUP, normalize

    click.echo(f"scs {scs_server.__version__}")
    found = {normalize(ep.name): ep.dist for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.dist}
    for name, dist in sorted(found.items()):
        if name != CORE:
            click.echo(f"  {name} {dist.version} ({dist.name})")


cli.add_command(token)
cli.add_command(tokens)
cli.add_command(client_config)
cli.add_command(connect)
cli.add_command(daemon)


@cli.group()
def agents() -> None:
    """Register, list and remove protected agent ids (with the admin's authority)."""


@agents.command("add")
@click.argument("agent_id")
@click.option("--agent-type", default="generic", show_default=True)
@click.option("--rotate", is_flag=True, help="Replace the secret of a registered id.")
def agents_add(agent_id: str, agent_type: str, rotate: bool) -> None:
    """Register AGENT_ID and print its agent_secret (shown this once)."""

    async def add(app: AuthApp) -> dict[str, Any]:
        return await app.auth.agents.register(
            agent_id, agent_type, admin=True, replace=rotate, by=CLI_CLIENT, client=CLI_CLIENT
        )

    registered = with_auth(settings_from(), add)
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

    async def listing(app: AuthApp) -> list[dict[str, Any]]:
        return await app.auth.agents.list_public()

    rows = with_auth(settings_from(), listing)
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

    async def remove(app: AuthApp) -> bool:
        return await app.auth.agents.remove(agent_id, by=CLI_CLIENT)

    if not with_auth(settings_from(), remove):
        fail(f"agent id {agent_id!r} is not registered", EXIT_FAILED)
    click.echo(f"removed {agent_id}")


@cli.command()
def secrets() -> None:
    """Print fresh random secrets in .env form."""
    from scs_server.auth.secrets import new_secret

    for name in ("SCS_API_KEY", "SCS_ADMIN_API_KEY", "SCS_JWT_SECRET_KEY"):
        click.echo(f"{name}={new_secret()}")


def _add_plugin_commands() -> None:
    """Add the enabled plugins' subcommands; a plugin whose commands cannot be loaded is
    named on stderr (the other commands still work)."""
    from scs_server.plugins import PluginHost, discover, select
    from scs_server.settings import Settings, load_settings

    try:
        settings = load_settings(Settings)
        infos = discover()
        host = PluginHost.create(select(settings.plugins, infos), infos, strict=False)
    except Exception:  # a broken configuration must not break `scs --help`; `scs check` reports it
        return
    for name, reason in {**host.refused, **host.commands(cli)}.items():
        click.echo(f"scs: plugin {name!r}: commands not loaded: {reason}", err=True)


def _load_plugin_commands() -> None:
    """Add the plugins' commands, quietly: a plugin refused here is refused (and said so,
    with the real SCS_PLUGINS_STRICT) by the command that starts the server, not here."""
    quiet = logging.getLogger("scs.plugins")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        _add_plugin_commands()
    finally:
        quiet.setLevel(level)


def main() -> None:
    """The ``scs`` entry point (collection stays off for ``SHORT_COMMANDS``)."""
    gc.disable()
    cli()


if __name__ == "__main__":  # pragma: no cover
    main()
