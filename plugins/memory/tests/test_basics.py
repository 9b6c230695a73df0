"""set/get/delete round trips, versions, overwrite=False, compare-and-swap, events."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from scs_server.testing import Agent, ScsServer, ServerFactory

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


@pytest.mark.parametrize(
    "value",
    [
        "text",
        "",
        42,
        -1.5,
        True,
        None,
        [1, "two", [3]],
        {"plan": ["a", "b"], "n": {"x": 1}},
        "unicode ✓ 日本語 \U0001f600",
        "'; DROP TABLE memory_entries; --",
    ],
)
async def test_any_json_value_round_trips(alice: Agent, value: Any) -> None:
    stored = await alice.call("set_memory", key="k", value=value)
    assert stored["success"] is True
    assert stored["scope"] == "global" and stored["session_id"] is None
    assert stored["version"] == 1 and stored["created"] is True
    assert stored["expires_at"] is None and ISO.match(stored["stored_at"])

    got = await alice.call("get_memory", key="k")
    assert got["value"] == value
    assert got["version"] == 1 and got["metadata"] is None and got["scope"] == "global"
    assert got["created_at"] == got["updated_at"] == stored["stored_at"]


async def test_set_replaces_the_whole_entry_and_bumps_the_version(alice: Agent) -> None:
    first = await alice.call(
        "set_memory", key="plan", value={"step": 1}, metadata={"by": "planner"}, expires_in=3600
    )
    assert ISO.match(first["expires_at"])
    second = await alice.call("set_memory", key="plan", value={"step": 2})
    assert second["version"] == 2 and second["created"] is False
    got = await alice.call("get_memory", key="plan")
    assert got["value"] == {"step": 2}
    assert got["metadata"] is None and got["expires_at"] is None  # replaced, not merged
    assert got["created_at"] == first["stored_at"]
    assert got["updated_at"] == second["stored_at"] > got["created_at"]


async def test_metadata_as_json_text_like_1x_clients_send(alice: Agent) -> None:
    await alice.call("set_memory", key="k", value=1, metadata='{"source": "planner"}')
    assert (await alice.call("get_memory", key="k"))["metadata"] == {"source": "planner"}


async def test_overwrite_false_refuses_a_live_key(
    alice: Agent, server: ScsServer, helpers: Any
) -> None:
    await alice.call("set_memory", key="once", value="first", overwrite=False)
    err = await alice.fails("set_memory", key="once", value="second", overwrite=False)
    assert err.code == "KEY_EXISTS"
    assert err.body["current_version"] == 1
    rows = await helpers.memory_rows(server)
    assert [(r["key"], r["value"], r["version"]) for r in rows] == [("once", '"first"', 1)]


async def test_compare_and_swap(alice: Agent, server: ScsServer, helpers: Any) -> None:
    created = await alice.call("set_memory", key="counter", value=0, if_version=0)
    assert created["version"] == 1

    err = await alice.fails("set_memory", key="counter", value=99, if_version=0)
    assert err.code == "CONFLICT" and err.body["current_version"] == 1

    updated = await alice.call("set_memory", key="counter", value=1, if_version=1)
    assert updated["version"] == 2

    stale = await alice.fails("set_memory", key="counter", value=99, if_version=1)
    assert stale.code == "CONFLICT" and stale.body["current_version"] == 2

    missing = await alice.fails("set_memory", key="nothing", value=1, if_version=3)
    assert missing.code == "CONFLICT" and missing.body["current_version"] == 0

    rows = await helpers.memory_rows(server)
    assert [(r["key"], r["value"], r["version"]) for r in rows] == [("counter", "1", 2)]


async def test_delete(alice: Agent, server: ScsServer, helpers: Any) -> None:
    await alice.call("set_memory", key="gone", value=1)
    await alice.call("set_memory", key="gone", value=2)
    stale = await alice.fails("delete_memory", key="gone", if_version=1)
    assert stale.code == "CONFLICT" and stale.body["current_version"] == 2
    deleted = await alice.call("delete_memory", key="gone", if_version=2)
    assert deleted == {
        "success": True,
        "deleted": True,
        "key": "gone",
        "scope": "global",
        "session_id": None,
        "version": 2,
    }
    assert (await alice.fails("get_memory", key="gone")).code == "MEMORY_NOT_FOUND"
    assert (await alice.fails("delete_memory", key="gone")).code == "MEMORY_NOT_FOUND"
    assert await helpers.memory_rows(server) == []
    again = await alice.call("set_memory", key="gone", value=3)
    assert again["version"] == 1  # a deleted key starts afresh


async def test_get_missing_key_is_memory_not_found(alice: Agent) -> None:
    err = await alice.fails("get_memory", key="never-set")
    assert err.code == "MEMORY_NOT_FOUND" and err.hint


async def test_events_after_commit(scs_factory: ServerFactory, helpers: Any) -> None:
    probe = helpers.EventProbe()
    server = await scs_factory(
        plugins=helpers.plugins + ",memprobe", extra_plugins={"memprobe": probe}
    )
    alice = await server.agent("alice")
    session_id = await helpers.create_session(alice)
    await alice.call("set_memory", key="a", value=1)
    await alice.call("set_memory", key="a", value=2, session_id=session_id)
    await alice.call("delete_memory", key="a")
    await alice.fails("set_memory", key="a", value=3, session_id=session_id, overwrite=False)
    seen = [(e.name, e.source, e.data) for e in probe.named("memory.")]
    assert seen == [
        (
            "memory.set",
            "memory",
            {"agent_id": "alice", "key": "a", "session_id": None, "version": 1, "scope": "private"},
        ),
        (
            "memory.set",
            "memory",
            {
                "agent_id": "alice",
                "key": "a",
                "session_id": session_id,
                "version": 1,
                "scope": "private",
            },
        ),
        (
            "memory.deleted",
            "memory",
            {"agent_id": "alice", "key": "a", "session_id": None, "scope": "private"},
        ),
    ]
