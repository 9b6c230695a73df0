"""Agent registration (security finding 1): the plain API key can no longer become any agent.

Registered ids need their agent secret (or the admin key); ids that held admin permission
are protected automatically; ``SCS_AGENT_REGISTRATION=required`` refuses unregistered ids.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner
from mcp.shared.exceptions import MCPError
from scs_server.cli import cli
from scs_server.settings import Settings
from scs_server.testing import (
    ADMIN_API_KEY,
    API_KEY,
    ToolCallError,
    make_settings,
    parse_error,
    parse_result,
    server_env,
)

if TYPE_CHECKING:
    from pathlib import Path

    from click.testing import Result
    from fastmcp import Client
    from scs_server.testing import ScsServer, ServerFactory


async def call(client: Client[Any], tool: str, **arguments: Any) -> Any:
    """A raw tool call (no token): the result's JSON, or the ToolCallError it answered."""
    result = await client.call_tool(tool, arguments, raise_on_error=False)
    return parse_error(result) if result.is_error else parse_result(result)


async def mint(client: Client[Any], agent_id: str, key: str = API_KEY, **extra: Any) -> Any:
    extra.setdefault("agent_type", "claude")
    return await call(client, "authenticate_agent", agent_id=agent_id, api_key=key, **extra)


async def agents_rows(server: ScsServer) -> list[dict[str, Any]]:
    rows = await server.app.db.fetch_all("SELECT * FROM scs_agents ORDER BY agent_id")
    return [dict(row) for row in rows]


async def audit_results(server: ScsServer, agent_id: str) -> list[tuple[str, str]]:
    rows = await server.app.db.fetch_all(
        "SELECT action, result FROM scs_audit WHERE agent_id = ? ORDER BY id", (agent_id,)
    )
    return [(row[0], row[1]) for row in rows]


# -- the finding's repro --------------------------------------------------------------


async def test_plain_key_cannot_take_a_registered_id(scs_factory: ServerFactory) -> None:
    server = await scs_factory()
    secret = await server.register("boss")
    boss = await server.agent("boss", agent_secret=secret)
    await boss.call("set_memory", key="plan", value="only mine")
    session = await boss.call("create_session", purpose="boss's")

    client = await server.open_client()
    refused = await mint(client, "boss")
    assert isinstance(refused, ToolCallError)
    assert refused.code == "AUTH_AGENT_SECRET_REQUIRED"
    assert "agent_secret" in (refused.hint or "")
    assert ("authenticate", "denied_no_secret") in await audit_results(server, "boss")

    # the impostor under its own name still cannot reach boss's memory or session
    mallory = await server.agent("mallory")
    closing = await mallory.fails("close_session", session_id=session["session_id"])
    assert closing.code == "AUTH_005"
    again = await server.agent("boss", agent_secret=secret)
    assert (await again.call("get_memory", key="plan"))["value"] == "only mine"


async def test_admin_held_id_is_protected_without_registration(
    scs_factory: ServerFactory,
) -> None:
    server = await scs_factory()
    await server.agent("root", "admin")  # minted with the admin key: root is now protected
    rows = await agents_rows(server)
    assert [(r["agent_id"], r["admin_held"], r["secret_hash"]) for r in rows] == [("root", 1, None)]
    client = await server.open_client()
    refused = await mint(client, "root")
    assert isinstance(refused, ToolCallError) and refused.code == "AUTH_AGENT_SECRET_REQUIRED"
    guessed = await mint(client, "root", agent_secret="a-guess")
    assert isinstance(guessed, ToolCallError) and guessed.code == "AUTH_AGENT_SECRET_INVALID"
    taken = await call(client, "register_agent", agent_id="root", api_key=API_KEY)
    assert isinstance(taken, ToolCallError) and taken.code == "AGENT_ALREADY_REGISTERED"
    # the admin key still mints for it
    assert (await mint(client, "root", ADMIN_API_KEY))["agent_id"] == "root"


