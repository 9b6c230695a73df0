"""A search without session_id ranks one corpus of every session: equal to brute force
over all of them, kept fresh (events, the change feed, deletions), within the budgets."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import numpy as np
from scs_search import locality, ranking, scoring
from scs_search.corpus import Corpus
from scs_search.ranking import rank
from scs_search.service import Search

from .conftest import PLUGINS, all_messages, brute_force, identity_of, needs_kernel, seed
from .corpus import rows

if TYPE_CHECKING:
    import pytest
    from scs_server.testing import Agent, ServerFactory

    from .conftest import Team

QUERIES = ("databse pool", "topic merge", "zeppelin", "SCS-4", "replica backup shard")


BUILD_DEADLINE_S = 60.0  # a few thousand messages take well under a second


async def built(agent: Agent, search: Search) -> Corpus:
    """Start the corpus (a search without session_id builds it in the background; that
    search goes session by session) and wait for it, polling within a deadline."""
    await agent.call("search_context", query="start the corpus")
    deadline = time.monotonic() + BUILD_DEADLINE_S
    while search.everything.corpus is None and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert search.everything.corpus is not None
    return search.everything.corpus


def pairs(found: dict[str, Any]) -> list[tuple[int, float]]:
    return [(r["message"]["id"], r["score"]) for r in found["results"]]


def rounded(expected: list[tuple[int, float]]) -> list[tuple[int, float]]:
    return [(ident, round(score, 2)) for ident, score in expected]


def test_ids_held_ahead_are_counted_as_they_come_and_go() -> None:
    """The memory estimate counts the event ids above each watermark without walking
    every session on each event (a running total, checked against the parts here)."""
    corpus = Corpus()

    def held_ahead() -> int:
        return sum(len(part.ahead) for part in corpus.parts.values())

    picked = {
        f"s{n}": [dict(row, id=n * 1000 + i) for i, row in enumerate(rows(20, seed=n))]
        for n in range(3)
    }
    for session_id, messages in picked.items():
        corpus.add_session_rows(session_id, messages[:10])
        for message in messages[10:]:
            assert corpus.add_session_event(session_id, message)
    assert corpus._ahead == held_ahead() == 30
    with_ahead = corpus.nbytes()
    corpus.add_session_rows("s0", picked["s0"][10:])  # a read overtakes its events
    assert corpus._ahead == held_ahead() == 20
    corpus.drop_session("s1")
    assert corpus._ahead == held_ahead() == 10
    assert corpus.nbytes() < with_ahead


def test_a_dropped_session_leaves_every_ranking() -> None:
    corpus = Corpus()
    next_id = 1
    for number in range(6):
        picked = [dict(row, id=next_id + n) for n, row in enumerate(rows(200, seed=number))]
        next_id += len(picked)
        corpus.add_session_rows(f"s{number}", picked[:150])
        for message in reversed(picked[150:]):  # events, in any order
            assert corpus.add_session_event(f"s{number}", message)
        assert not corpus.add_session_event(f"s{number}", picked[-1])  # held already
    corpus.drop_session("s2")
    corpus.drop_session("s4")
    snapshot = corpus.snapshot()
    live = corpus.live(snapshot.n)
    assert live is not None and int(live.sum()) == 4 * 200
    assert corpus.parts.keys() == {"s0", "s1", "s3", "s5"}
    allowed = np.ones(len(snapshot.class_keys), dtype=bool)
    for query in QUERIES:
        hits = rank(snapshot, query.lower(), 60.0, 20, allowed, rows_wanted=live)
        expected = sorted(
            (-scoring.score(query.lower(), snapshot.texts[row]), -int(snapshot.ids[row]))
            for row in np.flatnonzero(live).tolist()
        )
        expected = [pair for pair in expected if -pair[0] >= 60.0][:20]
        assert [(h.score, h.message_id) for h in hits] == [(-s, -i) for s, i in expected]


async def test_one_ranked_list_over_many_sessions_equals_brute_force(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the locality bound from a few rows on (4,096 by default: this corpus is smaller)
    monkeypatch.setattr(ranking, "LOCALITY_MIN_ROWS", 16)
    monkeypatch.setattr(locality, "TABLE_US", 0.0)  # worth it whatever the tables cost
    app = team.server.app
    sessions = [team.session_id]
    for n in range(11):
        created = await team.alice.call("create_session", purpose=f"more {n}")
        sessions.append(created["session_id"])
    for n, session_id in enumerate(sessions):
        await seed(app, session_id, rows(90 + 10 * n, seed=20 + n))
    messages = await all_messages(app)
    search = app.services.get(Search, needed_by="test")
    await built(team.bob, search)
    for agent in (team.alice, team.carol, team.auditor):
        identity = identity_of(agent)
        for query in QUERIES:
            for scope, threshold, limit in (("all", 60.0, 10), ("public", 0.0, 40)):
                found = await agent.call(
                    "search_context",
                    query=query,
                    search_scope=scope,
                    fuzzy_threshold=threshold,
                    limit=limit,
                )
                expected = brute_force(messages, identity, query, threshold, limit, scope=scope)
                assert pairs(found) == rounded(expected), (agent.agent_id, query, scope)
                assert found["truncated"] is False
    corpus = search.everything.corpus
    assert corpus is not None and len(corpus) == len(messages)
    # compacted when its build ended: no room left empty (rounded to whole bit bytes)
    assert corpus.capacity == -(-len(corpus) // 8) * 8 and corpus.growth == 16
    assert search.everything.stats["builds"] == 1  # built once, then only checked
    assert len(set(corpus.parts)) == len(sessions)
    # the corpus holds its bytes in the index budget: session indexes get the rest
    assert search.cache.reserved_bytes == corpus.nbytes()
    # filters narrow the corpus the same way
    found = await team.bob.call(
        "search_context", query="topic merge", sender="carol", limit=50, fuzzy_threshold=0
    )
    assert {r["message"]["sender"] for r in found["results"]} == {"carol"}
    expected = [
        pair
        for pair in brute_force(messages, identity_of(team.bob), "topic merge", 0.0, 10**6)
        if next(m for m in messages if m["id"] == pair[0])["sender"] == "carol"
    ][:50]
    assert pairs(found) == rounded(expected)
    needs_kernel()
    assert search.stats["tightened"] > 0  # the locality bound took part in the answers


async def test_the_locality_tables_give_way_to_the_corpus(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tables of the targets searched lately count in the index budget, but as a
    cache: when the corpus and its tables outgrow the budget, the tables go, not the
    corpus (which would be dropped for good)."""
    needs_kernel()
    monkeypatch.setattr(ranking, "LOCALITY_MIN_ROWS", 16)
    monkeypatch.setattr(locality, "TABLE_US", 0.0)
    app = team.server.app
    await seed(app, team.session_id, rows(2000, seed=4))
    search = app.services.get(Search, needed_by="test")
    corpus = await built(team.alice, search)
    # long queries: tables of ~(length x vocabulary) bytes, far more than one message adds
    longer = (
        "replica backup shard failover and the rollback migration plan",
        "websocket listener timeout while the deploy pipeline waits",
        "dashboard alerts for the rate limiter and the token cache",
    )
    for query in (*QUERIES, *longer):
        await team.alice.call("search_context", query=query)
    tables = corpus.vocabulary.table_nbytes()
    assert tables > 0 and search.stats["tightened"] > 0
    everything = search.everything
    everything.cache.max_bytes = corpus.nbytes() - tables // 2  # fits only without them
    await team.alice.call("add_message", session_id=team.session_id, content="one more")
    assert everything.corpus is corpus and not everything.too_big
    assert corpus.vocabulary.table_nbytes() == 0
    assert search.cache.reserved_bytes == corpus.nbytes() <= everything.cache.max_bytes
    found = await team.alice.call("search_context", query="one more")
    assert found["results"][0]["message"]["content"] == "one more"


