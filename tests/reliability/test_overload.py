"""Overload: 200 concurrent agents against a pool of 20 connections.

Every call succeeds or fails with a clear typed error within a bound; no deadlock
(the server answers promptly afterwards); no acknowledged write is lost; memory stays
bounded.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest

from .conftest import (
    Ledger,
    Outcome,
    attempt,
    client_for,
    close_quietly,
    integrity,
    mint_many,
    process_env,
    rss_kib,
    stored_messages,
)

if TYPE_CHECKING:
    from fastmcp import Client

pytestmark = pytest.mark.slow

AGENTS = 200
CONNECTIONS = 50  # agents share MCP connections (auth_token argument), as subagents do
ROUNDS = 1
CALL_BOUND_S = 60.0
# refusals an overloaded server may give; anything else (or no code) fails the test
CLEAR_REFUSALS = {"DATABASE_BUSY", "RATE_LIMITED"}
RSS_GROWTH_LIMIT_MIB = 400


async def agent_round(
    client: Client[Any], name: str, token: str, session_id: str, n: int, ledger: Ledger
) -> list[Outcome]:
    """One agent's burst: a write, a page read, a session view and a memory write, at once."""
    content = f"{name}/{n}"
    bound, me = CALL_BOUND_S, {"auth_token": token}
    calls = await asyncio.gather(
        attempt(client, "add_message", bound, session_id=session_id, content=content, **me),
        attempt(client, "get_messages", bound, session_id=session_id, limit=100, **me),
        attempt(client, "get_session", bound, session_id=session_id, **me),
        attempt(client, "set_memory", bound, key=f"k{n}", value={"n": n}, **me),
    )
    if calls[0].ok:
        ledger.acked[int(calls[0].body["message_id"])] = (session_id, content)
    return list(calls)


async def test_200_agents_on_a_pool_of_20(scs_process: Any, tmp_path: Any) -> None:
    server = scs_process(env=process_env(tmp_path, SCS_DB_POOL_SIZE="20", SCS_LOG_LEVEL="WARNING"))
    names = [f"agent-{n:03d}" for n in range(AGENTS)]
    tokens = await mint_many(server.url, [(n, "claude") for n in names] + [("boss", "admin")])
    async with client_for(server.url, tokens["boss"]) as boss:
        sessions = [
            (await attempt(boss, "create_session", purpose=f"overload {n}")).body["session_id"]
            for n in range(4)
        ]
    clients = [client_for(server.url) for _ in range(CONNECTIONS)]
    gate = asyncio.Semaphore(20)

    async def enter(client: Client[Any]) -> None:
        async with gate:
            await asyncio.wait_for(client.__aenter__(), 60)

    await asyncio.gather(*(enter(c) for c in clients))
    rss_before = rss_kib(server.process.pid)
    ledger = Ledger()
    outcomes: list[Outcome] = []
    try:
        for n in range(ROUNDS):
            started = time.monotonic()
            rounds = await asyncio.wait_for(
                asyncio.gather(
                    *(
                        agent_round(
                            clients[i % CONNECTIONS],
                            name,
                            tokens[name],
                            sessions[i % len(sessions)],
                            n,
                            ledger,
                        )
                        for i, name in enumerate(names)
                    )
                ),
                CALL_BOUND_S + 30,
            )
            outcomes.extend(o for r in rounds for o in r)
            assert time.monotonic() - started < CALL_BOUND_S + 30
    finally:
        await close_quietly(clients)

    codes = Counter(o.code for o in outcomes if not o.ok)
    unclear = {code: count for code, count in codes.items() if code not in CLEAR_REFUSALS}
    assert not unclear, f"calls failed without a clear typed error: {unclear}"
    for outcome in outcomes:
        if not outcome.ok:
            assert outcome.body.get("hint") and outcome.body.get("retryable") is not False
    assert len(outcomes) == AGENTS * ROUNDS * 4
    assert len(ledger.acked) > 0

    # no deadlock: a fresh caller is answered at once, and writes still go through
    async with client_for(server.url, tokens["boss"]) as boss:
        check = await attempt(boss, "add_message", 10, session_id=sessions[0], content="after")
        assert check.ok, check.body
    rss_after = rss_kib(server.process.pid)
    assert (rss_after - rss_before) / 1024 < RSS_GROWTH_LIMIT_MIB, (rss_before, rss_after)

    assert server.stop(signal.SIGTERM) == 0
    stored = stored_messages(tmp_path / "scs.db")
    ledger.check_against({k: v for k, v in stored.items() if v[1] != "after"})
    assert integrity(tmp_path / "scs.db") == "ok"
