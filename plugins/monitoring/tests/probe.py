"""A test-only plugin: tools that succeed, fail with a chosen code, take a while (or hold
the event loop), or wait."""

from __future__ import annotations

import asyncio
import time
import types
from typing import TYPE_CHECKING, Any

from scs_server import ScsError, hookimpl, requires

if TYPE_CHECKING:
    from fastmcp import FastMCP
    from scs_server.app import App


class Gate:
    """Lets a test hold a call inside its tool."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()


def scs_register(app: App, mcp: FastMCP[Any]) -> None:
    gate = Gate()
    app.services.provide(Gate, gate, by="probe")

    @mcp.tool(tags=requires("read"))
    async def probe_ok() -> dict[str, Any]:
        return {"success": True}

    @mcp.tool(tags=requires("read"))
    async def probe_fail(code: str) -> dict[str, Any]:
        raise ScsError(code, "failing on purpose")

    @mcp.tool(tags=requires("read"))
    async def probe_sleep(ms: int) -> dict[str, Any]:
        await asyncio.sleep(ms / 1000)
        return {"success": True}

    @mcp.tool(tags=requires("read"))
    async def probe_block(ms: int) -> dict[str, Any]:
        time.sleep(ms / 1000)  # holds the event loop on purpose
        return {"success": True}

    @mcp.tool(tags=requires("read"))
    async def probe_wait() -> dict[str, Any]:
        gate.entered.set()
        await gate.release.wait()
        return {"success": True}


def module() -> types.ModuleType:
    probe = types.ModuleType("scs_test_monitoring_probe")
    probe.scs_register = hookimpl(scs_register)  # type: ignore[attr-defined]
    return probe