async def test_the_corpus_follows_events_the_feed_and_deletions(team: Team) -> None:
    app = team.server.app
    other = await team.bob.call("create_session", purpose="other")
    await seed(app, team.session_id, rows(150, seed=1))
    await seed(app, other["session_id"], rows(150, seed=2))
    search = app.services.get(Search, needed_by="test")
    await built(team.bob, search)
    # this process's message: the event adds it, no database check
    checks = search.everything.stats["checks"]
    added = await team.alice.call(
        "add_message", session_id=other["session_id"], content="quokka deployment notes"
    )
    found = await team.bob.call("search_context", query="quokka deployment")
    assert [r["message"]["id"] for r in found["results"]][:1] == [added["message_id"]]
    assert search.everything.stats["events"] >= 1
    assert search.everything.stats["checks"] == checks
    # a writer that only announces the session (as another process would): checked
    [inserted] = await seed(
        app,
        team.session_id,
        [{**rows(1)[0], "content": "wombat cache warmup", "visibility": "public"}],
    )
    found = await team.bob.call("search_context", query="wombat cache warmup")
    assert [r["message"]["id"] for r in found["results"]][:1] == [inserted]
    assert search.everything.stats["checks"] == checks + 1
    # a new session after the corpus was built
    late = await team.carol.call("create_session", purpose="late")
    [late_id] = await seed(
        app,
        late["session_id"],
        [{**rows(1)[0], "content": "narwhal rollout", "visibility": "public"}],
    )
    found = await team.bob.call("search_context", query="narwhal rollout")
    assert [r["message"]["id"] for r in found["results"]][:1] == [late_id]
    # a deletion, announced without an id: the session's rows are read again
    async with app.db.transaction() as tx:
        await tx.execute("DELETE FROM messaging_messages WHERE id = ?", (inserted,))
        tx.emit("messages", {"session_id": team.session_id})
    found = await team.bob.call("search_context", query="wombat cache warmup", limit=20)
    assert inserted not in [r["message"]["id"] for r in found["results"]]
    assert search.everything.stats["dropped"] == 1
    messages = await all_messages(app)
    for query in QUERIES:
        found = await team.carol.call("search_context", query=query, limit=15)
        expected = brute_force(messages, identity_of(team.carol), query, 60.0, 15)
        assert pairs(found) == rounded(expected), query


async def test_another_replicas_message_reaches_the_corpus(scs_factory: ServerFactory) -> None:
    a = await scs_factory(plugins=PLUGINS, http=True)
    b = await scs_factory(plugins=PLUGINS, http=True, same_database_as=a)
    writer = await a.agent("writer")
    reader = await b.agent("reader")
    sid = (await writer.call("create_session", purpose="replicas"))["session_id"]
    await writer.call("add_message", session_id=sid, content="first note of the day")
    search = b.app.services.get(Search, needed_by="test")
    await built(reader, search)
    first = await reader.call("search_context", query="first note of the day")
    assert first["count"] == 1
    added = await writer.call("add_message", session_id=sid, content="okapi sighting")

    async def found() -> list[int]:
        hits = await reader.call("search_context", query="okapi sighting")
        return [r["message"]["id"] for r in hits["results"]]

    # b learns of a's commit by the change feed (exact on SQLite, ~ms on PostgreSQL)
    deadline = time.monotonic() + 5.0
    got = await found()
    while got[:1] != [added["message_id"]] and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
        got = await found()
    assert got[:1] == [added["message_id"]]
    assert search.everything.stats["builds"] == 1  # kept fresh, not rebuilt
