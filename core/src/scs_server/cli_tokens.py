"""``scs token``, ``scs tokens list|revoke`` and ``scs client-config``: tokens for clients."""

from __future__ import annotations

import json
import secrets
import shlex
import shutil
import sys
from typing import TYPE_CHECKING, Any

import click

from scs_server.clikit import CLI_CLIENT, EXIT_FAILED, fail, note, settings_from, with_auth

if TYPE_CHECKING:
    from scs_server.auth.tokens import Minted
    from scs_server.clikit import AuthApp
    from scs_server.settings import Settings

CLIENTS = ("claude", "cursor", "vscode", "gemini", "claude-desktop", "generic")
PERMISSION_NAMES = "read,write,admin,debug"
# a quarter: a configured client keeps working through normal use, while a token left on
# a forgotten machine still dies on its own; `scs tokens revoke` ends one at once
CLIENT_TOKEN_TTL = "90d"


def parse_ttl(text: str) -> int:
    from scs_server.settings import parse_duration

    try:
        return parse_duration(text)
    except ValueError as error:
        fail(str(error))


def local_url(settings: Settings) -> str:
    """The MCP URL of the configured server, as a client on this machine reaches it."""
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    return f"http://{host}:{settings.port}/mcp"


async def ensure_agent(app: AuthApp, agent_id: str, agent_type: str) -> tuple[str, str | None]:
    """The id's agent type, registering the id first if needed (returning its new secret).

    Tokens the CLI mints are for registered ids only: an unprotected id could be taken
    over with the shared API key.
    """
    record = await app.auth.agents.find(agent_id)
    if record is not None:
        return record.agent_type, None
    registered = await app.auth.agents.register(
        agent_id, agent_type, admin=True, replace=False, by=CLI_CLIENT, client=CLI_CLIENT
    )
    return agent_type, str(registered["agent_secret"])


def shortfall(
    app: AuthApp, agent_type: str, wanted: list[str], granted: frozenset[str]
) -> str | None:
    """Why fewer permissions were granted than asked, in one line (None if none were lost)."""
    lost = sorted(set(wanted) - granted)
    if not lost:
        return None
    table = app.settings.agent_type_permissions
    if agent_type not in table:
        why = (
            f"agent type {agent_type!r} is not in SCS_AGENT_TYPE_PERMISSIONS, so it gets "
            "what 'readonly' gets"
        )
    else:
        why = f"agent type {agent_type!r} allows only {','.join(table[agent_type]) or 'nothing'}"
    return (
        f"granted {','.join(sorted(granted)) or 'nothing'}, not {','.join(lost)}: {why} "
        "(pick another --agent-type or change SCS_AGENT_TYPE_PERMISSIONS)"
    )


def report_secret(agent_id: str, secret: str | None) -> None:
    if secret is not None:
        note(
            f"registered agent id {agent_id!r}; its agent_secret (shown once, for "
            f"authenticate_agent): {secret}"
        )


@click.command()
@click.option("--agent-id", required=True, help="The agent's stable name.")
@click.option("--agent-type", default="generic", show_default=True)
@click.option(
    "--permissions",
    default="read,write",
    show_default=True,
    help=f"Comma-separated subset of {PERMISSION_NAMES}.",
)
@click.option("--ttl", help="Lifetime, e.g. 90d, 12h, 30m (default SCS_TOKEN_TTL_SECONDS).")
@click.option("--name", help="Record the token under this name (listable, revocable).")
def token(
    agent_id: str, agent_type: str, permissions: str, ttl: str | None, name: str | None
) -> None:
    """Mint a token with the admin's authority (for wiring a client by hand).

    With --ttl or --name the token is a named client token: listed by `scs tokens list`,
    revoked by `scs tokens revoke NAME`. An id that is not registered is registered
    first (its agent_secret is printed once on stderr).
    """
    wanted = [p.strip() for p in permissions.split(",") if p.strip()]
    seconds = parse_ttl(ttl) if ttl is not None else None
    if name is None and seconds is not None:
        name = f"{agent_id}-{secrets.token_hex(3)}"

    async def mint(app: AuthApp) -> tuple[Minted, str | None, str | None]:
        kept_type, secret = await ensure_agent(app, agent_id, agent_type)
        if name is None:
            minted = await app.auth.issue("admin", agent_id, kept_type, wanted, CLI_CLIENT)
        else:
            lifetime = seconds if seconds is not None else app.settings.token_ttl_seconds
            minted = await app.auth.issue_named(
                name, agent_id, kept_type, wanted, lifetime, CLI_CLIENT
            )
        lost = shortfall(app, kept_type, wanted, minted.identity.permissions)
        if kept_type != agent_type:
            lost = (lost + "; " if lost else "") + (
                f"agent id {agent_id!r} is registered with type {kept_type!r}, not {agent_type!r}"
            )
        return minted, secret, lost

    minted, secret, lost = with_auth(settings_from(), mint)
    click.echo(minted.token)
    if lost:
        note(lost)
    report_secret(agent_id, secret)
    expires = minted.as_result()["expires_at"]
    if name is not None:
        note(f"named token {name!r} expires {expires}; revoke it with: scs tokens revoke {name}")


@click.group()
def tokens() -> None:
    """List and revoke named client tokens (with the admin's authority)."""


