"""Stopping ``scs serve`` with a dashboard tab (``/ui/stream``) and a ``/events`` reader
open: both streams end at once and the process exits without uvicorn's 10 s grace."""

from __future__ import annotations

import asyncio
import signal
import time
from typing import TYPE_CHECKING, Any

import httpx2
import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from scs_server.testing import ADMIN_API_KEY, API_KEY

from .ui import Browser

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

pytestmark = pytest.mark.slow

EXIT_WITHIN_S = 5.0  # well under uvicorn's 10 s graceful-shutdown timeout


async def _token(url: str) -> tuple[str, str]:
    """A token for bob and a session with a message (over MCP)."""
    async with Client(StreamableHttpTransport(url), timeout=30) as client:
        minted = await client.call_tool(
            "authenticate_agent", {"agent_id": "bob", "agent_type": "claude", "api_key": API_KEY}
        )
        token: str = minted.structured_content["token"]
    auth = {"Authorization": f"Bearer {token}"}
    async with Client(StreamableHttpTransport(url, headers=auth), timeout=30) as client:
        created = await client.call_tool("create_session", {"purpose": "shutdown"})
        session_id: str = created.structured_content["session_id"]
    return token, session_id


async def _lines_until_end(lines: AsyncIterator[str], seen: list[str]) -> None:
    async for line in lines:
        seen.append(line)


async def test_sigterm_ends_open_streams_and_the_process_promptly(scs_process: Any) -> None:
    server = scs_process()
    base = server.url.removesuffix("/mcp")
    token, session_id = await _token(server.url)
    ui = Browser(base)
    try:
        await ui.logged_in(ADMIN_API_KEY)
        async with (
            httpx2.AsyncClient(base_url=base, timeout=30) as plain,
            plain.stream("GET", "/events", headers={"Authorization": f"Bearer {token}"}) as events,
            ui.http.stream("GET", "/ui/stream", params={"session_id": session_id}) as tab,
        ):
            assert events.status_code == 200
            assert tab.status_code == 200
            event_lines, tab_lines = events.aiter_lines(), tab.aiter_lines()
            seen_events: list[str] = []
            seen_tab: list[str] = []
            async with asyncio.timeout(20):  # both streams are open and flowing
                while ": connected" not in seen_events:
                    seen_events.append(await anext(event_lines))
                while ": connected" not in seen_tab:
                    seen_tab.append(await anext(tab_lines))
            server.process.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            # each stream sees its end (the server finishes the response) within the bound
            async with asyncio.timeout(EXIT_WITHIN_S):
                await asyncio.gather(
                    _lines_until_end(event_lines, seen_events),
                    _lines_until_end(tab_lines, seen_tab),
                )
        deadline = signalled + EXIT_WITHIN_S
        while server.process.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert server.process.poll() == 0, server.log()
        log = server.log()
        assert "timeout graceful shutdown exceeded" not in log
        assert "scs stopped; database closed" in log
    finally:
        await ui.close()
