"""The index never serves stale results: new messages, other processes, deletions, eviction."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest
from scs_search.service import Search
from scs_server.testing import listeners_cut_off

from .conftest import PLUGINS, seed
from .corpus import rows

if TYPE_CHECKING:
    from scs_server.storage.cluster import PostgresCluster
    from scs_server.testing import Agent, ServerFactory

    from .conftest import Team, TeamFactory


def ids_of(found: dict[str, Any]) -> list[int]:
    return [r["message"]["id"] for r in found["results"]]


async def test_new_messages_are_found_at_once(team: Team) -> None:
    await seed(team.server.app, team.session_id, rows(300))
    before = await team.bob.call("search_context", session_id=team.session_id, query="kubernetes")
    assert before["results"] == [] or all(r["score"] < 100 for r in before["results"])
    added = await team.alice.call(
        "add_message", session_id=team.session_id, content="kubernetes operator rollout plan"
    )
    after = await team.bob.call(
        "search_context", session_id=team.session_id, query="kubernetes", fuzzy_threshold=100
    )
    assert ids_of(after) == [added["message_id"]]
    search = team.server.app.services.get(Search, needed_by="test")
    assert search.cache.stats["event_rows"] >= 1  # the event fed the index


async def test_concurrent_additions_are_all_found_once(team: Team) -> None:
    await team.bob.call("search_context", session_id=team.session_id, query="warm up")
    added = await asyncio.gather(
        *(
            team.alice.call(
                "add_message", session_id=team.session_id, content=f"zebracorn note {n}"
            )
            for n in range(20)
        )
    )
    found = await team.bob.call(
        "search_context",
        session_id=team.session_id,
        query="zebracorn",
        fuzzy_threshold=100,
        limit=100,
    )
    assert sorted(ids_of(found)) == sorted(a["message_id"] for a in added)


async def search_until(
    agent: Agent, expected: list[int], deadline_s: float = 10.0, **arguments: Any
) -> dict[str, Any]:
    """Search until the result ids are ``expected`` or the deadline passes (the last answer).

    Another replica's commit reaches a PostgreSQL server within the feed's latency; on
    SQLite ``poll()`` delivers it before the first search, so one call suffices there.
    """
    loop = asyncio.get_running_loop()
    until = loop.time() + deadline_s
    for _ in range(1000):
        found = await agent.call("search_context", **arguments)
        if ids_of(found) == expected or loop.time() > until:
            return found
        await asyncio.sleep(0.01)
    return found


async def test_writes_by_another_process_are_seen(
    make_team: TeamFactory, scs_factory: ServerFactory, db_engine: str
) -> None:
    team = await make_team()
    await seed(team.server.app, team.session_id, rows(500))
    query = {"session_id": team.session_id, "query": "zebracorn", "fuzzy_threshold": 90}
    first = await team.bob.call("search_context", **query)
    assert first["results"] == []
    # a second server on the same database: its events never reach the first one
    other = await scs_factory(plugins=PLUGINS, same_database_as=team.server)
    dave = await other.agent("dave", "claude")
    added = await dave.call(
        "add_message", session_id=team.session_id, content="zebracorn sighted in the logs"
    )
    if db_engine == "sqlite":  # poll() delivers the other process's commit: exact
        found = await team.bob.call("search_context", **query)
    else:
        found = await search_until(team.bob, [added["message_id"]], **query)
    assert ids_of(found) == [added["message_id"]]

    # a deletion made elsewhere (announced on the messages topic, without an id) is
    # seen too: the index rebuilds
    async with other.app.db.transaction() as tx:
        await tx.execute("DELETE FROM messaging_messages WHERE id = ?", (added["message_id"],))
        tx.emit("messages", {"session_id": team.session_id})
    cache = team.server.app.services.get(Search, needed_by="test").cache
    loop = asyncio.get_running_loop()
    until = loop.time() + 10.0
    for _ in range(1000):  # PostgreSQL: within the feed's latency; SQLite: the first look
        gone = await team.bob.call("search_context", **query)
        if cache.stats["rebuilds"] >= 1 or loop.time() > until:
            break
        assert db_engine != "sqlite", "SQLite must see the other process's commit at once"
        await asyncio.sleep(0.01)
    assert gone["results"] == []
    assert cache.stats["rebuilds"] >= 1


async def test_this_process_writes_need_no_check(team: Team) -> None:
    """The feed announces the new id, the message.added event has indexed it already."""
    await seed(team.server.app, team.session_id, rows(100))
    cache = team.server.app.services.get(Search, needed_by="test").cache
    await team.bob.call("search_context", session_id=team.session_id, query="warm up")
    checks = cache.stats["checks"]
    added = await team.alice.call(
        "add_message", session_id=team.session_id, content="capybara migration notes"
    )
    found = await team.bob.call(
        "search_context", session_id=team.session_id, query="capybara", fuzzy_threshold=100
    )
    assert ids_of(found) == [added["message_id"]]
    assert cache.stats["checks"] == checks  # answered from the index, no database check


async def test_a_session_change_makes_the_index_check(team: Team) -> None:
    await seed(team.server.app, team.session_id, rows(50))
    cache = team.server.app.services.get(Search, needed_by="test").cache
    await team.bob.call("search_context", session_id=team.session_id, query="one")
    checks = cache.stats["checks"]
    await team.alice.call("close_session", session_id=team.session_id)
    await team.bob.call("search_context", session_id=team.session_id, query="two")
    assert cache.stats["checks"] == checks + 1


async def test_evicted_sessions_are_reloaded_correctly(make_team: TeamFactory) -> None:
    team = await make_team(env={"SCS_SEARCH_INDEX_MAX_MESSAGES": "1000"})
    app = team.server.app
    sessions = [team.session_id]
    for n in range(2):
        created = await team.alice.call("create_session", purpose=f"extra {n}")
        sessions.append(created["session_id"])
    for n, session_id in enumerate(sessions):
        await seed(app, session_id, [*rows(600, seed=n), _row(f"needle{n} in session {n}")])
    cache = app.services.get(Search, needed_by="test").cache
    for _ in range(2):
        for n, session_id in enumerate(sessions):
            found = await team.bob.call(
                "search_context", session_id=session_id, query=f"needle{n}", fuzzy_threshold=100
            )
            assert len(found["results"]) == 1
            assert found["results"][0]["message"]["session_id"] == session_id
            assert cache.indexed_messages <= 1000 or len(cache._indexes) == 1
    assert cache.stats["loads"] >= 4  # sessions were dropped and loaded again


def _row(content: str) -> dict[str, object]:
    return {
        "sender": "alice",
        "sender_type": "claude",
        "content": content,
        "visibility": "public",
        "metadata": None,
    }


async def test_an_unchanged_database_skips_the_check_and_a_commit_restores_it(team: Team) -> None:
    await seed(team.server.app, team.session_id, rows(200))
    cache = team.server.app.services.get(Search, needed_by="test").cache
    await team.bob.call("search_context", session_id=team.session_id, query="one")
    checks = cache.stats["checks"]
    await team.bob.call("search_context", session_id=team.session_id, query="two")
    assert cache.stats["checks"] == checks and cache.stats["unchanged"] >= 1
    await seed(team.server.app, team.session_id, [_row("ocelot")])  # any commit
    found = await team.bob.call(
        "search_context", session_id=team.session_id, query="ocelot", fuzzy_threshold=100
    )
    assert cache.stats["checks"] == checks + 1
    assert [r["message"]["content"] for r in found["results"]] == ["ocelot"]


async def test_with_every_default_plugin_new_messages_still_show(
    scs_factory: ServerFactory,
) -> None:
    server = await scs_factory(plugins="default")  # the response cache sits in front
    alice = await server.agent("alice")
    session = await alice.call("create_session", purpose="with the cache")
    sid = session["session_id"]
    await alice.call("add_message", session_id=sid, content="tune database connection pooling")
    first = await alice.call("search_context", session_id=sid, query="databse pool")
    await alice.call("add_message", session_id=sid, content="databse pool, again")
    second = await alice.call("search_context", session_id=sid, query="databse pool")
    assert (first["count"], second["count"]) == (1, 2)


@pytest.mark.parametrize("db_engine", ["postgresql"])
async def test_a_replica_whose_feed_is_reconnecting_checks_the_database(
    make_team: TeamFactory, scs_factory: ServerFactory, postgres_cluster: PostgresCluster
) -> None:
    team = await make_team()
    await seed(team.server.app, team.session_id, rows(200))
    other = await scs_factory(plugins=PLUGINS, same_database_as=team.server)
    dave = await other.agent("dave", "claude")
    queries = [
        {"session_id": team.session_id, "query": "zebracorn", "fuzzy_threshold": 90},
        {"query": "zebracorn", "fuzzy_threshold": 90},  # every session: the corpus
    ]
    search = team.server.app.services.get(Search, needed_by="test")
    loop = asyncio.get_running_loop()
    until = loop.time() + 60
    for query in queries:  # both indexes built (the corpus in the background) and checked
        assert (await team.bob.call("search_context", **query))["results"] == []
    while search.everything.corpus is None:
        assert loop.time() < until, "the corpus was never built"
        await asyncio.sleep(0.02)
    assert (await team.bob.call("search_context", **queries[1]))["results"] == []
    # both replicas' listeners cut off, and kept from reconnecting
    async with listeners_cut_off(postgres_cluster, team.server) as ended:
        assert ended == 2
        added = await dave.call(
            "add_message", session_id=team.session_id, content="zebracorn sighted in the logs"
        )
        # this replica never heard of that write: each index checks the database
        for query in queries:
            found = await team.bob.call("search_context", **query)
            assert ids_of(found) == [added["message_id"]]
