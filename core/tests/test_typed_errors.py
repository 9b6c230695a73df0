"""A refusal (``ScsError``) raised in a tool, resource or prompt body, or by a call hook,
reaches the client as the same JSON text, and stays out of the error log: ``ScsError``
does not subclass FastMCP's ``ToolError`` (the CLI must not import FastMCP), the server
hands it over as ``scs_server.middleware.WireError``."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
from scs_server import ScsError, hookimpl, requires
from scs_server.errors import ErrorCode

if TYPE_CHECKING:
    from fastmcp import FastMCP
    from scs_server.app import App
    from scs_server.request import Call
    from scs_server.testing import ServerFactory

REFUSAL = ScsError(ErrorCode.CONFLICT, "taken", "pick another", holder="bob")
EXPECTED = {"success": False, "code": "CONFLICT", "error": "taken", "hint": "pick another"}


@dataclass
class Refuser:
    """A test plugin whose components refuse; records the codes the hooks saw."""

    codes: list[str | None] = field(default_factory=list)

    @hookimpl
    def scs_register(self, app: App, mcp: FastMCP[Any]) -> None:
        @mcp.tool(tags=requires("read"))
        async def refuse_async() -> dict[str, Any]:
            raise REFUSAL

        @mcp.tool(tags=requires("read"))
        def refuse_sync(reason: str) -> dict[str, Any]:
            raise ScsError(ErrorCode.VALIDATION, reason)

        @mcp.resource("refuse://thing", tags=requires("read"))
        def thing() -> str:
            raise REFUSAL

        @mcp.resource("refuse://item/{number}", tags=requires("read"))
        async def item(number: int) -> str:
            if number > 1:
                raise REFUSAL
            return f"item {number + 1}"

        @mcp.prompt(name="refuse-prompt")
        def refuse_prompt(times: int) -> str:
            if times > 1:
                raise REFUSAL
            return f"prompted {times + 1}"

    @hookimpl
    def scs_call_finished(self, call: Call) -> None:
        self.codes.append(call.error)


def loud(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.WARNING]


async def test_refusals_from_bodies_reach_the_client_unchanged_and_quietly(
    scs_factory: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    refuser = Refuser()
    server = await scs_factory("sessions,refuser", http=True, extra_plugins={"refuser": refuser})
    alice = await server.agent("alice")
    caplog.set_level(logging.DEBUG)
    caplog.clear()

    error = await alice.fails("refuse_async")
    assert error.body == {**EXPECTED, "holder": "bob"}
    error = await alice.fails("refuse_sync", reason="no, thanks")
    assert error.body == {"success": False, "code": "VALIDATION_001", "error": "no, thanks"}

    async with server.client(token=alice.token) as client:
        # arguments are still validated and coerced through the wrapped bodies
        assert (await client.read_resource("refuse://item/1"))[0].text == "item 2"  # type: ignore[union-attr]
        prompt = await client.get_prompt("refuse-prompt", {"times": "1"})
        assert "prompted 2" in str(prompt.messages[0].content)
        for read in (
            lambda: client.read_resource("refuse://thing"),
            lambda: client.read_resource("refuse://item/2"),
            lambda: client.get_prompt("refuse-prompt", {"times": "2"}),
        ):
            with pytest.raises(Exception) as raised:
                await read()
            text = str(raised.value)
            assert json.loads(text[text.index("{") :]) == {**EXPECTED, "holder": "bob"}

    assert refuser.codes[-7:] == ["CONFLICT", "VALIDATION_001", None, None, *["CONFLICT"] * 3]
    assert loud(caplog) == []


async def test_a_refusal_from_a_hook_and_from_auth_keeps_its_text(
    scs_factory: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    refuser = Refuser()
    server = await scs_factory("sessions,refuser", http=True, extra_plugins={"refuser": refuser})
    caplog.set_level(logging.DEBUG)
    async with server.client() as client:
        result = await client.call_tool("refuse_async", {}, raise_on_error=False)
        with pytest.raises(Exception, match='"code": "AUTH_001"'):
            await client.read_resource("refuse://thing")
    assert result.is_error
    body = json.loads(result.content[0].text)  # type: ignore[union-attr]
    assert body["code"] == "AUTH_001" and body["success"] is False and body["hint"]
    assert refuser.codes[-2:] == ["AUTH_001", "AUTH_001"]
    assert loud(caplog) == []
