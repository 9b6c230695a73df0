"""Named client tokens (`scs token --ttl/--name`, `scs tokens list|revoke`), SCS_TOKEN over
stdio for tools and resources, and refresh_token with no argument (grace window)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import jwt
import pytest
from click.testing import CliRunner, Result
from fastmcp import Client
from fastmcp.client.transports import StdioTransport
from scs_server.cli import cli
from scs_server.testing import JWT_SECRET, ScsServer, parse_error, parse_result, server_env


def cli_env(db: Path | ScsServer) -> dict[str, str]:
    """The CLI's environment on a database: a SQLite file, or a test server's database
    (its file, or its PostgreSQL URL on the PostgreSQL run)."""
    if isinstance(db, Path):
        env = server_env(db.parent, SCS_DATABASE_PATH=str(db))
    else:
        settings = db.app.settings
        env = server_env(settings.db_path.parent, SCS_DATABASE_PATH=str(settings.db_path))
        if settings.database_url is not None:
            env["SCS_DATABASE_URL"] = settings.database_url.get_secret_value()
    return {k: v for k, v in env.items() if k.startswith("SCS_")}


async def run_cli(db: Path | ScsServer, *args: str) -> Result:
    """Run the CLI in a thread (it runs its own event loop) on the server's database."""
    runner = CliRunner()
    return await asyncio.to_thread(runner.invoke, cli, list(args), env=cli_env(db))


async def call(client: Client[Any], tool: str, **arguments: Any) -> Any:
    result = await client.call_tool(tool, arguments, raise_on_error=False)
    if result.is_error:
        raise parse_error(result)
    return parse_result(result)


async def test_named_token_lasts_is_listed_and_revoked_at_once(scs_factory: Any) -> None:
    server: ScsServer = await scs_factory(http=True)
    db = server
    minted = await run_cli(
        db, "token", "--agent-id", "laptop-bot", "--ttl", "90d", "--name", "laptop"
    )
    assert minted.exit_code == 0, minted.output
    token = minted.stdout.strip()
    claims = jwt.decode(token, JWT_SECRET, algorithms=["HS256"], audience="scs-mcp")
    assert claims["exp"] - claims["iat"] == 90 * 86400  # far beyond SCS_TOKEN_TTL_SECONDS
    assert "scs tokens revoke laptop" in minted.stderr

    client = await server.open_client(token)
    created = await call(client, "create_session", purpose="named token works")
    assert created["session_id"]

    listed = await run_cli(db, "tokens", "list", "--json")
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [row["name"] for row in rows] == ["laptop"]
    row = rows[0]
    assert row["agent_id"] == "laptop-bot" and row["status"] == "active"
    assert row["permissions"] == ["read", "write"]
    assert row["expires_at"] == claims["exp"] and row["last_used"] is not None
    assert token not in listed.output
    table = await run_cli(db, "tokens", "list")
    assert "laptop-bot" in table.stdout and token not in table.output

    taken = await run_cli(
        db, "token", "--agent-id", "laptop-bot", "--ttl", "1d", "--name", "laptop"
    )
    assert taken.exit_code == 2 and "named 'laptop' already" in taken.output

    revoked = await run_cli(db, "tokens", "revoke", "laptop")
    assert revoked.exit_code == 0, revoked.output
    refused = await client.call_tool(
        "create_session", {"purpose": "after revoke"}, raise_on_error=False
    )
    assert refused.is_error and parse_error(refused).code == "AUTH_004"
    after = json.loads((await run_cli(db, "tokens", "list", "--json")).stdout)
    assert after[0]["status"] == "revoked"
    missing = await run_cli(db, "tokens", "revoke", "nope")
    assert missing.exit_code == 1 and "no named token 'nope'" in missing.output
    # a revoked token's name can be used again
    again = await run_cli(
        db, "token", "--agent-id", "laptop-bot", "--ttl", "1d", "--name", "laptop"
    )
    assert again.exit_code == 0, again.output


async def test_named_token_ttl_is_bounded_and_shortfalls_are_said(scs_factory: Any) -> None:
    server: ScsServer = await scs_factory()
    db = server
    too_long = await run_cli(db, "token", "--agent-id", "a", "--ttl", "400d", "--name", "x")
    assert too_long.exit_code == 2 and "SCS_MAX_TOKEN_TTL" in too_long.output
    bad_unit = await run_cli(db, "token", "--agent-id", "a", "--ttl", "9w")
    assert bad_unit.exit_code == 2 and "not a duration" in bad_unit.output
    assert await run_cli(db, "tokens", "list", "--json") is not None
    lesser = await run_cli(
        db,
        "token",
        "--agent-id",
        "reader",
        "--agent-type",
        "readonly",
        "--permissions",
        "read,write",
    )
    assert lesser.exit_code == 0, lesser.output
    assert jwt.decode(lesser.stdout.strip(), JWT_SECRET, algorithms=["HS256"], audience="scs-mcp")[
        "permissions"
    ] == ["read"]
    assert "granted read, not write" in lesser.stderr
    unknown = await run_cli(db, "token", "--agent-id", "odd", "--agent-type", "martian")
    assert "not in SCS_AGENT_TYPE_PERMISSIONS" in unknown.stderr


