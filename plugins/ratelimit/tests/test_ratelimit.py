"""Rate limits through a real MCP client: refusal, recovery, independence, exemption."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import pytest
from scs_server.testing import ADMIN_API_KEY, Agent, ToolCallError, parse_error, parse_result

from . import probe

if TYPE_CHECKING:
    from scs_server.testing import ScsServer, ServerFactory

# A burst of 2 is spent by two calls, and one token a minute refills nothing within a
# test, however slow the machine (at one a second, three calls taking over a second
# under load found the bucket refilled). The recovery test sets one a second itself.
SMALL = {
    f"SCS_RATELIMIT_{cls}_{what}": value
    for cls in ("AUTH", "READ", "WRITE", "SEARCH", "ADMIN")
    for what, value in (("PER_MINUTE", "1"), ("BURST", "2"))
}


async def small_server(scs_factory: ServerFactory, **env: str) -> ScsServer:
    return await scs_factory(
        "default,probe", env={**SMALL, **env}, extra_plugins={"probe": probe.module()}
    )


async def spend(agent: Agent, tool: str, **arguments: Any) -> ToolCallError:
    """Call until refused (bounded); return the refusal."""
    for _ in range(10):
        try:
            await agent.call(tool, **arguments)
        except ToolCallError as error:
            return error
    raise AssertionError(f"{tool} was never rate limited")


async def poll_until_allowed(agent: Agent, tool: str, deadline_s: float = 10) -> None:
    """Call until allowed (bounded by ``deadline_s``)."""
    started = time.monotonic()
    while True:
        try:
            await agent.call(tool)
        except ToolCallError as error:
            assert error.code == "RATE_LIMITED"
            assert time.monotonic() - started < deadline_s, "the bucket never refilled"
            await asyncio.sleep(0.05)
        else:
            return


async def test_refused_with_retry_after_then_recovers(scs_factory: ServerFactory) -> None:
    server = await small_server(scs_factory, SCS_RATELIMIT_READ_PER_MINUTE="60")
    alice = await server.agent("alice")
    error = await spend(alice, "probe_read")
    assert error.code == "RATE_LIMITED"
    assert error.body["retry_after"] == 1  # one token a second, rounded up to whole seconds
    assert error.body["rate_class"] == "read"
    assert error.hint and "retry" in error.hint
    await poll_until_allowed(alice, "probe_read")  # it refills (no timed assertion)


async def test_refused_write_writes_nothing(scs_factory: ServerFactory) -> None:
    server = await small_server(scs_factory)
    alice = await server.agent("alice")
    await alice.call("probe_write", note="one")
    await alice.call("probe_write", note="two")
    error = await alice.fails("probe_write", note="three")
    assert error.code == "RATE_LIMITED"
    assert await probe.rows(server.app) == ["one", "two"]


async def test_agents_have_their_own_buckets(scs_factory: ServerFactory) -> None:
    server = await small_server(scs_factory)
    alice = await server.agent("alice")
    bob = await server.agent("bob")
    assert (await spend(alice, "probe_read")).code == "RATE_LIMITED"
    await bob.call("probe_read")
    await bob.call("probe_read")
    assert (await bob.fails("probe_read")).code == "RATE_LIMITED"


async def test_classes_have_their_own_buckets(scs_factory: ServerFactory) -> None:
    server = await small_server(scs_factory)
    alice = await server.agent("alice")
    assert (await spend(alice, "probe_read")).code == "RATE_LIMITED"
    await alice.call("probe_search")
    await alice.call("probe_write", note="still allowed")
    assert (await spend(alice, "probe_search")).body["rate_class"] == "search"
    assert (await alice.fails("probe_read")).code == "RATE_LIMITED"


async def test_class_sizes_come_from_settings(scs_factory: ServerFactory) -> None:
    server = await small_server(scs_factory, SCS_RATELIMIT_SEARCH_BURST="5")
    alice = await server.agent("alice")
    for _ in range(5):
        await alice.call("probe_search")
    assert (await alice.fails("probe_search")).code == "RATE_LIMITED"


async def test_admins_exempt_by_default(scs_factory: ServerFactory) -> None:
    server = await small_server(scs_factory)
    admin = await server.agent("root", agent_type="admin")
    for _ in range(6):
        await admin.call("probe_admin")
        await admin.call("probe_read")


async def test_admins_limited_when_not_exempt(scs_factory: ServerFactory) -> None:
    server = await small_server(scs_factory, SCS_RATELIMIT_EXEMPT_ADMINS="false")
    admin = await server.agent("root", agent_type="admin")
    error = await spend(admin, "probe_admin")
    assert error.code == "RATE_LIMITED"
    assert error.body["rate_class"] == "admin"


async def test_authenticate_limited_per_address(scs_factory: ServerFactory) -> None:
    server = await small_server(scs_factory)
    client = await server.open_client()
    arguments = {"agent_id": "a", "agent_type": "claude", "api_key": ADMIN_API_KEY}
    codes = []
    for _ in range(3):
        result = await client.call_tool("authenticate_agent", arguments, raise_on_error=False)
        codes.append(parse_error(result).code if result.is_error else "ok")
    assert codes == ["ok", "ok", "RATE_LIMITED"]


async def test_agents_of_one_credential_share_its_aggregate(scs_factory: ServerFactory) -> None:
    # per agent: burst 2; per credential: 1.5 x 2 = 3 calls for all its agents together
    server = await small_server(
        scs_factory, SCS_RATELIMIT_CREDENTIAL_MULTIPLIER="1.5", SCS_RATELIMIT_AUTH_BURST="10"
    )
    agents = [await server.agent(f"free-id-{i}") for i in range(3)]
    for agent in agents:
        await agent.call("probe_read")
    error = await agents[0].fails("probe_read")  # its own bucket still holds a token
    assert error.code == "RATE_LIMITED" and error.body["scope"] == "credential"
    assert error.body["retry_after"] >= 1
    # a token minted with another credential (the admin key, non-admin rights) has its own
    client = await server.open_client()
    result = await client.call_tool(
        "authenticate_agent",
        {"agent_id": "other", "requested_permissions": ["read"], "api_key": ADMIN_API_KEY},
        raise_on_error=False,
    )
    token = parse_result(result)["token"]
    await Agent(client, "other", "generic", token).call("probe_read")
    assert server.app.host.stats(server.app)["ratelimit"]["refused_by_scope"]["credential"] == 1


@pytest.mark.parametrize("plugins", ["default,-ratelimit,probe"])
async def test_server_works_without_ratelimit(scs_factory: ServerFactory, plugins: str) -> None:
    server = await scs_factory(plugins, env=SMALL, extra_plugins={"probe": probe.module()})
    alice = await server.agent("alice")
    for _ in range(6):
        await alice.call("probe_read")
    assert "ratelimit" not in server.app.plugins


async def test_refused_add_message_adds_nothing(scs_factory: ServerFactory) -> None:
    server = await scs_factory(env=SMALL)
    alice = await server.agent("alice")
    session_id = (await alice.call("create_session", purpose="limits"))["session_id"]
    await alice.call("add_message", session_id=session_id, content="fits")
    error = await alice.fails("add_message", session_id=session_id, content="refused")
    assert error.code == "RATE_LIMITED" and error.body["retry_after"] >= 1
    page = await alice.call("get_messages", session_id=session_id)
    assert [m["content"] for m in page["messages"]] == ["fits"]


async def test_anonymous_readers_limited_per_address(scs_factory: ServerFactory) -> None:
    server = await scs_factory(
        "default,probe",
        env=SMALL,
        extra_plugins={"probe": probe.module()},
        allow_anonymous_read=True,
    )
    alice = await server.agent("alice")
    anonymous = await server.open_client()
    codes = []
    for _ in range(3):
        result = await anonymous.call_tool("probe_read", {}, raise_on_error=False)
        codes.append(parse_error(result).code if result.is_error else "ok")
    assert codes == ["ok", "ok", "RATE_LIMITED"]
    await alice.call("probe_read")  # a named agent has its own bucket


async def test_permission_refusals_are_not_failed_authentications(
    scs_factory: ServerFactory,
) -> None:
    server = await small_server(scs_factory, SCS_AUTH_BACKOFF_AFTER="3")
    alice = await server.agent("alice")
    codes = {(await alice.fails("probe_admin")).code for _ in range(6)}
    assert codes == {"AUTH_005"}
    assert server.app.auth.throttle.stats()["failures"] == {}
