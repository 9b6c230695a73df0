"""Refusals outside ``tools/call`` are JSON-RPC errors with a proper code (invalid params,
internal, or scs's one refusal code) and the typed body in ``data``; unknown methods are
"Method not found"; a tool's refusal stays an ``isError`` result. Both protocol eras: the
handshake era (2025-11-25) and the 2026-07-28 envelope."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import httpx2
import pytest
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS, METHOD_NOT_FOUND
from scs_server.middleware import REFUSED

if TYPE_CHECKING:
    from scs_server.testing import ScsServer, ServerFactory

pytestmark = pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")

ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
MODERN = "2026-07-28"
ENVELOPE = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientCapabilities": {},
}


@pytest.fixture
async def server(scs_factory: ServerFactory) -> ScsServer:
    return await scs_factory(http=True)


def answer(response: httpx2.Response) -> dict[str, Any]:
    """The JSON-RPC answer, sent as JSON or as one SSE event."""
    text = response.text
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        text = next(line[5:] for line in text.splitlines() if line.startswith("data:"))
    body: dict[str, Any] = json.loads(text)
    return body


class Era:
    """Raw JSON-RPC over streamable HTTP, in one protocol era."""

    def __init__(self, http: httpx2.AsyncClient, url: str, modern: bool) -> None:
        self.http, self.url, self.modern = http, url, modern
        self.headers = dict(ACCEPT)
        self.next_id = 1

    async def start(self) -> None:
        if self.modern:
            self.headers["mcp-protocol-version"] = MODERN
            return
        first = await self.request(
            "initialize",
            {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "1"},
            },
        )
        assert first["result"]["protocolVersion"] == "2025-11-25"
        self.headers["mcp-protocol-version"] = "2025-11-25"
        await self.http.post(
            self.url,
            headers=self.headers,
            json={"jsonrpc": "2.0", "method": "notifications/initialized"},
        )

    async def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self.next_id += 1
        if self.modern:
            params = {**params, "_meta": ENVELOPE}
        headers = dict(self.headers)
        if self.modern:  # the 2026-07-28 routing headers mirror the body
            headers["mcp-method"] = method
            if name := params.get("uri", params.get("name")):
                headers["mcp-name"] = name
        response = await self.http.post(
            self.url,
            headers=headers,
            json={"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params},
        )
        if sid := response.headers.get("mcp-session-id"):
            self.headers["mcp-session-id"] = sid
        return answer(response)


@pytest.mark.parametrize("modern", [False, True], ids=["2025-11-25", MODERN])
async def test_protocol_errors_carry_codes(server: ScsServer, modern: bool) -> None:
    assert server.url is not None
    async with httpx2.AsyncClient(timeout=30) as http:
        era = Era(http, server.url, modern)
        await era.start()

        unknown = await era.request("no/such-method", {})
        assert unknown["error"]["code"] == METHOD_NOT_FOUND

        # a request whose own params do not parse: invalid params, for tools/call too
        for method in ("resources/read", "prompts/get", "tools/call"):
            error = (await era.request(method, {}))["error"]
            assert error["code"] == INVALID_PARAMS, (method, error)
            assert error["data"]["code"] == "VALIDATION_001"
            assert method in error["data"]["hint"]

        # a refusal that is not about the params: scs's refusal code, the typed body in data
        memory = (await era.request("resources/read", {"uri": "agent://alice/memory"}))["error"]
        assert memory["code"] == REFUSED
        assert memory["data"]["code"] == "AUTH_001"
        assert json.loads(memory["message"])["code"] == "AUTH_001"  # 1.x clients read this


@pytest.mark.parametrize("mode", ["legacy", MODERN])
async def test_official_client_sees_codes_and_tool_errors_stay_results(
    server: ScsServer, mode: str
) -> None:
    alice = await server.agent("alice")
    client = await server.open_client(alice.token, mode=mode)

    with pytest.raises(MCPError) as raised:
        await client.read_resource("session://no-such-session")
    assert raised.value.code == INVALID_PARAMS
    assert raised.value.data["code"] == "RESOURCE_001"

    with pytest.raises(MCPError) as raised:
        await client.read_resource("agent://bob/memory")  # another agent's memory
    assert raised.value.code == REFUSED
    assert raised.value.data["code"] == "AUTH_005"

    # a tool's refusal is a result the model reads, not a protocol error
    result = await client.call_tool(
        "get_session", {"session_id": "no-such-session"}, raise_on_error=False
    )
    assert result.is_error
    assert json.loads(result.content[0].text)["code"] == "RESOURCE_001"  # type: ignore[union-attr]
