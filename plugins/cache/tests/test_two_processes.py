"""Two real ``scs serve`` processes on one database file: a write through one is seen
through the other on the very next read, though both cache."""

from __future__ import annotations

import json
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from scs_server.testing import ADMIN_API_KEY, API_KEY, server_env

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from scs_server.testing import ServerProcess

pytestmark = pytest.mark.slow


class Caller:
    """An agent on one server process, over HTTP with its Bearer token."""

    def __init__(self, client: Client[Any]) -> None:
        self.client = client

    async def call(self, tool: str, **arguments: Any) -> Any:
        result = await self.client.call_tool(tool, arguments, raise_on_error=False)
        text = "".join(getattr(block, "text", "") for block in result.content)
        assert not result.is_error, text
        return json.loads(text)


async def connect(stack: AsyncExitStack, url: str, agent_id: str, agent_type: str) -> Caller:
    key = ADMIN_API_KEY if agent_type == "admin" else API_KEY
    minting = StreamableHttpTransport(url, headers={"X-API-Key": key})
    async with Client(minting) as client:
        arguments: dict[str, Any] = {"agent_id": agent_id, "agent_type": agent_type}
        if agent_type == "admin":
            arguments["requested_permissions"] = ["read", "write", "admin"]
        result = await client.call_tool("authenticate_agent", arguments)
    token = result.structured_content["token"]
    transport = StreamableHttpTransport(url, headers={"Authorization": f"Bearer {token}"})
    return Caller(await stack.enter_async_context(Client(transport)))


def texts(page: dict[str, Any]) -> list[str]:
    return [message["content"] for message in page["messages"]]


async def test_write_through_one_process_is_read_through_the_other(
    scs_process: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    env = server_env(tmp_path, SCS_DATABASE_PATH=str(tmp_path / "shared.db"))
    first = scs_process(env=env)
    second = scs_process(env=env)
    assert first.url and second.url
    async with AsyncExitStack() as stack:
        alice = await connect(stack, first.url, "alice", "claude")
        bob = await connect(stack, second.url, "bob", "gemini")
        admin_on_second = await connect(stack, second.url, "root", "admin")

        session_id = (await alice.call("create_session", purpose="two processes"))["session_id"]
        await alice.call("add_message", session_id=session_id, content="one")
        for _ in range(3):
            assert texts(await bob.call("get_messages", session_id=session_id)) == ["one"]
        cache = (await admin_on_second.call("get_performance_metrics"))["cache"]
        assert cache["hits"] >= 2  # the second process really answers from its cache

        await alice.call("add_message", session_id=session_id, content="two")
        assert texts(await bob.call("get_messages", session_id=session_id)) == ["one", "two"]

        for _ in range(2):
            assert texts(await alice.call("get_messages", session_id=session_id)) == ["one", "two"]
        await bob.call("add_message", session_id=session_id, content="three")
        assert texts(await alice.call("get_messages", session_id=session_id)) == [
            "one", "two", "three",
        ]  # fmt: skip
        assert (await alice.call("get_session", session_id=session_id))["total_count"] == 3
