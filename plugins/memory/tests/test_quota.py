"""The per-agent byte quota: checked in the write transaction, refused writes change nothing."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scs_server.testing import Agent, ServerFactory

QUOTA = {"SCS_MEMORY_MAX_BYTES_PER_AGENT": "4096"}
VALUE = "v" * 998  # 1,000 bytes as JSON (the quotes count)


async def values(agent: Agent) -> dict[str, str]:
    listed = await agent.call("list_memory", limit=100)
    return {
        entry["key"]: (await agent.call("get_memory", key=entry["key"]))["value"]
        for entry in listed["entries"]
    }


async def test_a_write_past_the_byte_quota_is_refused_and_writes_nothing(
    scs_factory: ServerFactory,
) -> None:
    server = await scs_factory(plugins="sessions,memory", env=QUOTA)
    alice = await server.agent("alice")
    bob = await server.agent("bob")
    for n in range(4):
        assert (await alice.call("set_memory", key=f"k{n}", value=VALUE))["size"] == 1000
    refused = await alice.fails("set_memory", key="k4", value=VALUE)
    assert refused.code == "LIMIT_EXCEEDED"
    assert (refused.body["limit_bytes"], refused.body["bytes"]) == (4096, 4000)
    assert (await alice.fails("get_memory", key="k4")).code == "MEMORY_NOT_FOUND"

    grown = await alice.fails("set_memory", key="k0", value=VALUE + "x" * 100)
    assert grown.code == "LIMIT_EXCEEDED"
    assert (await alice.call("get_memory", key="k0"))["version"] == 1
    assert (await alice.call("set_memory", key="k0", value="small"))["version"] == 2
    assert (await alice.call("set_memory", key="k0", value=VALUE + "x" * 96))["version"] == 3

    assert (await bob.call("set_memory", key="k4", value=VALUE))["created"] is True  # per agent
    await alice.call("delete_memory", key="k1")
    assert (await alice.call("set_memory", key="k4", value=VALUE))["created"] is True
    assert sorted(await values(alice)) == ["k0", "k2", "k3", "k4"]


async def test_concurrent_writes_cannot_slip_past_the_quota_together(
    scs_factory: ServerFactory,
) -> None:
    server = await scs_factory(plugins="sessions,memory", env=QUOTA)
    alice = await server.agent("alice")
    outcomes = await asyncio.gather(
        *(alice.call("set_memory", key=f"k{n}", value=VALUE) for n in range(8)),
        return_exceptions=True,
    )
    stored = [o for o in outcomes if isinstance(o, dict)]
    assert len(stored) == 4
    assert {getattr(o, "code", None) for o in outcomes if not isinstance(o, dict)} == {
        "LIMIT_EXCEEDED"
    }
    assert len(await values(alice)) == 4


async def test_the_quota_counts_session_scopes_and_ignores_expired_entries(
    scs_factory: ServerFactory,
) -> None:
    server = await scs_factory(plugins="sessions,memory", env=QUOTA)
    alice = await server.agent("alice")
    session_id = (await alice.call("create_session", purpose="quota"))["session_id"]
    for n in range(2):
        await alice.call("set_memory", key=f"g{n}", value=VALUE)
        await alice.call("set_memory", key=f"s{n}", value=VALUE, session_id=session_id)
    assert (await alice.fails("set_memory", key="g9", value=VALUE)).code == "LIMIT_EXCEEDED"
    expired = await server.app.db.execute(  # let one entry expire
        "UPDATE memory_entries SET expires_at = ? WHERE key = ?",
        ("2000-01-01T00:00:00.000000Z", "g0"),
    )
    assert expired == 1
    assert (await alice.call("set_memory", key="g9", value=VALUE))["created"] is True
