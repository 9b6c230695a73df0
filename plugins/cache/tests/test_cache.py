"""The cache through a real MCP client: hits, never stale, never across visibility classes."""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any

import pytest
from scs_cache.entries import ResponseCache
from scs_server.testing import listeners_cut_off

from . import probe

if TYPE_CHECKING:
    from scs_server.storage.cluster import PostgresCluster
    from scs_server.testing import Agent, ScsServer, ServerFactory


def stats(server: ScsServer) -> dict[str, Any]:
    result: dict[str, Any] = server.app.services.get(ResponseCache, needed_by="test").stats()
    return result


async def session_with(agent: Agent, *contents: str) -> str:
    created = await agent.call("create_session", purpose="cache test")
    for content in contents:
        await agent.call("add_message", session_id=created["session_id"], content=content)
    session_id: str = created["session_id"]
    return session_id


def contents(page: dict[str, Any]) -> list[str]:
    return [message["content"] for message in page["messages"]]


async def test_repeated_reads_are_hits(scs_factory: ServerFactory) -> None:
    server = await scs_factory()
    alice = await server.agent("alice")
    session_id = await session_with(alice, "one", "two")
    first = await alice.call("get_messages", session_id=session_id)
    before = stats(server)
    for _ in range(3):
        assert await alice.call("get_messages", session_id=session_id) == first
    after = stats(server)
    assert after["hits"] - before["hits"] == 3
    assert after["misses"] == before["misses"]
    assert contents(first) == ["one", "two"]
    view = await alice.call("get_session", session_id=session_id)
    assert await alice.call("get_session", session_id=session_id) == view
    assert stats(server)["hits"] == after["hits"] + 1


async def test_write_in_this_process_is_seen_on_the_next_read(scs_factory: ServerFactory) -> None:
    server = await scs_factory()
    alice = await server.agent("alice")
    bob = await server.agent("bob")
    session_id = await session_with(alice, "one")
    assert contents(await bob.call("get_messages", session_id=session_id)) == ["one"]
    assert contents(await bob.call("get_messages", session_id=session_id)) == ["one"]
    await alice.call("add_message", session_id=session_id, content="two")
    assert contents(await bob.call("get_messages", session_id=session_id)) == ["one", "two"]
    await alice.call("close_session", session_id=session_id)
    assert (await bob.call("get_session", session_id=session_id))["session"]["is_active"] is False


async def test_write_by_another_process_is_seen(scs_factory: ServerFactory) -> None:
    """A commit this server never heard about: another server (process, replica) on its data."""
    server = await scs_factory()
    other = await scs_factory(same_database_as=server)
    alice = await server.agent("alice")
    elsewhere = await other.agent("elsewhere")
    session_id = await session_with(alice, "one")
    assert contents(await alice.call("get_messages", session_id=session_id)) == ["one"]
    assert contents(await alice.call("get_messages", session_id=session_id)) == ["one"]
    assert stats(server)["hits"] >= 1
    await elsewhere.call("add_message", session_id=session_id, content="written elsewhere")
    expected = ["one", "written elsewhere"]
    if server.app.db.dialect == "sqlite":  # poll() reads the data version: exact at once
        assert contents(await alice.call("get_messages", session_id=session_id)) == expected
        return
    deadline = time.monotonic() + 10  # PostgreSQL: NOTIFY arrives within milliseconds
    while contents(await alice.call("get_messages", session_id=session_id)) != expected:
        assert time.monotonic() < deadline, "the other replica's write never showed"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("db_engine", ["postgresql"])
async def test_a_replica_whose_feed_is_reconnecting_serves_no_cached_answer(
    scs_factory: ServerFactory, postgres_cluster: PostgresCluster
) -> None:
    server = await scs_factory()
    other = await scs_factory(same_database_as=server)
    alice = await server.agent("alice")
    elsewhere = await other.agent("elsewhere")
    session_id = await session_with(alice, "one")
    for _ in range(2):
        assert contents(await alice.call("get_messages", session_id=session_id)) == ["one"]
    assert stats(server)["hits"] >= 1
    # both replicas' listeners cut off, and kept from reconnecting
    async with listeners_cut_off(postgres_cluster, server) as ended:
        assert ended == 2
        await elsewhere.call("add_message", session_id=session_id, content="unannounced")
        # this replica never heard of that write: its cache must not answer
        page = await alice.call("get_messages", session_id=session_id)
        assert contents(page) == ["one", "unannounced"]


