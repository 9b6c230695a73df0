"""Compare-and-swap under contention: 20 concurrent increments lose nothing."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from scs_server.testing import ToolCallError

if TYPE_CHECKING:
    from scs_server.testing import Agent, ServerFactory

WORKERS = 20
MAX_ATTEMPTS = 60  # each round lets at least one worker through, so 20 would do


async def _increment(agent: Agent, key: str, first_read: asyncio.Barrier) -> int:
    """Read, add one, write with if_version; retry on CONFLICT. Return the conflicts seen."""
    conflicts = 0
    for attempt in range(MAX_ATTEMPTS):
        current = await agent.call("get_memory", key=key)
        if attempt == 0:
            await first_read.wait()  # everyone has read version 1 before anyone writes
        try:
            await agent.call(
                "set_memory", key=key, value=current["value"] + 1, if_version=current["version"]
            )
        except ToolCallError as error:
            assert error.code == "CONFLICT", error.body
            assert error.body["current_version"] > current["version"]
            conflicts += 1
        else:
            return conflicts
    raise AssertionError(f"no successful write in {MAX_ATTEMPTS} attempts")


async def test_twenty_concurrent_increments(scs_factory: ServerFactory, helpers: Any) -> None:
    """One agent identity, 20 clients (think: 20 sub-agents sharing a token's agent_id)."""
    server = await scs_factory(plugins=helpers.plugins)
    workers = [await server.agent("planner") for _ in range(WORKERS)]
    assert len({id(w.client) for w in workers}) == WORKERS
    await workers[0].call("set_memory", key="counter", value=0, if_version=0)

    barrier = asyncio.Barrier(WORKERS)
    conflicts = await asyncio.wait_for(
        asyncio.gather(*(_increment(w, "counter", barrier) for w in workers)), timeout=120
    )

    final = await workers[0].call("get_memory", key="counter")
    assert final["value"] == WORKERS
    assert final["version"] == WORKERS + 1
    # all 20 read version 1 first, so exactly one of them could win that round
    assert sum(conflicts) >= WORKERS - 1
    rows = await helpers.memory_rows(server)
    assert [(r["key"], r["value"], r["version"]) for r in rows] == [("counter", "20", 21)]


async def test_concurrent_create_if_absent_has_one_winner(
    scs_factory: ServerFactory, helpers: Any
) -> None:
    server = await scs_factory(plugins=helpers.plugins)
    workers = [await server.agent("planner") for _ in range(10)]

    async def claim(n: int) -> str:
        try:
            await workers[n].call("set_memory", key="leader", value=n, overwrite=False)
        except ToolCallError as error:
            return error.code
        return "won"

    outcomes = await asyncio.gather(*(claim(n) for n in range(10)))
    assert sorted(outcomes) == ["KEY_EXISTS"] * 9 + ["won"]
    winner = outcomes.index("won")
    assert (await workers[0].call("get_memory", key="leader"))["value"] == winner