async def test_unprotected_ids_keep_working_in_optional_mode(scs_factory: ServerFactory) -> None:
    server = await scs_factory()
    assert server.app.settings.registration_mode() == "optional"
    first = await server.agent("casual")
    second = await server.agent("casual")  # anyone with the key, as before
    assert first.agent_id == second.agent_id == "casual"
    # an admin-key token without admin permission does not protect the id in optional mode
    client = await server.open_client()
    assert "token" in await mint(client, "helper", ADMIN_API_KEY)
    assert "token" in await mint(client, "helper")
    assert await agents_rows(server) == []


# -- secrets ------------------------------------------------------------------------


async def test_right_secret_works_wrong_secret_is_an_auth_failure(
    scs_factory: ServerFactory,
) -> None:
    server = await scs_factory(env={"SCS_AUTH_BACKOFF_AFTER": "3"})
    secret = await server.register("worker")
    client = await server.open_client()
    minted = await mint(client, "worker", agent_secret=secret)
    assert minted["agent_id"] == "worker" and minted["permissions"] == ["read", "write"]

    codes = []
    for _ in range(4):
        outcome = await mint(client, "worker", agent_secret=secret[:-1] + "x")
        assert isinstance(outcome, ToolCallError)
        codes.append(outcome.code)
    # wrong secrets are failed authentications: the core's throttle backs the source off
    assert codes == ["AUTH_AGENT_SECRET_INVALID"] * 3 + ["AUTH_008"]
    # ... audited in aggregate (one row per source and window), not one row per guess
    found = await server.app.db.fetch_all(
        "SELECT action, detail FROM scs_audit WHERE action = 'auth_failures'"
    )
    rows = [(row[0], row[1]) for row in found]
    assert len(rows) == 1 and "agent_secret" in rows[0][1]
    # ... and the right secret still works from the same source during the backoff
    again = await mint(client, "worker", agent_secret=secret)
    assert again["agent_id"] == "worker"


async def test_registered_type_is_enforced(scs_factory: ServerFactory) -> None:
    server = await scs_factory()
    secret = await server.register("typed", "claude")
    client = await server.open_client()
    outcome = await mint(client, "typed", agent_type="cursor", agent_secret=secret)
    assert isinstance(outcome, ToolCallError) and outcome.code == "VALIDATION_001"
    assert "'claude'" in (outcome.hint or "")


async def test_admin_key_mints_for_any_registered_id(scs_factory: ServerFactory) -> None:
    server = await scs_factory()
    await server.register("someone", "claude")
    client = await server.open_client()
    minted = await mint(client, "someone", ADMIN_API_KEY, agent_type="generic")
    assert minted["agent_id"] == "someone" and minted["agent_type"] == "generic"