async def test_a_change_drops_only_what_it_can_affect(scs_factory: ServerFactory) -> None:
    server = await scs_factory()
    alice = await server.agent("alice")
    first = await session_with(alice, "one")
    second = await session_with(alice, "other")
    for _ in range(2):
        await alice.call("get_messages", session_id=first)
        await alice.call("list_sessions")
    before = stats(server)
    await alice.call("set_memory", key="note", value="memory is not messages")
    await alice.call("add_message", session_id=second, content="elsewhere")
    await alice.call("get_messages", session_id=first)
    after = stats(server)
    assert after["hits"] == before["hits"] + 1  # neither change touched session one
    listed = await alice.call("list_sessions")
    assert stats(server)["misses"] == after["misses"] + 1  # a message in any session
    assert len(listed["sessions"]) == 2
    await alice.call("add_message", session_id=first, content="two")
    assert contents(await alice.call("get_messages", session_id=first)) == ["one", "two"]


async def test_a_change_looks_only_at_what_it_can_affect(scs_factory: ServerFactory) -> None:
    server = await scs_factory()
    alice = await server.agent("alice")
    sessions = [await session_with(alice, f"message {n}") for n in range(12)]
    for session_id in sessions:
        await alice.call("get_messages", session_id=session_id)
    await alice.call("list_sessions")
    before = stats(server)
    assert before["entries"] == 13
    await alice.call("add_message", session_id=sessions[3], content="news")
    after = stats(server)
    # its session's page and the listing of every session, not the eleven other pages
    assert after["checked"] - before["checked"] == 2
    assert after["invalidations"] - before["invalidations"] == 2
    assert after["entries"] == 11
    assert contents(await alice.call("get_messages", session_id=sessions[3]))[-1] == "news"
    assert stats(server)["misses"] == after["misses"] + 1
    await alice.call("get_messages", session_id=sessions[4])
    assert stats(server)["hits"] == after["hits"] + 1


async def test_evicted_entries_leave_the_index(scs_factory: ServerFactory) -> None:
    server = await scs_factory(env={"SCS_CACHE_MAX_BYTES": "8192"})
    alice = await server.agent("alice")
    session_id = await session_with(alice, "one")
    for limit in range(1, 101):  # 100 answers, a few of which fit: the rest are evicted
        await alice.call("get_messages", session_id=session_id, limit=limit)
    before = stats(server)
    assert before["stores"] == 100
    assert 0 < before["entries"] < 30
    await alice.call("add_message", session_id=session_id, content="two")
    after = stats(server)
    # the live entries and at most the keys filed since the last rebuild (2 x entries + 64)
    assert after["checked"] - before["checked"] <= 3 * before["entries"] + 64
    assert after["checked"] - before["checked"] < 100
    assert after["entries"] == 0
    page = await alice.call("get_messages", session_id=session_id, limit=100)
    assert contents(page) == ["one", "two"]


async def test_admin_answers_never_reach_non_admins(scs_factory: ServerFactory) -> None:
    server = await scs_factory()
    admin = await server.agent("root", agent_type="admin")
    alice = await server.agent("alice", agent_type="claude")
    bob = await server.agent("bob", agent_type="gemini")
    session_id = await session_with(alice, "public words")
    await admin.call(
        "add_message", session_id=session_id, content="admins only", visibility="admin_only"
    )
    await alice.call(
        "add_message", session_id=session_id, content="alice private", visibility="private"
    )
    await alice.call(
        "add_message", session_id=session_id, content="claude types", visibility="agent_only"
    )
    everything = ["public words", "admins only", "alice private", "claude types"]
    for _ in range(2):
        assert contents(await admin.call("get_messages", session_id=session_id)) == everything
        assert contents(await alice.call("get_messages", session_id=session_id)) == [
            "public words", "alice private", "claude types",
        ]  # fmt: skip
        assert contents(await bob.call("get_messages", session_id=session_id)) == ["public words"]
        view = await bob.call("get_session", session_id=session_id)
        assert contents(view) == ["public words"]
    claude_too = await server.agent("carol", agent_type="claude")
    assert contents(await claude_too.call("get_messages", session_id=session_id)) == [
        "public words", "claude types",
    ]  # fmt: skip
    assert stats(server)["hits"] >= 4


async def test_errors_are_not_cached(scs_factory: ServerFactory) -> None:
    server = await scs_factory()
    alice = await server.agent("alice")
    before = stats(server)
    for _ in range(2):
        error = await alice.fails("get_messages", session_id="session_0000000000000000")
        assert error.code == "RESOURCE_001"
    after = stats(server)
    assert after["stores"] == before["stores"]
    assert after["hits"] == before["hits"]