async def test_client_config_mints_a_named_90_day_token(scs_factory: Any) -> None:
    server: ScsServer = await scs_factory()
    db = server
    result = await run_cli(db, "client-config", "cursor", "--name", "my-cursor")
    assert result.exit_code == 0, result.output
    config = json.loads(result.stdout)
    bearer = config["mcpServers"]["scs"]["headers"]["Authorization"].removeprefix("Bearer ")
    claims = jwt.decode(bearer, JWT_SECRET, algorithms=["HS256"], audience="scs-mcp")
    assert claims["exp"] - claims["iat"] == 90 * 86400 and claims["tkn"] == "my-cursor"
    assert "scs tokens revoke my-cursor" in result.stderr
    admin_key = server_env(server.app.settings.db_path.parent)["SCS_ADMIN_API_KEY"]
    assert admin_key not in result.output
    stdio = await run_cli(db, "client-config", "claude-desktop", "--name", "desk")
    entry = json.loads(stdio.stdout)["mcpServers"]["scs"]
    assert "connect" in [entry["command"], *entry["args"]]
    assert entry["env"]["SCS_TOKEN"].startswith("ey")


async def test_refresh_without_argument_renews_own_token_with_grace(scs_factory: Any) -> None:
    server: ScsServer = await scs_factory(http=True)
    agent = await server.agent("renewer")
    client = await server.open_client(agent.token)  # the token only as a Bearer header
    renewed = await call(client, "refresh_token")
    assert renewed["token"] != agent.token and renewed["agent_id"] == "renewer"
    # the old token still works during the grace window, the new one works too
    assert (await call(client, "create_session", purpose="grace"))["session_id"]
    fresh = await server.open_client(renewed["token"])
    assert (await call(fresh, "create_session", purpose="new"))["session_id"]
    # single use: the old token cannot be refreshed a second time
    again = await client.call_tool("refresh_token", {}, raise_on_error=False)
    assert again.is_error and parse_error(again).code == "AUTH_004"
    # an explicit revocation ends the grace window at once
    await call(fresh, "revoke_token", token=agent.token)
    refused = await client.call_tool("create_session", {"purpose": "x"}, raise_on_error=False)
    assert refused.is_error and parse_error(refused).code == "AUTH_004"


async def test_refresh_without_grace_refuses_old_token_at_once(scs_factory: Any) -> None:
    server: ScsServer = await scs_factory(http=True, refresh_grace_s=0)
    agent = await server.agent("strict")
    client = await server.open_client(agent.token)
    renewed = await call(client, "refresh_token")
    refused = await client.call_tool("create_session", {"purpose": "x"}, raise_on_error=False)
    assert refused.is_error and parse_error(refused).code == "AUTH_004"
    fresh = await server.open_client(renewed["token"])
    assert (await call(fresh, "create_session", purpose="new"))["session_id"]


async def test_refresh_of_named_token_keeps_name_and_lifetime(scs_factory: Any) -> None:
    server: ScsServer = await scs_factory(http=True)
    db = server
    minted = await run_cli(db, "token", "--agent-id", "keeper", "--ttl", "30d", "--name", "keep")
    client = await server.open_client(minted.stdout.strip())
    renewed = await call(client, "refresh_token")
    claims = jwt.decode(renewed["token"], JWT_SECRET, algorithms=["HS256"], audience="scs-mcp")
    assert claims["tkn"] == "keep" and claims["exp"] - claims["iat"] == 30 * 86400
    rows = json.loads((await run_cli(db, "tokens", "list", "--json")).stdout)
    assert rows[0]["jti"] == claims["jti"]
    await run_cli(db, "tokens", "revoke", "keep")
    fresh = await server.open_client(renewed["token"])
    refused = await fresh.call_tool("create_session", {"purpose": "x"}, raise_on_error=False)
    assert refused.is_error and parse_error(refused).code == "AUTH_004"


@pytest.mark.slow
async def test_scs_token_identifies_stdio_tools_and_resources(tmp_path: Path) -> None:
    db = tmp_path / "scs.db"
    minted = await run_cli(db, "token", "--agent-id", "desk", "--ttl", "1d", "--name", "desk")
    assert minted.exit_code == 0, minted.output
    transport = StdioTransport(
        command=sys.executable,
        args=["-m", "scs_server.cli", "serve", "--transport", "stdio"],
        env=server_env(tmp_path, SCS_TOKEN=minted.stdout.strip()),
        cwd=str(tmp_path),
    )
    async with Client(transport) as client:
        created = await call(client, "create_session", purpose="over stdio")  # no auth_token
        contents = await client.read_resource(f"session://{created['session_id']}")
        view = json.loads(contents[0].text)
        assert view["session"]["created_by"] == "desk"
        memory = await client.read_resource("agent://desk/memory")
        assert memory[0].text
