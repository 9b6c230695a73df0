"""No lock-out of the innocent, no spoofed addresses, aggregate limits (real HTTP server).

Findings 4, 5, the rate parts of 6 and 7 of the security review: someone else's wrong
credentials never get a right one refused; the wrong attempts themselves are throttled,
counted and audited once per source and window; X-Forwarded-For is believed only from
a trusted proxy; agent ids minted from one key share an aggregate; prompts go through
the same limits; /metrics needs an admin credential.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from metrics_scrape import metrics, sample
from scs_server.auth.store import audit_rows
from scs_server.testing import ADMIN_API_KEY, API_KEY, parse_error, parse_result

if TYPE_CHECKING:
    from scs_server.testing import ScsServer, ServerFactory

# a long first backoff: the throttle must still hold when the next call comes, however
# slow the machine
SLOW_BACKOFF = {"auth_backoff_after": 5, "auth_backoff_base_s": 60.0}
METRICS_TOKEN = "metrics-token-" + "q" * 40


async def serve(scs_factory: ServerFactory, **options: Any) -> ScsServer:
    return await scs_factory("default", http=True, **{**SLOW_BACKOFF, **options})


async def call(
    server: ScsServer, tool: str, arguments: dict[str, Any], headers: dict[str, str] | None = None
) -> Any:
    """One tool call on a fresh HTTP client; the result, or the ToolCallError."""
    assert server.url is not None
    async with Client(StreamableHttpTransport(server.url, headers=headers or {})) as client:
        result = await client.call_tool(tool, arguments, raise_on_error=False)
    return parse_error(result) if result.is_error else parse_result(result)


async def mint(server: ScsServer, agent_id: str, key: str = API_KEY, **headers: str) -> Any:
    return await call(
        server, "authenticate_agent", {"agent_id": agent_id}, {"X-API-Key": key, **headers}
    )


async def failure_rows(server: ScsServer) -> list[dict[str, Any]]:
    await server.app.auth.flush_failure_audit()
    rows = await audit_rows(server.app.db, limit=1000)
    return [row for row in rows if row["result"] != "success"]


async def test_wrong_api_keys_never_lock_out_the_right_ones(scs_factory: ServerFactory) -> None:
    # the address may mint 3 tokens a minute: wrong keys must not use that up either
    env = {"SCS_RATELIMIT_AUTH_PER_MINUTE": "1", "SCS_RATELIMIT_AUTH_BURST": "3"}
    server = await serve(scs_factory, env=env)
    codes = [(await mint(server, "x", key=f"wrong-key-{i}-" + "w" * 32)) for i in range(10)]
    assert [c.code for c in codes] == ["AUTH_006"] * 5 + ["AUTH_008"] * 5
    assert all(c.body["retry_after"] >= 30 for c in codes[5:])  # the wrong ones wait
    # at once, from the same address: the right user key and the admin key succeed
    assert (await mint(server, "user"))["agent_id"] == "user"
    assert (await mint(server, "boss", key=ADMIN_API_KEY))["agent_id"] == "boss"

    scraped = await metrics(server, {"X-API-Key": ADMIN_API_KEY})
    assert scraped.status_code == 200
    assert sample(scraped.text, "scs_auth_failures_total", kind="api_key") == 5
    assert sample(scraped.text, "scs_auth_throttled_total") == 5
    rows = await failure_rows(server)  # one row for the source, not one per attempt
    assert [(r["action"], r["client"]) for r in rows] == [("auth_failures", "127.0.0.1")]
    assert rows[0]["detail"].startswith("count=5 kinds=api_key:5 ")


async def test_junk_tokens_never_lock_out_valid_tokens(scs_factory: ServerFactory) -> None:
    server = await serve(scs_factory)
    bob = await server.agent("bob")  # minted, never used yet
    junk = [await call(server, "list_sessions", {"auth_token": f"junk-{i}"}) for i in range(20)]
    assert [j.code for j in junk] == ["AUTH_002"] * 5 + ["AUTH_008"] * 15
    # authenticate_agent and the never-used valid token still work from this address
    assert (await mint(server, "carol"))["agent_id"] == "carol"
    assert (await bob.call("list_sessions"))["success"] is True
    # an expired-or-junk token replayed is refused early too, the valid one is not
    assert (await call(server, "list_sessions", {"auth_token": "junk-0"})).code == "AUTH_008"
    rows = await failure_rows(server)
    assert len(rows) == 1 and rows[0]["detail"].startswith("count=5 kinds=token:5 ")
    assert server.app.auth.throttle.stats()["throttled"] == 16


async def test_forged_forwarded_for_is_ignored(scs_factory: ServerFactory) -> None:
    server = await serve(scs_factory)
    for i in range(5):
        forged = {"X-Forwarded-For": f"203.0.113.{i}"}
        assert (await mint(server, "x", key=f"bad-{i}-" + "b" * 32, **forged)).code == "AUTH_006"
    # a new forged address does not get the locked-out source a fresh allowance
    fresh = await mint(server, "x", key="bad-next-" + "b" * 32, **{"X-Forwarded-For": "10.9.9.9"})
    assert fresh.code == "AUTH_008"
    rows = await failure_rows(server)
    assert [r["client"] for r in rows] == ["127.0.0.1"]


async def test_forwarded_for_is_believed_from_a_trusted_proxy(scs_factory: ServerFactory) -> None:
    server = await serve(scs_factory, trusted_proxies=["127.0.0.1"])
    for i in range(5):
        proxied = {"X-Forwarded-For": "203.0.113.7"}
        assert (await mint(server, "x", key=f"bad-{i}-" + "b" * 32, **proxied)).code == "AUTH_006"
    throttled = await mint(
        server, "x", key="bad-next-" + "b" * 32, **{"X-Forwarded-For": "203.0.113.7"}
    )
    assert throttled.code == "AUTH_008"
    # another client behind the same proxy is its own source
    other = await mint(server, "x", key="bad-other-" + "b" * 32, **{"X-Forwarded-For": "10.1.2.3"})
    assert other.code == "AUTH_006"
    rows = await failure_rows(server)
    assert sorted(r["client"] for r in rows) == ["10.1.2.3", "203.0.113.7"]


async def test_agent_ids_from_one_key_share_its_aggregate(scs_factory: ServerFactory) -> None:
    env = {
        "SCS_RATELIMIT_WRITE_PER_MINUTE": "6",
        "SCS_RATELIMIT_WRITE_BURST": "2",
        "SCS_RATELIMIT_CREDENTIAL_MULTIPLIER": "1.5",  # 3 writes for all of the key's agents
    }
    server = await serve(scs_factory, env=env)
    agents = [await server.agent(f"free-id-{i}") for i in range(3)]
    for agent in agents:
        await agent.call("create_session", purpose="fill")
    refused = await agents[0].fails("create_session", purpose="one too many")
    assert refused.code == "RATE_LIMITED" and refused.body["scope"] == "credential"
    listed = await agents[1].call("list_sessions")
    assert len(listed["sessions"]) == 3  # the refused call wrote nothing


async def prompt_code(client: Client[Any]) -> str:
    try:
        await client.get_prompt("setup-collaboration", {"purpose": "p"})
    except Exception as error:  # the MCP client raises the server's error text
        for code in ("RATE_LIMITED", "AUTH_008"):
            if code in str(error):
                return code
        raise
    return "ok"


async def test_prompts_are_rate_limited(scs_factory: ServerFactory) -> None:
    env = {"SCS_RATELIMIT_READ_PER_MINUTE": "6", "SCS_RATELIMIT_READ_BURST": "2"}
    server = await serve(scs_factory, env=env)
    alice = await server.agent("alice")
    assert [await prompt_code(alice.client) for _ in range(3)] == ["ok", "ok", "RATE_LIMITED"]


async def test_junk_bearer_prompts_are_throttled_and_not_audited_each(
    scs_factory: ServerFactory,
) -> None:
    server = await serve(scs_factory)
    junk = await server.open_client(token="junk-bearer")
    codes = [await prompt_code(junk) for _ in range(12)]
    # the first few are answered as an anonymous caller would be, then refused early
    assert codes == ["ok"] * 5 + ["AUTH_008"] * 7
    rows = await failure_rows(server)
    assert len(rows) == 1 and rows[0]["detail"].startswith("count=5 kinds=token:5 ")


async def test_metrics_needs_an_admin_credential_and_is_throttled(
    scs_factory: ServerFactory,
) -> None:
    server = await serve(scs_factory, env={"SCS_MONITORING_METRICS_TOKEN": METRICS_TOKEN})
    assert (await metrics(server, {"X-API-Key": API_KEY})).status_code == 403
    assert (await metrics(server, {"X-API-Key": ADMIN_API_KEY})).status_code == 200
    assert (await metrics(server, {"Authorization": f"Bearer {METRICS_TOKEN}"})).status_code == 200
    statuses = [
        (await metrics(server, {"X-API-Key": f"guess-{i}-" + "g" * 32})).status_code
        for i in range(6)
    ]
    assert statuses == [403] * 4 + [429] * 2  # the plain key was the first failure
    throttled = await metrics(server, {"X-API-Key": "guess-again-" + "g" * 32})
    assert int(throttled.headers["retry-after"]) >= 30
    # the right credentials are still accepted from the throttled address
    scraped = await metrics(server, {"X-API-Key": ADMIN_API_KEY})
    assert scraped.status_code == 200
    assert sample(scraped.text, "scs_auth_failures_total", kind="metrics") == 5
    assert (await metrics(server, {"X-API-Key": METRICS_TOKEN})).status_code == 200


@pytest.mark.parametrize("value", ["*", "not-an-address", "10.0.0.0/33"])
async def test_trusted_proxies_must_be_addresses(scs_factory: ServerFactory, value: str) -> None:
    with pytest.raises(ValueError, match="not an IP address or CIDR"):
        await scs_factory("default", trusted_proxies=[value])