async def test_read_racing_a_write_is_not_stored(scs_factory: ServerFactory) -> None:
    server = await scs_factory(
        "default,probe",
        env={"SCS_CACHE_TOOLS": '["probe_notes"]', "SCS_CACHE_EXTRA_TOPICS": '["probe_notes"]'},
        extra_plugins={"probe": probe.module()},
    )
    alice = await server.agent("alice")
    gate = server.app.services.get(probe.Gate, needed_by="test")
    await alice.call("probe_add_note", note="first")
    gate.hold = True
    slow_read = asyncio.create_task(alice.call("probe_notes"))
    await asyncio.wait_for(gate.entered.wait(), timeout=10)
    await alice.call("probe_add_note", note="second")  # commits while the read is held
    gate.hold = False
    gate.release.set()
    assert (await asyncio.wait_for(slow_read, timeout=10))["notes"] == ["first"]
    assert stats(server)["not_stored"] >= 1
    assert (await alice.call("probe_notes"))["notes"] == ["first", "second"]
    assert (await alice.call("probe_notes"))["notes"] == ["first", "second"]
    assert stats(server)["hits"] == 1


async def test_size_bounds(scs_factory: ServerFactory) -> None:
    server = await scs_factory(
        env={"SCS_CACHE_MAX_ENTRY_BYTES": "2048", "SCS_CACHE_MAX_BYTES": "8192"}
    )
    alice = await server.agent("alice")
    session_id = await session_with(alice, "x" * 3000)
    await alice.call("get_messages", session_id=session_id)
    assert stats(server)["entries"] == 0  # larger than an entry may be
    small = await session_with(alice)
    for limit in range(1, 30):
        await alice.call("get_messages", session_id=small, limit=limit)
    figures = stats(server)
    assert 0 < figures["entries"] < 29
    assert figures["bytes"] <= 8192


async def test_session_resources_are_cached_and_fresh(scs_factory: ServerFactory) -> None:
    server = await scs_factory(http=True)
    alice = await server.agent("alice")
    session_id = await session_with(alice, "one")
    uri = f"session://{session_id}/messages/10"

    async def read() -> list[str]:
        result = await alice.client.read_resource(uri)
        return contents(json.loads(result[0].text))

    assert await read() == ["one"]
    hits = stats(server)["hits"]
    assert await read() == ["one"]
    assert stats(server)["hits"] == hits + 1
    await alice.call("add_message", session_id=session_id, content="two")
    assert await read() == ["one", "two"]


async def test_monitoring_reports_the_cache(scs_factory: ServerFactory) -> None:
    server = await scs_factory()
    alice = await server.agent("alice")
    admin = await server.agent("root", agent_type="admin")
    session_id = await session_with(alice, "one")
    await alice.call("get_session", session_id=session_id)
    await alice.call("get_session", session_id=session_id)
    figures = (await admin.call("get_performance_metrics"))["cache"]
    assert figures["hits"] >= 1 and 0 < figures["hit_ratio"] <= 1


async def test_server_works_without_cache(scs_factory: ServerFactory) -> None:
    server = await scs_factory("default,-cache")
    alice = await server.agent("alice")
    admin = await server.agent("root", agent_type="admin")
    session_id = await session_with(alice, "one")
    for _ in range(2):
        assert contents(await alice.call("get_messages", session_id=session_id)) == ["one"]
    await alice.call("add_message", session_id=session_id, content="two")
    assert contents(await alice.call("get_messages", session_id=session_id)) == ["one", "two"]
    assert "cache" not in server.app.services
    assert (await admin.call("get_performance_metrics"))["cache"] is None


async def test_search_answers_are_cached_per_caller_class(scs_factory: ServerFactory) -> None:
    server = await scs_factory()
    admin = await server.agent("root", agent_type="admin")
    alice = await server.agent("alice")
    session_id = await session_with(alice, "deploy the parser")
    await admin.call(
        "add_message", session_id=session_id, content="deploy secret keys", visibility="admin_only"
    )

    def found(result: dict[str, Any]) -> set[str]:
        return {item["message"]["content"] for item in result["results"]}

    everything = {"deploy the parser", "deploy secret keys"}
    for _ in range(2):
        assert (
            found(await admin.call("search_context", query="deploy", session_id=session_id))
            == everything
        )
        assert found(await alice.call("search_context", query="deploy", session_id=session_id)) == {
            "deploy the parser"
        }
    hits = stats(server)["hits"]
    assert hits >= 2
    await alice.call("add_message", session_id=session_id, content="deploy again")
    assert "deploy again" in found(
        await alice.call("search_context", query="deploy", session_id=session_id)
    )