@tokens.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def tokens_list(as_json: bool) -> None:
    """Named tokens: name, agent, type, permissions, created, expires, last used, status.

    The tokens themselves are never stored, so never shown.
    """
    from scs_server.timestamps import epoch_timestamp

    async def listing(app: AuthApp) -> list[dict[str, Any]]:
        return [named.public() for named in await app.auth.named_tokens()]

    rows = with_auth(settings_from(), listing)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return

    def when(epoch: int | None) -> str:
        return "-" if epoch is None else epoch_timestamp(epoch, micros=False)

    click.echo(
        f"{'name':<24} {'agent_id':<20} {'type':<10} {'permissions':<18} {'created':<21} "
        f"{'expires':<21} {'last_used':<21} status"
    )
    for row in rows:
        click.echo(
            f"{row['name']:<24} {row['agent_id']:<20} {row['agent_type']:<10} "
            f"{','.join(row['permissions']):<18} {when(row['created_at']):<21} "
            f"{when(row['expires_at']):<21} {when(row['last_used']):<21} {row['status']}"
        )


@tokens.command("revoke")
@click.argument("name_or_jti")
def tokens_revoke(name_or_jti: str) -> None:
    """Revoke a named token (by name or jti): refused from this moment, on every call."""

    async def revoke(app: AuthApp) -> dict[str, Any] | None:
        named = await app.auth.revoke_named(name_or_jti)
        return None if named is None else named.public()

    revoked = with_auth(settings_from(), revoke)
    if revoked is None:
        fail(f"no named token {name_or_jti!r} (see `scs tokens list`)", EXIT_FAILED)
    click.echo(f"revoked {revoked['name']} (agent {revoked['agent_id']}, jti {revoked['jti']})")


def connect_command() -> list[str]:
    """How a client starts ``scs connect``: the absolute ``scs`` when found (desktop
    clients do not inherit the shell's PATH), else this interpreter."""
    found = shutil.which("scs")
    if found:
        return [found, "connect"]
    return [sys.executable, "-m", "scs_server.cli", "connect"]


@click.command("client-config")
@click.argument("client", type=click.Choice(CLIENTS))
@click.option("--agent-id", default=None, help="Agent id for the token (default: the client name).")
@click.option("--ttl", default=CLIENT_TOKEN_TTL, show_default=True, help="Token lifetime.")
@click.option("--name", default=None, help="Token name (default: CLIENT-<random>).")
@click.option(
    "--stdio", is_flag=True, help="Connect through `scs connect` (stdio) instead of HTTP."
)
def client_config(
    client: str, agent_id: str | None, ttl: str, name: str | None, stdio: bool
) -> None:
    """Print a ready configuration for an MCP client, with a named token of its own.

    The token lasts --ttl (90 days by default) and can be revoked at once with
    `scs tokens revoke NAME`. The API keys are never printed.
    """
    from scs_server.auth.secrets import ensure_secrets

    settings = ensure_secrets(settings_from())
    seconds = parse_ttl(ttl)
    agent = agent_id or client
    token_name = name or f"{client}-{secrets.token_hex(3)}"
    default_type = client if client in settings.agent_type_permissions else "generic"

    async def mint(app: AuthApp) -> tuple[Minted, str | None]:
        kept_type, secret = await ensure_agent(app, agent, default_type)
        allowed = sorted(app.auth.tokens.allowed_permissions(kept_type))
        minted = await app.auth.issue_named(
            token_name, agent, kept_type, allowed, seconds, CLI_CLIENT
        )
        return minted, secret

    minted, secret = with_auth(settings, mint)
    url = local_url(settings)
    click.echo(render_config(client, url, minted.token, stdio))
    note(
        f"token {token_name!r} for agent {agent!r} expires {minted.as_result()['expires_at']}; "
        f"revoke it with: scs tokens revoke {token_name}; list tokens with: scs tokens list"
    )
    report_secret(agent, secret)


def render_config(client: str, url: str, bearer: str, stdio: bool) -> str:
    """The snippet for ``client``: HTTP with a Bearer header, or ``scs connect`` over stdio
    with the token in its environment (SCS_TOKEN)."""
    if stdio or client == "claude-desktop":
        command = [*connect_command(), "--url", url]
        if client == "claude":
            return (
                f"claude mcp add --transport stdio --env SCS_TOKEN={shlex.quote(bearer)} scs "
                f"-- {shlex.join(command)}"
            )
        entry: dict[str, Any] = {
            "command": command[0],
            "args": command[1:],
            "env": {"SCS_TOKEN": bearer},
        }
        if client == "vscode":
            return json.dumps({"servers": {"scs": {"type": "stdio", **entry}}}, indent=2)
        return json.dumps({"mcpServers": {"scs": entry}}, indent=2)
    header = f"Authorization: Bearer {bearer}"
    if client == "claude":
        return (
            f"claude mcp add --transport http scs {shlex.quote(url)} --header {shlex.quote(header)}"
        )
    headers = {"Authorization": f"Bearer {bearer}"}
    if client == "vscode":
        return json.dumps(
            {"servers": {"scs": {"type": "http", "url": url, "headers": headers}}}, indent=2
        )
    if client == "gemini":
        return json.dumps({"mcpServers": {"scs": {"httpUrl": url, "headers": headers}}}, indent=2)
    return json.dumps({"mcpServers": {"scs": {"url": url, "headers": headers}}}, indent=2)
