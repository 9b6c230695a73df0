"""The official `mcp` Python SDK client drives the tools over streamable HTTP and over
stdio through `scs connect` (a real `scs serve` subprocess behind both)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from scs_server.testing import server_env

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow


def named_token(tmp_path: Path, agent_id: str) -> str:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "scs_server.cli",
            "token",
            "--agent-id",
            agent_id,
            "--ttl",
            "1d",
            "--name",
            agent_id,
        ],
        env=server_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout.strip()


async def tool(session: ClientSession, name: str, **arguments: Any) -> Any:
    result = await session.call_tool(name, arguments)
    assert not result.is_error, result.content
    if result.structured_content is not None:
        return result.structured_content
    return json.loads("".join(getattr(block, "text", "") for block in result.content))


async def exercise(session: ClientSession, agent_id: str) -> None:
    """Every plugin's main tools and a resource, as one agent."""
    await session.initialize()
    names = {t.name for t in (await session.list_tools()).tools}
    assert {"create_session", "add_message", "set_memory", "search_context"} <= names
    created = await tool(session, "create_session", purpose=f"sdk {agent_id}")
    sid = created["session_id"]
    assert sid in json.dumps(await tool(session, "get_session", session_id=sid))
    await tool(session, "add_message", session_id=sid, content="the sdk was here")
    messages = await tool(session, "get_messages", session_id=sid)
    assert [m["content"] for m in messages["messages"]] == ["the sdk was here"]
    found = await tool(session, "search_context", session_id=sid, query="sdk was here")
    assert found["results"]
    await tool(session, "set_memory", key="k", value={"n": 1})
    assert (await tool(session, "get_memory", key="k"))["value"] == {"n": 1}
    view = await session.read_resource(f"session://{sid}")
    assert "the sdk was here" in view.contents[0].text


async def test_sdk_client_over_http(scs_process: Any, tmp_path: Path) -> None:
    server = scs_process()
    token = named_token(tmp_path, "sdk-http")
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
    async with (
        http,
        streamable_http_client(server.url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await exercise(session, "sdk-http")


async def test_sdk_client_through_scs_connect(scs_process: Any, tmp_path: Path) -> None:
    server = scs_process()
    token = named_token(tmp_path, "sdk-stdio")
    parameters = StdioServerParameters(
        command=sys.executable,
        args=["-m", "scs_server.cli", "connect", "--url", server.url, "--no-start"],
        env=server_env(tmp_path, SCS_TOKEN=token),
        cwd=str(tmp_path),
    )
    async with stdio_client(parameters) as (read, write), ClientSession(read, write) as session:
        await exercise(session, "sdk-stdio")
