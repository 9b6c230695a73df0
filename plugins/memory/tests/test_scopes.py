"""Who sees what: global vs session scope, agent A vs agent B, sessions that end."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scs_server.testing import Agent, ScsServer, ServerFactory


async def test_global_and_session_scopes_are_separate(alice: Agent, helpers: Any) -> None:
    session_id = await helpers.create_session(alice)
    await alice.call("set_memory", key="plan", value="global plan")
    stored = await alice.call("set_memory", key="plan", value="session plan", session_id=session_id)
    assert stored["scope"] == "session" and stored["session_id"] == session_id
    assert stored["version"] == 1  # not a new version of the global entry

    assert (await alice.call("get_memory", key="plan"))["value"] == "global plan"
    in_session = await alice.call("get_memory", key="plan", session_id=session_id)
    assert in_session["value"] == "session plan" and in_session["scope"] == "session"

    only_session = await alice.call("set_memory", key="notes", value=1, session_id=session_id)
    assert only_session["version"] == 1
    assert (await alice.fails("get_memory", key="notes")).code == "MEMORY_NOT_FOUND"

    global_list = await alice.call("list_memory")
    assert [(e["key"], e["scope"]) for e in global_list["entries"]] == [("plan", "global")]
    assert global_list["scope_filter"] == "global"
    session_list = await alice.call("list_memory", session_id=session_id)
    assert [e["key"] for e in session_list["entries"]] == ["notes", "plan"]
    everything = await alice.call("list_memory", session_id="all")
    assert [(e["key"], e["session_id"]) for e in everything["entries"]] == [
        ("plan", None),
        ("notes", session_id),
        ("plan", session_id),
    ]


async def test_agents_cannot_read_or_overwrite_each_other(
    alice: Agent, bob: Agent, server: ScsServer, helpers: Any
) -> None:
    session_id = await helpers.create_session(alice)
    await alice.call("set_memory", key="secret", value="alice's")
    await alice.call("set_memory", key="secret", value="alice's in session", session_id=session_id)

    assert (await bob.fails("get_memory", key="secret")).code == "MEMORY_NOT_FOUND"
    err = await bob.fails("get_memory", key="secret", session_id=session_id)
    assert err.code == "MEMORY_NOT_FOUND"
    assert (await bob.call("list_memory", session_id="all"))["entries"] == []
    assert (await bob.fails("delete_memory", key="secret")).code == "MEMORY_NOT_FOUND"
    refused = await bob.fails("set_memory", key="secret", value="x", if_version=1)
    assert refused.code == "CONFLICT" and refused.body["current_version"] == 0

    # bob writing the same key makes bob's own entry; alice's stays as it was
    mine = await bob.call("set_memory", key="secret", value="bob's", session_id=session_id)
    assert mine["version"] == 1
    assert (await alice.call("get_memory", key="secret"))["value"] == "alice's"
    in_session = await alice.call("get_memory", key="secret", session_id=session_id)
    assert in_session["value"] == "alice's in session" and in_session["version"] == 1
    rows = await helpers.memory_rows(server)
    assert [(r["agent_id"], r["session_id"], r["value"]) for r in rows] == [
        ("alice", None, '"alice\'s"'),
        ("alice", session_id, '"alice\'s in session"'),
        ("bob", session_id, '"bob\'s"'),
    ]


async def test_an_agent_id_argument_cannot_choose_whose_memory(alice: Agent, bob: Agent) -> None:
    """Extra arguments are refused; the owner always comes from the verified token."""
    await alice.call("set_memory", key="k", value="alice's")
    err = await bob.fails("get_memory", key="k", agent_id="alice")
    assert err.code == "VALIDATION_001"


async def test_unknown_session_is_resource_not_found(
    alice: Agent, server: ScsServer, helpers: Any
) -> None:
    for tool, args in [
        ("set_memory", {"key": "k", "value": 1}),
        ("get_memory", {"key": "k"}),
        ("delete_memory", {"key": "k"}),
        ("list_memory", {}),
    ]:
        err = await alice.fails(tool, session_id="session_does_not_exist", **args)
        assert err.code == "RESOURCE_001", (tool, err.body)
    assert await helpers.memory_rows(server) == []


async def test_closed_session_memory_is_read_only_but_deletable(
    alice: Agent, server: ScsServer, helpers: Any
) -> None:
    session_id = await helpers.create_session(alice)
    await alice.call("set_memory", key="a", value=1, session_id=session_id)
    await alice.call("set_memory", key="b", value=2, session_id=session_id)
    await alice.call("close_session", session_id=session_id)

    err = await alice.fails("set_memory", key="a", value=9, session_id=session_id)
    assert err.code == "RESOURCE_002"
    assert (await alice.call("get_memory", key="a", session_id=session_id))["value"] == 1
    await alice.call("delete_memory", key="b", session_id=session_id)
    rows = await helpers.memory_rows(server)
    assert [(r["key"], r["value"], r["version"]) for r in rows] == [("a", "1", 1)]


async def test_deleting_a_session_deletes_its_memory(
    alice: Agent, server: ScsServer, helpers: Any
) -> None:
    doomed = await helpers.create_session(alice, "doomed")
    kept = await helpers.create_session(alice, "kept")
    await alice.call("set_memory", key="k", value="doomed", session_id=doomed)
    await alice.call("set_memory", key="k", value="kept", session_id=kept)
    await alice.call("set_memory", key="k", value="global")

    # No tool deletes sessions (yet); the foreign key must do it whoever deletes one.
    async with server.app.db.transaction() as tx:
        assert await tx.execute("DELETE FROM sessions_sessions WHERE id = ?", (doomed,)) == 1

    rows = await helpers.memory_rows(server)
    assert sorted(r["value"] for r in rows) == ['"global"', '"kept"']
    assert (await alice.fails("get_memory", key="k", session_id=doomed)).code == "RESOURCE_001"


async def test_the_anonymous_reader_has_no_memory(scs_factory: ServerFactory, helpers: Any) -> None:
    server = await scs_factory(plugins=helpers.plugins, allow_anonymous_read=True)
    alice = await server.agent("alice")
    await alice.call("set_memory", key="k", value=1)
    async with server.client() as anonymous:
        for tool, args in [("get_memory", {"key": "k"}), ("list_memory", {})]:
            result = await anonymous.call_tool(tool, args, raise_on_error=False)
            assert result.is_error
            assert json.loads(result.content[0].text)["code"] == "AUTH_001"
