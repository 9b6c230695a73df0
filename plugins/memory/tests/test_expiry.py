"""TTL: an expired entry is never returned, listed or counted, and the sweep deletes it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scs_memory.sweeper import Sweeper
from scs_server.testing import ToolCallError

if TYPE_CHECKING:
    from scs_server.testing import Agent, ServerFactory

# A sweep that would never run during a test: expiry must not depend on it.
NO_SWEEP = {"SCS_MEMORY_SWEEP_INTERVAL_S": "86400"}


async def _gone(agent: Agent, key: str, **args: Any) -> bool:
    try:
        await agent.call("get_memory", key=key, **args)
    except ToolCallError as error:
        assert error.code == "MEMORY_NOT_FOUND"
        return True
    return False


async def test_expired_entry_is_absent_everywhere(scs_factory: ServerFactory, helpers: Any) -> None:
    server = await scs_factory(
        plugins=helpers.plugins, env={**NO_SWEEP, "SCS_MEMORY_MAX_ENTRIES_PER_AGENT": "2"}
    )
    alice = await server.agent("alice")
    stored = await alice.call("set_memory", key="short", value="soon gone", expires_in=1)
    assert stored["expires_at"] > stored["stored_at"]
    await alice.call("set_memory", key="long", value="stays")
    full = await alice.fails("set_memory", key="third", value=3)
    assert full.code == "LIMIT_EXCEEDED" and full.body["limit"] == 2

    await helpers.eventually(lambda: _gone(alice, "short"))

    listed = await alice.call("list_memory", session_id="all")
    assert [e["key"] for e in listed["entries"]] == ["long"]
    assert (await alice.fails("delete_memory", key="short")).code == "MEMORY_NOT_FOUND"
    # no longer counted against the limit, and a new entry with its key starts afresh
    await alice.call("set_memory", key="third", value=3)
    assert (await alice.fails("set_memory", key="fourth", value=4)).code == "LIMIT_EXCEEDED"
    await alice.call("delete_memory", key="third")
    fresh = await alice.call(
        "set_memory", key="short", value="again", if_version=0, overwrite=False
    )
    assert fresh["version"] == 1 and fresh["created"] is True


async def test_expired_entry_is_absent_in_a_session_scope(
    scs_factory: ServerFactory, helpers: Any
) -> None:
    server = await scs_factory(plugins=helpers.plugins, env=NO_SWEEP)
    alice = await server.agent("alice")
    session_id = await helpers.create_session(alice)
    await alice.call("set_memory", key="k", value=1, session_id=session_id, expires_in=1)
    await helpers.eventually(lambda: _gone(alice, "k", session_id=session_id))
    assert (await alice.call("list_memory", session_id=session_id))["entries"] == []
    rows = await helpers.memory_rows(server)
    assert len(rows) == 1  # still stored: only the sweep deletes it


async def test_sweep_deletes_expired_rows(scs_factory: ServerFactory, helpers: Any) -> None:
    server = await scs_factory(
        plugins=helpers.plugins,
        env={"SCS_MEMORY_SWEEP_INTERVAL_S": "0.2", "SCS_MEMORY_SWEEP_BATCH_SIZE": "2"},
    )
    alice = await server.agent("alice")
    for n in range(5):
        await alice.call("set_memory", key=f"tmp{n}", value=n, expires_in=1)
    await alice.call("set_memory", key="keep", value="forever")

    sweeper = server.app.services.get(Sweeper, needed_by="test")

    async def swept() -> bool:
        # the counter moves after each batch's commit, which other connections see first
        return sweeper.deleted == 5

    await helpers.eventually(swept)
    assert [r["key"] for r in await helpers.memory_rows(server)] == ["keep"]
    assert (await alice.call("get_memory", key="keep"))["value"] == "forever"


async def test_set_over_an_expired_entry_without_sweep(
    scs_factory: ServerFactory, helpers: Any
) -> None:
    server = await scs_factory(plugins=helpers.plugins, env=NO_SWEEP)
    alice = await server.agent("alice")
    await alice.call("set_memory", key="k", value="old", metadata={"m": 1}, expires_in=1)
    await helpers.eventually(lambda: _gone(alice, "k"))
    stored = await alice.call("set_memory", key="k", value="new", overwrite=False)
    assert stored["version"] == 1
    got = await alice.call("get_memory", key="k")
    assert got["value"] == "new" and got["metadata"] is None and got["expires_at"] is None
    assert got["created_at"] == stored["stored_at"]


async def test_refused_set_over_an_expired_entry_keeps_it(
    scs_factory: ServerFactory, helpers: Any
) -> None:
    """The expired row is deleted before the limit check: the refusal must roll that back."""
    server = await scs_factory(
        plugins=helpers.plugins, env={**NO_SWEEP, "SCS_MEMORY_MAX_ENTRIES_PER_AGENT": "1"}
    )
    alice = await server.agent("alice")
    await alice.call("set_memory", key="old", value="expiring", expires_in=1)
    await helpers.eventually(lambda: _gone(alice, "old"))
    await alice.call("set_memory", key="live", value=1)
    before = await helpers.memory_rows(server)
    assert [row["key"] for row in before] == ["live", "old"]
    assert (await alice.fails("set_memory", key="old", value="new")).code == "LIMIT_EXCEEDED"
    assert await helpers.memory_rows(server) == before
