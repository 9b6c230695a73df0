"""Concurrency: 20 agents race for one exclusive lease, in one server and across two
servers on one database (two processes' worth on SQLite, two replicas on PostgreSQL);
fencing tokens strictly increase."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest
from scs_server.testing import ToolCallError

if TYPE_CHECKING:
    from scs_server.testing import Agent, ServerFactory

AGENTS = 20
ROUNDS = 10


async def _try(agent: Agent, resource: str) -> dict[str, Any] | None:
    try:
        result: dict[str, Any] = await agent.call("acquire_lease", resources=[resource], ttl_s=60)
    except ToolCallError as error:
        assert error.code == "LEASE_CONFLICT", error.body
        return None
    return result


async def _race(agents: list[Agent]) -> list[int]:
    """ROUNDS rounds; each: everyone tries at once, exactly one wins, the winner releases.
    Returns the winners' fencing tokens in round order."""
    tokens: list[int] = []
    for round_no in range(ROUNDS):
        results = await asyncio.gather(*(_try(agent, "src/contended.py") for agent in agents))
        winners = [(agent, r) for agent, r in zip(agents, results, strict=True) if r is not None]
        assert len(winners) == 1, f"round {round_no}: {len(winners)} winners"
        agent, lease = winners[0]
        tokens.append(lease["fencing_token"])
        await agent.call("release_lease", lease_id=lease["lease_id"])
    return tokens


@pytest.mark.slow
async def test_twenty_agents_one_winner_per_round(scs_factory: ServerFactory, helpers: Any) -> None:
    server = await scs_factory(plugins=helpers.plugins)
    agents = [await server.agent(f"racer-{n}") for n in range(AGENTS)]
    tokens = await asyncio.wait_for(_race(agents), timeout=120)
    assert tokens == sorted(tokens)
    assert len(set(tokens)) == ROUNDS
    assert await helpers.lease_rows(server) == []


@pytest.mark.slow
async def test_twenty_agents_across_two_servers(scs_factory: ServerFactory, helpers: Any) -> None:
    a = await scs_factory(plugins=helpers.plugins, http=True)
    b = await scs_factory(plugins=helpers.plugins, http=True, same_database_as=a)
    agents = [await (a if n % 2 else b).agent(f"racer-{n}") for n in range(AGENTS)]
    tokens = await asyncio.wait_for(_race(agents), timeout=120)
    assert tokens == sorted(tokens)
    assert len(set(tokens)) == ROUNDS


async def test_fencing_tokens_strictly_increase_under_concurrency(
    scs_factory: ServerFactory, helpers: Any
) -> None:
    server = await scs_factory(plugins=helpers.plugins)
    agents = [await server.agent(f"writer-{n}") for n in range(AGENTS)]
    granted = await asyncio.gather(
        *(agent.call("acquire_lease", resources=[f"file-{n}"]) for n, agent in enumerate(agents))
    )
    tokens = [lease["fencing_token"] for lease in granted]
    # every grant took the next token: no gaps, no repeats
    assert sorted(tokens) == list(range(1, AGENTS + 1))
    # commit order is token order
    rows = await helpers.lease_rows(server)
    by_token = sorted(rows, key=lambda row: row["fencing_token"])
    assert [row["fencing_token"] for row in by_token] == list(range(1, AGENTS + 1))
    # a later grant of a released resource always gets a larger token
    first = granted[0]
    await agents[0].call("release_lease", lease_id=first["lease_id"])
    again = await agents[1].call("acquire_lease", resources=["file-0"])
    assert again["fencing_token"] == AGENTS + 1
