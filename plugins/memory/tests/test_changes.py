"""The ``memory`` change-feed topic: one change per committed set or delete, one per
sweep batch, none for a refused write."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scs_memory.sweeper import Sweeper
from scs_server.testing import ToolCallError

if TYPE_CHECKING:
    from scs_server.storage import Change
    from scs_server.testing import Agent, ScsServer, ServerFactory

NO_SWEEP = {"SCS_MEMORY_SWEEP_INTERVAL_S": "86400", "SCS_MEMORY_SWEEP_BATCH_SIZE": "2"}


async def _collect(server: ScsServer) -> list[Any]:
    """The payloads of every ``memory`` change committed from now on, as they arrive."""
    payloads: list[Any] = []

    def record(change: Change) -> None:
        assert change.topic == "memory"
        payloads.append(change.payload)

    await server.app.db.changes.subscribe(record, topics=("memory",))
    return payloads


async def _gone(agent: Agent, key: str) -> bool:
    try:
        await agent.call("get_memory", key=key)
    except ToolCallError as error:
        assert error.code == "MEMORY_NOT_FOUND"
        return True
    return False


async def test_sets_and_deletes_emit_the_owner_refusals_emit_nothing(
    scs_factory: ServerFactory, helpers: Any
) -> None:
    server = await scs_factory(plugins=helpers.plugins, env=NO_SWEEP)
    alice = await server.agent("alice")
    bob = await server.agent("bob")
    payloads = await _collect(server)

    await alice.call("set_memory", key="k", value=1)
    await alice.call("set_memory", key="k", value=2)  # an update emits too
    assert (await alice.fails("set_memory", key="k", value=3, overwrite=False)).code == (
        "KEY_EXISTS"
    )
    assert (await alice.fails("set_memory", key="k", value=3, if_version=9)).code == "CONFLICT"
    assert (await bob.fails("delete_memory", key="k")).code == "MEMORY_NOT_FOUND"
    await bob.call("set_memory", key="k", value="bob's")
    await alice.call("delete_memory", key="k")

    expected = [{"agent_id": a} for a in ("alice", "alice", "bob", "alice")]

    async def all_arrived() -> bool:
        return len(payloads) >= len(expected)

    await helpers.eventually(all_arrived)
    assert payloads == expected


async def test_each_sweep_batch_that_deletes_emits_once_for_any_agent(
    scs_factory: ServerFactory, helpers: Any
) -> None:
    server = await scs_factory(plugins=helpers.plugins, env=NO_SWEEP)
    alice = await server.agent("alice")
    bob = await server.agent("bob")
    for agent in (alice, bob):
        await agent.call("set_memory", key="tmp", value=1, expires_in=1)
    await alice.call("set_memory", key="tmp2", value=2, expires_in=1)
    await alice.call("set_memory", key="keep", value=3)
    await helpers.eventually(lambda: _gone(alice, "tmp2"))
    payloads = await _collect(server)

    sweeper = server.app.services.get(Sweeper, needed_by="test")
    assert await sweeper.sweep_once() == 3  # batches of 2: 2 + 1
    assert await sweeper.sweep_once() == 0  # nothing left: no change

    async def both_batches_arrived() -> bool:
        return len(payloads) >= 2

    await helpers.eventually(both_batches_arrived)
    assert payloads == [{"agent_id": None}, {"agent_id": None}]
    assert [r["key"] for r in await helpers.memory_rows(server)] == ["keep"]
