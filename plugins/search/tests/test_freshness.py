"""The index never serves stale results: new messages, other processes, deletions, eviction."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from scs_search.service import Search

from .conftest import PLUGINS, seed
from .corpus import rows

if TYPE_CHECKING:
    from scs.testing import ServerFactory

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


async def test_writes_by_another_process_are_seen(
    make_team: TeamFactory, scs_factory: ServerFactory
) -> None:
    team = await make_team()
    await seed(team.server.app, team.session_id, rows(500))
    first = await team.bob.call(
        "search_context", session_id=team.session_id, query="zebracorn", fuzzy_threshold=90
    )
    assert first["results"] == []
    # a second server on the same database file: its events never reach the first one
    other = await scs_factory(plugins=PLUGINS, database_path=team.server.app.settings.db_path)
    dave = await other.agent("dave", "claude")
    added = await dave.call(
        "add_message", session_id=team.session_id, content="zebracorn sighted in the logs"
    )
    found = await team.bob.call(
        "search_context", session_id=team.session_id, query="zebracorn", fuzzy_threshold=90
    )
    assert ids_of(found) == [added["message_id"]]

    # a deletion made elsewhere is seen too (the index rebuilds)
    async with other.app.db.transaction() as conn:
        await conn.execute("DELETE FROM messages WHERE id = ?", (added["message_id"],))
    gone = await team.bob.call(
        "search_context", session_id=team.session_id, query="zebracorn", fuzzy_threshold=90
    )
    assert gone["results"] == []
    assert team.server.app.services.get(Search, needed_by="test").cache.stats["rebuilds"] >= 1


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
