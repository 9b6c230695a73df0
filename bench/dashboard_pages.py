"""What the dashboard costs: a session page and the live stream, against floors from
the same run (owned by the dashboard plugin).

    uv run python bench/dashboard_pages.py          # ~20 s on 2 cores, SQLite

One in-process server (default plugins without ratelimit: the seeding would hit it) on 127.0.0.1, one session of 200 messages:

1. page: `GET /ui/sessions/{id}` (200 messages rendered) against the floor
   `get_messages(limit=200)` over MCP (the same read, as JSON) and `GET /health`.
2. live: from just before `add_message` (MCP) to the message's SSE event on
   `/ui/stream` (change feed -> re-read as the viewer -> event).

Prints medians and p95 in milliseconds and the ratios.
"""

from __future__ import annotations

import asyncio
import json
import re
import statistics
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx2
from _common import percentile
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from scs_server.app import create_app
from scs_server.testing import API_KEY, make_settings, parse_result, serve_http

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

MESSAGES = 200
ROUNDS = 40
LIVE = 40


def summary(name: str, values: list[float]) -> tuple[str, float]:
    median = statistics.median(values)
    print(f"{name:<34} median {median:7.2f} ms   p95 {percentile(values, 95):7.2f} ms")
    return name, median


async def timed(make: Callable[[], Awaitable[None]], rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        started = time.perf_counter()
        await make()
        out.append((time.perf_counter() - started) * 1000)
    return out


async def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        app = await create_app(make_settings(Path(folder), "default,-ratelimit"))
        try:
            async with serve_http(app) as url:
                await run(url)
        finally:
            await app.close()


async def run(url: str) -> None:
    base = url.removesuffix("/mcp")
    async with Client(StreamableHttpTransport(url)) as boot:
        minted = parse_result(
            await boot.call_tool(
                "authenticate_agent",
                {"agent_id": "bench", "agent_type": "claude", "api_key": API_KEY},
            )
        )
    token = minted["token"]
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        Client(StreamableHttpTransport(url, headers=headers)) as mcp,
        httpx2.AsyncClient(base_url=base, timeout=30) as http,
    ):
        sid = parse_result(await mcp.call_tool("create_session", {"purpose": "bench"}))[
            "session_id"
        ]
        for i in range(MESSAGES):
            await mcp.call_tool("add_message", {"session_id": sid, "content": f"message {i} " * 8})
        login = await http.get("/ui/login")
        found = re.search(r'name="csrf" value="([^"]+)"', login.text)
        assert found is not None
        nonce = found.group(1)
        done = await http.post("/ui/login", data={"token": token, "csrf": nonce})
        assert done.status_code == 303, done.text

        async def page() -> None:
            response = await http.get(f"/ui/sessions/{sid}")
            assert response.status_code == 200 and response.text.count('class="msg') == MESSAGES

        async def floor_mcp() -> None:
            await mcp.call_tool("get_messages", {"session_id": sid, "limit": MESSAGES})

        async def floor_health() -> None:
            await http.get("/health")

        for warm in (page, floor_mcp, floor_health):
            await warm()
        _, page_ms = summary("GET /ui/sessions/{id} (200 msgs)", await timed(page, ROUNDS))
        _, mcp_ms = summary("floor: get_messages(limit=200)", await timed(floor_mcp, ROUNDS))
        _, health_ms = summary("floor: GET /health", await timed(floor_health, ROUNDS))
        print(
            f"page / get_messages = {page_ms / mcp_ms:.2f}x   page / health = {page_ms / health_ms:.1f}x"
        )

        latencies: list[float] = []
        async with http.stream(
            "GET", "/ui/stream", params={"session_id": sid, "after": str(MESSAGES)}
        ) as stream:
            lines = stream.aiter_lines()
            await anext(lines)
            for i in range(LIVE):
                started = time.perf_counter()
                await mcp.call_tool("add_message", {"session_id": sid, "content": f"live {i}"})
                while True:
                    line = await asyncio.wait_for(anext(lines), 10)
                    if line.startswith("data: ") and json.loads(line[6:])["content"] == f"live {i}":
                        break
                latencies.append((time.perf_counter() - started) * 1000)
        summary("add_message -> SSE event", latencies)


if __name__ == "__main__":
    asyncio.run(main())
