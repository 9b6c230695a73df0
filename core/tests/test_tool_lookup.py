"""``ScsFastMCP`` finds tools as FastMCP does: with its lone provider directly, with
more providers through FastMCP's own lookup; unknown tools and disabled ones are not
found."""

from __future__ import annotations

from typing import Any

import pytest
from fastmcp import Client, FastMCP
from fastmcp.exceptions import ToolError
from fastmcp.server.providers import FastMCPProvider
from scs_server.server import ScsFastMCP


def answering(name: str) -> Any:
    def body() -> dict[str, str]:
        return {"tool": name}

    return body


def server_with(*names: str) -> ScsFastMCP:
    server = ScsFastMCP(name="lookup")
    for name in names:
        server.tool(answering(name), name=name)
    return server


async def call(server: FastMCP[Any], name: str) -> Any:
    async with Client(server) as client:
        return (await client.call_tool(name)).structured_content


async def test_the_lone_provider_answers() -> None:
    server = server_with("alpha", "beta")
    assert len(server.providers) == 1
    assert await call(server, "alpha") == {"tool": "alpha"}
    assert await call(server, "beta") == {"tool": "beta"}
    assert await server.get_tool("gamma") is None
    server.disable(names={"alpha"})
    assert await server.get_tool("alpha") is None
    with pytest.raises(ToolError, match="alpha"):
        await call(server, "alpha")


async def test_more_providers_use_fastmcp_lookup() -> None:
    server = server_with("alpha")
    other = FastMCP(name="other")
    other.tool(answering("delta"), name="delta")
    server.add_provider(FastMCPProvider(other))
    assert len(server.providers) == 2
    assert await call(server, "alpha") == {"tool": "alpha"}
    assert await call(server, "delta") == {"tool": "delta"}
    assert await server.get_tool("gamma") is None