async def test_secret_is_stored_hashed(scs_factory: ServerFactory) -> None:
    server = await scs_factory()
    secret = await server.register("hashed")
    assert len(secret) >= 43  # 32 random bytes, base64url
    rows = await agents_rows(server)
    assert secret not in json.dumps(rows)
    assert rows[0]["secret_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    details = await server.app.db.fetch_all("SELECT detail FROM scs_audit")
    assert secret not in json.dumps([row[0] for row in details])


async def test_tokens_from_before_protection_cannot_be_refreshed(
    scs_factory: ServerFactory,
) -> None:
    server = await scs_factory()
    # an impostor's token for "boss", minted (key only) a while before boss registered
    earlier = int(time.time()) - 60
    stale = server.app.auth.tokens.mint("boss", "claude", frozenset({"read"}), now=earlier)
    secret = await server.register("boss")
    client = await server.open_client()
    refused = await call(client, "refresh_token", current_token=stale.token)
    assert isinstance(refused, ToolCallError) and refused.code == "AUTH_AGENT_SECRET_REQUIRED"
    assert ("refresh", "denied_stale") in await audit_results(server, "boss")

    boss = await server.agent("boss", agent_secret=secret)
    renewed = await call(client, "refresh_token", current_token=boss.token)
    assert renewed["agent_id"] == "boss"

    # a new secret (admin rotation) also retires what the old one minted
    old = server.app.auth.tokens.mint("boss", "claude", frozenset({"read"}), now=earlier + 30)
    await call(
        client, "register_agent", agent_id="boss", agent_type="claude", api_key=ADMIN_API_KEY
    )
    stale_again = await call(client, "refresh_token", current_token=old.token)
    assert isinstance(stale_again, ToolCallError)
    assert stale_again.code == "AUTH_AGENT_SECRET_REQUIRED"
    # unprotected ids refresh as before
    casual = await server.agent("casual")
    assert (await call(client, "refresh_token", current_token=casual.token))["agent_id"] == (
        "casual"
    )


# -- register_agent ---------------------------------------------------------------------


async def test_register_twice(scs_factory: ServerFactory) -> None:
    server = await scs_factory()
    first = await server.register("twice")
    client = await server.open_client()
    again = await call(client, "register_agent", agent_id="twice", api_key=API_KEY)
    assert isinstance(again, ToolCallError) and again.code == "AGENT_ALREADY_REGISTERED"
    assert first not in json.dumps(again.body)
    assert "token" in await mint(client, "twice", agent_secret=first)  # unchanged

    # the admin key rotates: the old secret stops working, the new one works
    rotated = await call(
        client, "register_agent", agent_id="twice", agent_type="claude", api_key=ADMIN_API_KEY
    )
    assert rotated["rotated"] is True and rotated["agent_secret"] != first
    old = await mint(client, "twice", agent_secret=first)
    assert isinstance(old, ToolCallError) and old.code == "AUTH_AGENT_SECRET_INVALID"
    assert "token" in await mint(client, "twice", agent_secret=rotated["agent_secret"])


async def test_concurrent_registrations_of_one_id_give_one_secret(
    scs_factory: ServerFactory,
) -> None:
    server = await scs_factory()
    client = await server.open_client()
    outcomes = await asyncio.gather(
        *(call(client, "register_agent", agent_id="race", api_key=API_KEY) for _ in range(5))
    )
    won = [o for o in outcomes if isinstance(o, dict)]
    lost = [o for o in outcomes if isinstance(o, ToolCallError)]
    assert len(won) == 1 and {e.code for e in lost} == {"AGENT_ALREADY_REGISTERED"}
    assert len(await agents_rows(server)) == 1


@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        ({"agent_id": "x", "api_key": "wrong-key"}, "AUTH_006"),
        ({"agent_id": "no spaces allowed", "api_key": API_KEY}, "VALIDATION_001"),
        ({"agent_id": "x", "agent_type": "Bad Type", "api_key": API_KEY}, "VALIDATION_001"),
        ({"agent_id": "x", "agent_type": "admin", "api_key": API_KEY}, "AUTH_007"),
    ],
)
async def test_bad_registrations_change_nothing(
    scs_factory: ServerFactory, arguments: dict[str, Any], code: str
) -> None:
    server = await scs_factory()
    client = await server.open_client()
    outcome = await call(client, "register_agent", **arguments)
    assert isinstance(outcome, ToolCallError) and outcome.code == code
    assert await agents_rows(server) == []


# -- required mode -------------------------------------------------------------------


def test_required_is_the_default_off_loopback(tmp_path: Path) -> None:
    assert make_settings(tmp_path).registration_mode() == "optional"
    assert make_settings(tmp_path, host="0.0.0.0").registration_mode() == "required"
    assert make_settings(tmp_path, host="10.1.2.3").registration_mode() == "required"
    chosen = make_settings(tmp_path, host="0.0.0.0", agent_registration="optional")
    assert chosen.registration_mode() == "optional"
    assert make_settings(tmp_path, agent_registration="required").registration_mode() == (
        "required"
    )
    assert Settings.model_fields["agent_registration"].default is None


