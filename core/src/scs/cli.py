"""The ``scs`` command line."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from pydantic import SecretStr

import scs
from scs.app import StartupError, create_app
from scs.auth.secrets import ensure_secrets, new_secret
from scs.cli_tokens import client_config, token, tokens
from scs.clikit import CLI_CLIENT, fail, settings_from, with_app
from scs.plugins import CORE, PluginHost, SelectionError, discover, select
from scs.runner import configure_logging, run
from scs.settings import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from scs.app import App


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
    """Register every installed plugin on a scratch database to learn its tools."""
    with tempfile.TemporaryDirectory() as scratch:
        probe = settings.model_copy(
            update={
                "plugins": ",".join(name for name in infos if name != CORE),
                "plugins_strict": False,
                "data_dir": Path(scratch),
                "database_path": Path(scratch) / "probe.db",
                "transport": "stdio",
                "api_key": SecretStr(new_secret()),
                "admin_api_key": SecretStr(new_secret()),
                "jwt_secret_key": SecretStr(new_secret()),
            }
        )
        try:
            app = await create_app(probe, installed=infos)
        except Exception:
            return {}
        try:
            tools: dict[str, list[str]] = {}
            for policy in app.tools.values():
                tools.setdefault(policy.plugin, []).append(policy.name)
            return {name: sorted(names) for name, names in tools.items()}
        finally:
            await app.close()


@cli.command()
def version() -> None:
    """Print the versions of scs and its plugins."""
    click.echo(f"scs {scs.__version__}")
    for info in sorted(discover().values(), key=lambda i: i.name):
        if info.name != CORE:
            click.echo(f"  {info.name} {info.version} ({info.distribution})")


cli.add_command(token)
cli.add_command(tokens)
cli.add_command(client_config)


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
    try:
        settings = load_settings(Settings)
        infos = discover()
        host = PluginHost.create(select(settings.plugins, infos), infos, strict=False)
    except Exception:  # a broken configuration must not break `scs --help` or `scs check`
        return
    for name in host.each("scs_commands"):
        host.call_one(name, "scs_commands", cli=cli)


def main() -> None:
    _add_plugin_commands()
    cli()


if __name__ == "__main__":  # pragma: no cover
    main()
