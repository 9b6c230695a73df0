"""Many agents writing at once: nothing lost, ids strictly increasing."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scs_server.testing import Agent

    from .conftest import StoredCount, TeamFactory

AGENTS = 20
EACH = 50


async def test_twenty_agents_fifty_messages_each(
    make_team: TeamFactory, stored_messages: StoredCount
) -> None:
    team = await make_team()
    sid = team.session_id
    # each agent has its own client (server.agent opens one per agent)
    agents = [await team.server.agent(f"worker{n}", "claude") for n in range(AGENTS)]

    async def write(agent: Agent) -> list[int]:
        written = []
        for k in range(EACH):
            result = await agent.call(
                "add_message", session_id=sid, content=f"{agent.agent_id}:{k}"
            )
            written.append(result["message_id"])
        return written

    results = await asyncio.gather(*(write(agent) for agent in agents))

    for written in results:
        assert written == sorted(written)
        assert len(set(written)) == EACH
    all_ids = [i for written in results for i in written]
    assert len(set(all_ids)) == AGENTS * EACH
    assert await stored_messages(team.server) == AGENTS * EACH

    page = await team.bob.call("get_messages", session_id=sid, limit=1000)
    messages = page["messages"]
    assert page["total_count"] == AGENTS * EACH
    listed = [m["id"] for m in messages]
    assert all(a < b for a, b in zip(listed, listed[1:], strict=False))
    assert set(listed) == set(all_ids)
    stamps = [m["timestamp"] for m in messages]
    assert stamps == sorted(stamps)  # id order is time order
    for agent in agents:
        mine = [m["content"] for m in messages if m["sender"] == agent.agent_id]
        assert mine == [f"{agent.agent_id}:{k}" for k in range(EACH)]