@pytest.mark.parametrize("how", [{"agent_registration": "required"}, {"host": "0.0.0.0"}])
async def test_required_mode_refuses_unregistered_ids(
    scs_factory: ServerFactory, how: dict[str, str]
) -> None:
    server = await scs_factory(**how)
    client = await server.open_client()
    refused = await mint(client, "newcomer")
    assert isinstance(refused, ToolCallError) and refused.code == "AUTH_AGENT_NOT_REGISTERED"
    assert "register_agent" in (refused.hint or "")
    assert await agents_rows(server) == []
    assert ("authenticate", "success") not in await audit_results(server, "newcomer")

    secret = await server.register("newcomer")
    agent = await server.agent("newcomer", agent_secret=secret)
    assert (await agent.call("create_session", purpose="p"))["created_by"] == "newcomer"


async def test_required_mode_admin_mint_protects_the_id(scs_factory: ServerFactory) -> None:
    server = await scs_factory(agent_registration="required")
    client = await server.open_client()
    assert "token" in await mint(client, "ops", ADMIN_API_KEY)
    # else anyone with the API key could now register "ops" and take it over
    taken = await call(client, "register_agent", agent_id="ops", api_key=API_KEY)
    assert isinstance(taken, ToolCallError) and taken.code == "AGENT_ALREADY_REGISTERED"


# -- the resource --------------------------------------------------------------------


async def test_impostor_cannot_read_agent_memory_resource(scs_factory: ServerFactory) -> None:
    server = await scs_factory(http=True)
    secret = await server.register("boss")
    boss = await server.agent("boss", agent_secret=secret)
    await boss.call("set_memory", key="k", value="boss's secret plan")
    contents = await boss.client.read_resource("agent://boss/memory")
    assert "boss's secret plan" in contents[0].text  # type: ignore[union-attr]

    with pytest.raises(ToolCallError) as raised:
        await server.agent("boss")
    assert raised.value.code == "AUTH_AGENT_SECRET_REQUIRED"
    mallory = await server.agent("mallory")
    with pytest.raises(MCPError) as refused:
        await mallory.client.read_resource("agent://boss/memory")
    assert json.loads(refused.value.message)["code"] == "AUTH_005"


# -- command line -------------------------------------------------------------------


