"""``SCS_STRUCTURED_CONTENT``: tool results carry their JSON once (text) or twice (text and
``structuredContent``, the default), seen through a real MCP client over HTTP."""

from __future__ import annotations

import json
import types
from typing import TYPE_CHECKING, Any

import pytest
from pydantic import BaseModel
from scs_server import hookimpl, requires
from scs_server.tools import OPEN_OBJECT_SCHEMA

if TYPE_CHECKING:
    from fastmcp import FastMCP
    from scs_server.app import App
    from scs_server.testing import Agent, ScsServer, ServerFactory


class Reading(BaseModel):
    sensor: str
    value: float


def scs_register(app: App, mcp: FastMCP[Any]) -> None:
    @mcp.tool(tags=requires("read"))
    async def schema_reading() -> Reading:
        """A tool whose output schema says what it returns."""
        return Reading(sensor="s1", value=0.5)


def typed_plugin() -> types.ModuleType:
    plugin = types.ModuleType("scs_test_structured_typed")
    plugin.scs_register = hookimpl(scs_register)  # type: ignore[attr-defined]
    return plugin


async def serve(scs_factory: ServerFactory, structured: bool) -> ScsServer:
    return await scs_factory(
        "default,typed",
        http=True,
        extra_plugins={"typed": typed_plugin()},
        structured_content=structured,
    )


async def raw_call(agent: Agent, tool: str, **arguments: Any) -> Any:
    return await agent.client.call_tool(tool, {"auth_token": agent.token, **arguments})


def text_of(result: Any) -> Any:
    assert len(result.content) == 1
    return json.loads(result.content[0].text)


@pytest.mark.parametrize("structured", [True, False], ids=["default", "text-only"])
async def test_results_carry_the_same_json_with_or_without_structured_content(
    scs_factory: ServerFactory, structured: bool
) -> None:
    server = await serve(scs_factory, structured)
    alice = await server.agent("alice")
    schemas = {tool.name: tool.output_schema for tool in await alice.client.list_tools()}
    sid = (await alice.call("create_session", purpose="twice or once"))["session_id"]
    await alice.call("add_message", session_id=sid, content="hello")

    for _ in range(2):  # the second answer comes from the response cache
        page = await raw_call(alice, "get_messages", session_id=sid)
        body = text_of(page)
        assert [m["content"] for m in body["messages"]] == ["hello"]
        if structured:
            assert schemas["get_messages"] == OPEN_OBJECT_SCHEMA
            assert page.structured_content == body
        else:
            assert schemas["get_messages"] is None
            assert page.structured_content is None
    # a tool that describes its result keeps its schema, and so its structured content
    reading = await raw_call(alice, "schema_reading")
    assert schemas["schema_reading"] is not None
    assert schemas["schema_reading"]["properties"]["sensor"] == {"type": "string"}
    assert reading.structured_content == text_of(reading) == {"sensor": "s1", "value": 0.5}
    # errors are as they always were
    failed = await alice.fails("get_session", session_id="session_0000000000000000")
    assert failed.code == "RESOURCE_001"


async def test_text_only_results_keep_the_inbox_notice(scs_factory: ServerFactory) -> None:
    server = await serve(scs_factory, structured=False)
    alice = await server.agent("alice")
    bob = await server.agent("bob")
    await alice.call("send_direct_message", to="bob", content="ping")
    result = await raw_call(bob, "list_sessions")
    assert result.structured_content is None
    assert text_of(result)["pending"] == {"inbox": 1}
