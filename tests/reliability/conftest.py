"""Helpers of the reliability suite: real ``scs serve`` processes, real HTTP MCP clients.

Every wait is bounded (a count and a deadline); servers run on 127.0.0.1 only and are
stopped by the ``scs_process`` fixture after each test.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from scs_server.testing import ADMIN_API_KEY, API_KEY, server_env

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

# the rate limiter stays on, sized so that it never refuses the suite's agents
# capacity limits (rate buckets, the search queue) are not what these suites test:
# correctness under load is, so nothing here may be refused for capacity
GENEROUS_LIMITS = {
    **{
        f"SCS_RATELIMIT_{kind}_{what}": "1000000"
        for kind in ("AUTH", "READ", "WRITE", "SEARCH", "ADMIN")
        for what in ("PER_MINUTE", "BURST")
    },
    "SCS_SEARCH_QUEUE_TIMEOUT_MS": "600000",
}
# the client's own timeout lies beyond every test's bound (60 s), so the bound decides: a
# 30 s client timeout failed calls the overload test allows (an untyped MCPError)
CALL_TIMEOUT_S = 90.0


def process_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Environment of a server subprocess: test secrets, private data dir, generous limits."""
    return server_env(tmp_path, **{**GENEROUS_LIMITS, **extra})


def client_for(url: str, token: str | None = None) -> Client[Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return Client(StreamableHttpTransport(url, headers=headers), timeout=CALL_TIMEOUT_S)


async def mint(url: str, agent_id: str, agent_type: str = "claude") -> str:
    """A token through ``authenticate_agent`` (the admin key for admins)."""
    key = ADMIN_API_KEY if agent_type == "admin" else API_KEY
    async with client_for(url) as client:
        result = await client.call_tool(
            "authenticate_agent",
            {"agent_id": agent_id, "agent_type": agent_type, "api_key": key},
        )
    token: str = result.structured_content["token"]
    return token


async def mint_many(url: str, agents: list[tuple[str, str]]) -> dict[str, str]:
    """Tokens for many (agent_id, agent_type) pairs over one connection."""
    tokens: dict[str, str] = {}
    async with client_for(url) as client:
        for agent_id, agent_type in agents:
            key = ADMIN_API_KEY if agent_type == "admin" else API_KEY
            result = await client.call_tool(
                "authenticate_agent",
                {"agent_id": agent_id, "agent_type": agent_type, "api_key": key},
            )
            tokens[agent_id] = result.structured_content["token"]
    return tokens


def body_of(result: Any) -> Any:
    """A tool result's JSON: structured content, or the text parsed (errors are JSON text)."""
    if not result.is_error and result.structured_content is not None:
        content = result.structured_content
        if isinstance(content, dict) and set(content) == {"result"}:
            return content["result"]
        return content
    text = "".join(getattr(block, "text", "") for block in result.content)
    try:
        return json.loads(text)
    except ValueError:
        return {"error": text}


@dataclass
class Outcome:
    """What a call came back with: ``ok`` and its JSON, or the error code (or exception)."""

    ok: bool
    body: Any
    code: str | None = None


async def attempt(client: Client[Any], tool: str, bound_s: float = 60, **arguments: Any) -> Outcome:
    """One call, bounded in time; never raises (a transport failure is ``EXC:<type>``)."""
    try:
        result = await asyncio.wait_for(
            client.call_tool(tool, arguments, raise_on_error=False), bound_s
        )
    except Exception as error:
        return Outcome(False, None, f"EXC:{type(error).__name__}")
    body = body_of(result)
    if result.is_error:
        code = body.get("code") if isinstance(body, dict) else None
        return Outcome(False, body, str(code) if code else "UNTYPED")
    return Outcome(True, body)


@dataclass
class Ledger:
    """Acknowledged writes: message id -> (session id, content)."""

    acked: dict[int, tuple[str, str]] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)

    def check_against(self, stored: dict[int, tuple[str, str]]) -> None:
        """Every acked message is stored with its content, and no content twice."""
        missing = [mid for mid in self.acked if mid not in stored]
        altered = [mid for mid, v in self.acked.items() if mid in stored and stored[mid] != v]
        seen: dict[str, int] = {}
        for _mid, (_sid, content) in stored.items():
            seen[content] = seen.get(content, 0) + 1
        twice = [c for c, n in seen.items() if n > 1]
        assert not missing, f"{len(missing)} acknowledged messages lost, e.g. {missing[:5]}"
        assert not altered, f"{len(altered)} messages altered, e.g. {altered[:5]}"
        assert not twice, f"{len(twice)} messages stored more than once, e.g. {twice[:3]}"


def stored_messages(db_path: Path) -> dict[int, tuple[str, str]]:
    """Every message in the file, read with plain sqlite3 (the server may be stopped)."""
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        rows = conn.execute("SELECT id, session_id, content FROM messaging_messages").fetchall()
    return {int(r[0]): (str(r[1]), str(r[2])) for r in rows}


def integrity(db_path: Path) -> str:
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


async def poll(
    check: Callable[[], Awaitable[bool]], deadline_s: float, every_s: float = 0.1
) -> bool:
    """Await ``check()`` until it is true or the deadline passes; True if it became true."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(every_s)
    return False


async def writer(
    client: Client[Any],
    session_id: str,
    name: str,
    ledger: Ledger,
    stop: asyncio.Event,
    max_calls: int,
) -> None:
    """Add messages back to back until ``stop`` or ``max_calls``; record every ack."""
    for n in range(max_calls):
        if stop.is_set():
            return
        content = f"{name}/{n}/{time.monotonic_ns()}"
        outcome = await attempt(client, "add_message", 30, session_id=session_id, content=content)
        if outcome.ok:
            ledger.acked[int(outcome.body["message_id"])] = (session_id, content)
        else:
            ledger.refused.append(outcome.code or "")
            if (outcome.code or "").startswith("EXC:"):
                return  # the server is gone (killed or stopped): this writer is done


async def close_quietly(clients: list[Client[Any]], bound_s: float = 15) -> None:
    """Leave client contexts whose server may be dead, without hanging the test."""
    for client in clients:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.__aexit__(None, None, None), bound_s)
