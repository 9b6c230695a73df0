"""``DirectMiddleware`` runs a middleware's hooks where FastMCP's ``Middleware`` would:
``on_request`` around the method's hook, in ``order`` among the other layers, the
method's hook only in the component's own pass (not for a request whose params did not
parse). Through a real MCP client over HTTP."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import httpx2
import pytest
from fastmcp.server.middleware import Middleware
from scs_server import current_identity, hookimpl
from scs_server.middleware import INNER_ORDER, OUTER_ORDER, DirectMiddleware
from scs_server.testing import sqlite_only

if TYPE_CHECKING:
    from fastmcp.server.middleware import CallNext, MiddlewareContext
    from scs_server.app import App
    from scs_server.testing import ServerFactory


class Outer(DirectMiddleware):
    """Before auth: sees every request, and tool calls without a caller."""

    order = OUTER_ORDER

    def __init__(self, seen: list[str]) -> None:
        self.seen = seen

    async def on_request(
        self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]
    ) -> Any:
        self.seen.append(f"outer request {context.method}")
        return await call_next(context)

    async def on_call_tool(
        self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]
    ) -> Any:
        identity = current_identity()
        self.seen.append(f"outer tool {context.message.name} as {identity}")
        return await call_next(context)


class Inner(DirectMiddleware):
    """After auth: knows the caller; rewrites the result."""

    order = INNER_ORDER

    def __init__(self, seen: list[str]) -> None:
        self.seen = seen

    async def on_call_tool(
        self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]
    ) -> Any:
        identity = current_identity()
        self.seen.append(f"inner tool {context.message.name} as {identity and identity.agent_id}")
        return await call_next(context)


class Innermost(Middleware):
    """FastMCP's own kind, after both: the layers still nest in order."""

    order = INNER_ORDER + 10

    def __init__(self, seen: list[str]) -> None:
        self.seen = seen

    async def on_call_tool(
        self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]
    ) -> Any:
        self.seen.append(f"innermost tool {context.message.name}")
        return await call_next(context)


class Probe:
    def __init__(self) -> None:
        self.seen: list[str] = []

    @hookimpl
    def scs_middleware(self, app: App) -> list[Middleware]:
        return [Innermost(self.seen), Inner(self.seen), Outer(self.seen)]


@sqlite_only  # no data: one engine is enough
async def test_hooks_run_in_order_around_a_tool_call(scs_factory: ServerFactory) -> None:
    probe = Probe()
    server = await scs_factory("sessions,probe", http=True, extra_plugins={"probe": probe})
    alice = await server.agent("alice")
    await alice.call("create_session", purpose="warm up")  # the client lists the tools first
    probe.seen.clear()
    await alice.call("create_session", purpose="layers")
    assert probe.seen == [
        "outer request tools/call",
        "outer tool create_session as None",
        "inner tool create_session as alice",
        "innermost tool create_session",
    ]
    probe.seen.clear()
    await alice.client.list_tools()  # no hook of theirs for the method: only on_request
    assert probe.seen == ["outer request tools/list"]


@sqlite_only
async def test_params_that_did_not_parse_reach_on_request_only(scs_factory: ServerFactory) -> None:
    probe = Probe()
    server = await scs_factory("sessions,probe", http=True, extra_plugins={"probe": probe})
    alice = await server.agent("alice")
    probe.seen.clear()
    assert server.url
    modern = "2026-07-28"
    headers = {
        "authorization": f"Bearer {alice.token}",
        "accept": "application/json, text/event-stream",
        "content-type": "application/json",
        "mcp-protocol-version": modern,
        "mcp-method": "tools/call",
    }
    envelope = {
        "io.modelcontextprotocol/protocolVersion": modern,
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    body = {"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"_meta": envelope}}
    async with httpx2.AsyncClient(timeout=30) as http:
        answer = await http.post(server.url, headers=headers, content=json.dumps(body))
    text = answer.text
    if answer.headers.get("content-type", "").startswith("text/event-stream"):
        text = next(line[5:] for line in text.splitlines() if line.startswith("data:"))
    assert json.loads(text)["error"]["data"]["code"] == "VALIDATION_001"
    assert probe.seen == ["outer request tools/call"]


def test_a_message_or_notification_hook_is_refused() -> None:
    with pytest.raises(TypeError, match="does not run on_message"):

        class Watcher(DirectMiddleware):
            async def on_message(
                self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]
            ) -> Any:
                return await call_next(context)

    with pytest.raises(TypeError, match="does not run on_notification"):

        class Listener(DirectMiddleware):
            async def on_notification(
                self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]
            ) -> Any:
                return await call_next(context)
