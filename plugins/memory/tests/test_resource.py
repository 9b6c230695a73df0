"""agent://{agent_id}/memory over real HTTP: readable only by that agent or an admin."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from mcp.shared.exceptions import MCPError

if TYPE_CHECKING:
    from fastmcp import Client
    from scs_server.testing import ScsServer, ServerFactory


async def _read(client: Client[Any], agent_id: str) -> dict[str, Any]:
    contents = await client.read_resource(f"agent://{agent_id}/memory")
    return json.loads(contents[0].text)  # type: ignore[union-attr]


async def _refused(client: Client[Any], agent_id: str) -> dict[str, Any]:
    with pytest.raises(MCPError) as raised:
        await client.read_resource(f"agent://{agent_id}/memory")
    return json.loads(raised.value.message)


@pytest.fixture
async def http_server(scs_factory: ServerFactory, helpers: Any) -> ScsServer:
    return await scs_factory(plugins=helpers.plugins, http=True, allow_anonymous_read=True)


async def test_owner_reads_own_memory(http_server: ScsServer, helpers: Any) -> None:
    alice = await http_server.agent("alice")
    session_id = await helpers.create_session(alice)
    await alice.call("set_memory", key="plan", value={"steps": [1, 2]}, metadata={"m": 1})
    await alice.call("set_memory", key="note", value="in session", session_id=session_id)
    await alice.call("set_memory", key="gone", value=1)
    await alice.call("delete_memory", key="gone")

    body = await _read(alice.client, "alice")
    assert body["agent_id"] == "alice"
    assert body["memory"]["global"]["plan"]["value"] == {"steps": [1, 2]}
    assert body["memory"]["global"]["plan"]["metadata"] == {"m": 1}
    assert body["memory"]["global"]["plan"]["version"] == 1
    assert body["memory"]["sessions"][session_id]["note"]["value"] == "in session"
    assert "gone" not in body["memory"]["global"]
    assert body["statistics"] == {
        "global_keys": 1,
        "session_scopes": 1,
        "total_entries": 2,
        "values_omitted": 0,
    }


async def test_other_agents_and_strangers_are_refused(http_server: ScsServer) -> None:
    alice = await http_server.agent("alice")
    await alice.call("set_memory", key="secret", value="alice only")
    bob = await http_server.agent("bob")

    refused = await _refused(bob.client, "alice")
    assert refused["code"] == "AUTH_005"
    assert "alice only" not in json.dumps(refused)

    anonymous = await http_server.open_client()  # no Bearer header: the anonymous reader
    for target in ("alice", "anonymous"):
        assert (await _refused(anonymous, target))["code"] == "AUTH_005"

    # bob's own (empty) memory is fine
    assert (await _read(bob.client, "bob"))["statistics"]["total_entries"] == 0


async def test_without_token_when_anonymous_reads_are_off(
    scs_factory: ServerFactory, helpers: Any
) -> None:
    server = await scs_factory(plugins=helpers.plugins, http=True)
    alice = await server.agent("alice")
    await alice.call("set_memory", key="secret", value=1)
    stranger = await server.open_client()
    assert (await _refused(stranger, "alice"))["code"] == "AUTH_001"
    forged = await server.open_client(token="not-a-real-token")
    assert (await _refused(forged, "alice"))["code"].startswith("AUTH_")


async def test_admin_reads_any_agents_memory(http_server: ScsServer) -> None:
    alice = await http_server.agent("alice")
    await alice.call("set_memory", key="plan", value="v")
    admin = await http_server.agent("root", agent_type="admin")
    body = await _read(admin.client, "alice")
    assert body["memory"]["global"]["plan"]["value"] == "v"


async def test_resource_value_budget(scs_factory: ServerFactory, helpers: Any) -> None:
    server = await scs_factory(
        plugins=helpers.plugins, http=True, env={"SCS_MEMORY_RESOURCE_MAX_KB": "1"}
    )
    alice = await server.agent("alice")
    await alice.call("set_memory", key="a.small", value="x" * 100)
    await alice.call("set_memory", key="b.big", value="y" * 2000)
    body = await _read(alice.client, "alice")
    assert body["memory"]["global"]["a.small"]["value"] == "x" * 100
    big = body["memory"]["global"]["b.big"]
    assert big["value"] is None and big["value_omitted"] is True and big["size"] == 2002
    assert body["statistics"]["values_omitted"] == 1