@pytest.fixture
def run_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``scs ...`` through click, in a thread (it runs its own event loop), on the
    database of ``server`` (its SQLite file or its PostgreSQL URL)."""
    for name in list(os.environ):
        if name.startswith("SCS_"):
            monkeypatch.delenv(name)
    env = {k: v for k, v in server_env(tmp_path).items() if k.startswith("SCS_")}

    async def invoke(server: ScsServer, *args: str) -> Result:
        settings = server.app.settings
        extra = {"SCS_DATABASE_PATH": str(settings.db_path), "SCS_PLUGINS": "default"}
        if settings.database_url is not None:
            extra["SCS_DATABASE_URL"] = settings.database_url.get_secret_value()
        return await asyncio.to_thread(
            CliRunner().invoke, cli, list(args), env={**env, **extra}, catch_exceptions=False
        )

    return invoke


async def test_cli_agents_add_list_remove(scs_factory: ServerFactory, run_cli: Any) -> None:
    server = await scs_factory()
    db = server
    added = await run_cli(db, "agents", "add", "cli-agent", "--agent-type", "claude")
    assert added.exit_code == 0, added.output
    secret = added.stdout.strip()
    assert len(secret) >= 43 and "\n" not in secret

    listed = await run_cli(db, "agents", "list", "--json")
    rows = json.loads(listed.stdout)
    assert [(r["agent_id"], r["agent_type"], r["has_secret"]) for r in rows] == [
        ("cli-agent", "claude", True)
    ]
    assert secret not in listed.output
    table = await run_cli(db, "agents", "list")
    assert "cli-agent" in table.output and secret not in table.output

    # the server sees the registration: the secret is needed, and works
    client = await server.open_client()
    refused = await mint(client, "cli-agent")
    assert isinstance(refused, ToolCallError) and refused.code == "AUTH_AGENT_SECRET_REQUIRED"
    assert "token" in await mint(client, "cli-agent", agent_secret=secret)

    again = await run_cli(db, "agents", "add", "cli-agent")
    assert again.exit_code != 0 and "registered already" in again.output
    rotated = await run_cli(db, "agents", "add", "cli-agent", "--agent-type", "claude", "--rotate")
    assert rotated.exit_code == 0 and rotated.stdout.strip() != secret
    stale = await mint(client, "cli-agent", agent_secret=secret)
    assert isinstance(stale, ToolCallError) and stale.code == "AUTH_AGENT_SECRET_INVALID"

    removed = await run_cli(db, "agents", "remove", "cli-agent")
    assert removed.exit_code == 0
    assert json.loads((await run_cli(db, "agents", "list", "--json")).stdout) == []
    assert "token" in await mint(client, "cli-agent")  # unprotected again (optional mode)
    missing = await run_cli(db, "agents", "remove", "cli-agent")
    assert missing.exit_code == 1 and "not registered" in missing.output


async def test_cli_client_config_registers_its_agent(
    scs_factory: ServerFactory, run_cli: Any
) -> None:
    server = await scs_factory()
    db = server
    first = await run_cli(db, "client-config", "cursor", "--agent-id", "my-cursor")
    assert first.exit_code == 0, first.output
    snippet = json.loads(first.stdout)
    assert snippet["mcpServers"]["scs"]["headers"]["Authorization"].startswith("Bearer ey")
    secret = first.stderr.split("agent_secret (shown once, for authenticate_agent): ")[1].strip()
    rows = json.loads((await run_cli(db, "agents", "list", "--json")).stdout)
    assert [(r["agent_id"], r["agent_type"]) for r in rows] == [("my-cursor", "cursor")]

    client = await server.open_client()
    refused = await mint(client, "my-cursor", agent_type="cursor")
    assert isinstance(refused, ToolCallError) and refused.code == "AUTH_AGENT_SECRET_REQUIRED"
    assert "token" in await mint(client, "my-cursor", agent_type="cursor", agent_secret=secret)

    # run again: reuses the registration (no new secret), the old secret still works
    second = await run_cli(db, "client-config", "cursor", "--agent-id", "my-cursor")
    assert second.exit_code == 0 and "agent_secret" not in second.stderr
    assert "token" in await mint(client, "my-cursor", agent_type="cursor", agent_secret=secret)


async def test_cli_token_for_registered_and_admin_ids(
    scs_factory: ServerFactory, run_cli: Any
) -> None:
    server = await scs_factory()
    db = server
    await server.register("wired", "claude")
    made = await run_cli(db, "token", "--agent-id", "wired", "--agent-type", "claude")
    assert made.exit_code == 0, made.output
    token = made.stdout.strip()
    client = await server.open_client()
    assert (await call(client, "get_memory", key="none", auth_token=token)).code == (
        "MEMORY_NOT_FOUND"
    )

    boss = await run_cli(
        db, "token", "--agent-id", "cli-boss", "--agent-type", "admin", "--permissions", "admin"
    )
    assert boss.exit_code == 0, boss.output
    refused = await mint(client, "cli-boss")
    assert isinstance(refused, ToolCallError) and refused.code == "AUTH_AGENT_SECRET_REQUIRED"


async def test_cli_check_shows_the_effective_mode(scs_factory: ServerFactory, run_cli: Any) -> None:
    server = await scs_factory()
    db = server
    local = json.loads((await run_cli(db, "check")).stdout)
    assert local["settings"]["agent_registration"] == "optional"
    exposed = await asyncio.to_thread(
        CliRunner().invoke,
        cli,
        ["check"],
        env={
            **{k: v for k, v in server_env(server.tmp_path).items() if k.startswith("SCS_")},
            "SCS_DATABASE_PATH": str(server.app.settings.db_path),
            "SCS_HOST": "0.0.0.0",
        },
    )
    assert json.loads(exposed.stdout)["settings"]["agent_registration"] == "required"
