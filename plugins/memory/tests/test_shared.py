"""Shared session memory (scope="shared"): readable by every reader of the session,
writable with write, CAS and TTL as private memory; private and shared never cross."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scs_server.testing import ToolCallError

if TYPE_CHECKING:
    from scs_server.storage import Change
    from scs_server.testing import Agent, ServerFactory

SHARED = {"scope": "shared"}


async def _gone(agent: Agent, key: str, **args: Any) -> bool:
    try:
        await agent.call("get_memory", key=key, **args)
    except ToolCallError as error:
        assert error.code == "MEMORY_NOT_FOUND"
        return True
    return False


async def test_a_board_everyone_in_the_session_reads_and_writes(
    scs_factory: ServerFactory, helpers: Any
) -> None:
    server = await scs_factory(plugins=helpers.plugins)
    alice = await server.agent("alice")
    bob = await server.agent("bob")
    reader = await server.agent("reader", agent_type="readonly")
    sid = await helpers.create_session(alice)

    claim = await alice.call(
        "set_memory", key="task.1", value={"owner": "alice"}, session_id=sid, if_version=0, **SHARED
    )
    assert claim["scope"] == "shared"
    assert claim["version"] == 1
    # everyone who can read the session sees it
    for agent in (alice, bob, reader):
        got = await agent.call("get_memory", key="task.1", session_id=sid, **SHARED)
        assert got["value"] == {"owner": "alice"}
        assert got["scope"] == "shared"
        listed = await agent.call("list_memory", session_id=sid, **SHARED)
        assert [e["key"] for e in listed["entries"]] == ["task.1"]
    # compare-and-swap decides between claimants: bob's stale claim loses
    taken = await bob.fails(
        "set_memory", key="task.1", value={"owner": "bob"}, session_id=sid, if_version=0, **SHARED
    )
    assert taken.code == "CONFLICT"
    assert taken.body["current_version"] == 1
    moved = await bob.call(
        "set_memory", key="task.1", value={"owner": "bob"}, session_id=sid, if_version=1, **SHARED
    )
    assert moved["version"] == 2
    stale = await alice.fails("delete_memory", key="task.1", session_id=sid, if_version=1, **SHARED)
    assert stale.code == "CONFLICT"
    # reading needs read, writing needs write
    refused = await reader.fails("set_memory", key="x", value=1, session_id=sid, **SHARED)
    assert refused.code == "AUTH_005"
    deleted = await alice.call(
        "delete_memory", key="task.1", session_id=sid, if_version=2, **SHARED
    )
    assert deleted["scope"] == "shared"
    assert await _gone(bob, "task.1", session_id=sid, **SHARED)


async def test_private_and_shared_never_cross(scs_factory: ServerFactory, helpers: Any) -> None:
    server = await scs_factory(plugins=helpers.plugins)
    alice = await server.agent("alice")
    bob = await server.agent("bob")
    sid = await helpers.create_session(alice)
    await alice.call("set_memory", key="mine", value="private note", session_id=sid)
    await alice.call("set_memory", key="board", value="shared note", session_id=sid, **SHARED)

    # the private entry is not in the shared memory, for anyone, owner included
    assert await _gone(alice, "mine", session_id=sid, **SHARED)
    assert await _gone(bob, "mine", session_id=sid, **SHARED)
    shared_keys = await bob.call("list_memory", session_id=sid, **SHARED)
    assert [e["key"] for e in shared_keys["entries"]] == ["board"]
    # the shared entry is in nobody's private memory, its writer's included
    assert await _gone(alice, "board", session_id=sid)
    assert await _gone(bob, "board", session_id=sid)
    for agent in (alice, bob):
        every = await agent.call("list_memory", session_id="all")
        assert "board" not in [e["key"] for e in every["entries"]]
    private = await alice.call("get_memory", key="mine", session_id=sid)
    assert private["scope"] == "session"
    # private deletes and writes do not touch the shared entry with the same key
    await alice.call("set_memory", key="board", value="private board", session_id=sid)
    await alice.call("delete_memory", key="board", session_id=sid)
    still = await bob.call("get_memory", key="board", session_id=sid, **SHARED)
    assert still["value"] == "shared note"
    # bob cannot reach alice's private entry by any scope
    assert await _gone(bob, "mine", session_id=sid)
    rows = await helpers.memory_rows(server)
    owners = {(r["key"], r["agent_id"]) for r in rows}
    assert owners == {("mine", "alice"), ("board", f"#shared:{sid}")}


async def test_shared_ttl_and_input_rules(scs_factory: ServerFactory, helpers: Any) -> None:
    server = await scs_factory(
        plugins=helpers.plugins, env={"SCS_MEMORY_SWEEP_INTERVAL_S": "86400"}
    )
    alice = await server.agent("alice")
    bob = await server.agent("bob")
    sid = await helpers.create_session(alice)
    short = await alice.call(
        "set_memory", key="lock", value=1, session_id=sid, expires_in=1, **SHARED
    )
    assert short["expires_at"] is not None
    await helpers.eventually(lambda: _gone(bob, "lock", session_id=sid, **SHARED))
    # expired: absent, so a create-if-absent succeeds afresh
    again = await bob.call(
        "set_memory", key="lock", value=2, session_id=sid, if_version=0, **SHARED
    )
    assert again["version"] == 1

    before = await helpers.memory_rows(server)
    no_session = await alice.fails("set_memory", key="k", value=1, **SHARED)
    assert no_session.code == "VALIDATION_001"
    assert (await alice.fails("get_memory", key="k", **SHARED)).code == "VALIDATION_001"
    every = await alice.fails("list_memory", session_id="all", **SHARED)
    assert every.code == "VALIDATION_001"
    unknown = await alice.fails("set_memory", key="k", value=1, session_id="nope", **SHARED)
    assert unknown.code == "RESOURCE_001"
    bad_scope = await alice.fails("set_memory", key="k", value=1, session_id=sid, scope="team")
    assert bad_scope.code == "VALIDATION_001"
    await alice.call("close_session", session_id=sid)
    closed = await bob.fails("set_memory", key="k", value=1, session_id=sid, **SHARED)
    assert closed.code == "RESOURCE_002"
    assert (await bob.call("get_memory", key="lock", session_id=sid, **SHARED))["value"] == 2
    assert await helpers.memory_rows(server) == before


async def test_shared_changes_reach_events_and_the_feed(
    scs_factory: ServerFactory, helpers: Any
) -> None:
    probe = helpers.EventProbe()
    server = await scs_factory(
        plugins=helpers.plugins + ",memprobe", extra_plugins={"memprobe": probe}
    )
    changes: list[Any] = []

    def record(change: Change) -> None:
        changes.append(change.payload)

    await server.app.db.changes.subscribe(record, topics=("memory",))
    alice = await server.agent("alice")
    sid = await helpers.create_session(alice)
    await alice.call("set_memory", key="board", value=[1], session_id=sid, **SHARED)
    await alice.call("delete_memory", key="board", session_id=sid, **SHARED)
    [set_event] = probe.named("memory.set")
    assert set_event.data["scope"] == "shared"
    assert set_event.data["agent_id"] == "alice"  # who wrote it
    assert set_event.data["session_id"] == sid
    [deleted] = probe.named("memory.deleted")
    assert deleted.data["scope"] == "shared"
    assert changes == [{"agent_id": f"#shared:{sid}"}, {"agent_id": f"#shared:{sid}"}]


async def test_a_cached_shared_read_follows_another_agents_write(
    scs_factory: ServerFactory, helpers: Any
) -> None:
    """With the cache answering get_memory, bob's cached shared read is not stale after
    alice's write (shared answers depend on every writer, not on the caller)."""
    server = await scs_factory(
        plugins=helpers.plugins + ",cache",
        env={"SCS_CACHE_TOOLS": '["get_memory", "list_memory"]'},
    )
    alice = await server.agent("alice")
    bob = await server.agent("bob")
    sid = await helpers.create_session(alice)
    await alice.call("set_memory", key="status", value="started", session_id=sid, **SHARED)
    for _ in range(2):  # the second read is served from the cache
        seen = await bob.call("get_memory", key="status", session_id=sid, **SHARED)
        assert seen["value"] == "started"
    await alice.call("set_memory", key="status", value="done", session_id=sid, **SHARED)
    seen = await bob.call("get_memory", key="status", session_id=sid, **SHARED)
    assert seen["value"] == "done"
