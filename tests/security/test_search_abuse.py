"""Search cannot freeze the server: budget, caps and off-loop ranking (security finding 3).

Every test goes through a real MCP client against a server with the real plugins on a
real SQLite file. Nothing is timed: truncation comes from a zero budget, and the loop's
responsiveness is shown by counters (where ranking ran, how often a probe task ran).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from scs_search import scoring
from scs_search.service import Search
from scs_search.text import prepare, prepare_query
from scs_server.cpu import lane_stats

if TYPE_CHECKING:
    from scs_server.app import App
    from scs_server.testing import ServerFactory

PLUGINS = "sessions,messaging,search"
WORDS = ("database", "pool", "shard", "replica", "vacuum", "index", "merge", "topic")


async def insert(app: App, session_id: str, contents: list[str]) -> None:
    """Many public messages from alice, straight into the database (HTTP would be slow)."""
    async with app.db.transaction() as tx:
        await tx.execute_many(
            "INSERT INTO messaging_messages (session_id, sender, sender_type, content, visibility,"
            " metadata, parent_message_id, timestamp)"
            " VALUES (?, 'alice', 'claude', ?, 'public', NULL, NULL, '2026-01-01T00:00:00.000000Z')",
            [(session_id, content) for content in contents],
        )
        tx.emit("messages", {"session_id": session_id})  # as messaging would


def sentences(count: int, width: int = 1) -> list[str]:
    return [
        " ".join(WORDS[(n + k) % len(WORDS)] for k in range(3)) * width + f" n{n}"
        for n in range(count)
    ]


async def test_a_spent_budget_truncates_and_says_so(scs_factory: ServerFactory) -> None:
    server = await scs_factory(plugins=PLUGINS, env={"SCS_SEARCH_BUDGET_MS": "0"})
    alice = await server.agent("alice")
    session = await alice.call("create_session", purpose="budget")
    sid = session["session_id"]
    await insert(server.app, sid, sentences(3000))
    found = await alice.call(
        "search_context", session_id=sid, query="zebra quokka", fuzzy_threshold=0, limit=20
    )
    # words that occur nowhere: the 20th best score stays low, so every chunk is needed
    assert found["truncated"] is True
    assert "SCS_SEARCH_BUDGET_MS" in found["hint"]
    assert found["count"] == 20  # at least one chunk was ranked
    query = prepare_query("zebra quokka")
    for result in found["results"]:  # what was ranked is scored exactly
        message = result["message"]
        text, _ = prepare(message["sender"], message["content"], None)
        assert result["score"] == round(scoring.score(query, text), 2)
    assert server.app.services.get(Search, needed_by="test").stats["truncated"] == 1


async def test_cross_session_search_shares_the_budget_newest_session_first(
    scs_factory: ServerFactory,
) -> None:
    server = await scs_factory(plugins=PLUGINS, env={"SCS_SEARCH_BUDGET_MS": "0"})
    alice = await server.agent("alice")
    older = (await alice.call("create_session", purpose="older"))["session_id"]
    newer = (await alice.call("create_session", purpose="newer"))["session_id"]
    await insert(server.app, older, ["needle in the older session"] * 5)
    await insert(server.app, newer, ["needle in the newer session"] * 5)
    found = await alice.call("search_context", query="needle", fuzzy_threshold=100)
    assert found["truncated"] is True
    assert {r["message"]["session_id"] for r in found["results"]} == {newer}


async def test_with_time_to_spare_nothing_is_truncated(scs_factory: ServerFactory) -> None:
    server = await scs_factory(plugins=PLUGINS, env={"SCS_SEARCH_BUDGET_MS": "600000"})
    alice = await server.agent("alice")
    older = (await alice.call("create_session", purpose="older"))["session_id"]
    newer = (await alice.call("create_session", purpose="newer"))["session_id"]
    await insert(server.app, older, ["needle in the older session"] * 5)
    await insert(server.app, newer, ["needle in the newer session"] * 5)
    found = await alice.call("search_context", query="needle", fuzzy_threshold=100)
    assert found["truncated"] is False and "hint" not in found
    assert {r["message"]["session_id"] for r in found["results"]} == {older, newer}


async def test_a_too_long_query_is_a_typed_error(scs_factory: ServerFactory) -> None:
    server = await scs_factory(plugins=PLUGINS, env={"SCS_SEARCH_MAX_QUERY_CHARS": "40"})
    alice = await server.agent("alice")
    sid = (await alice.call("create_session", purpose="query cap"))["session_id"]
    await alice.call("add_message", session_id=sid, content="x" * 100)
    error = await alice.fails("search_context", session_id=sid, query="x" * 41)
    assert error.code == "VALIDATION_001"
    assert "40" in error.message
    found = await alice.call("search_context", session_id=sid, query="x" * 40)
    assert found["count"] == 1


async def test_the_default_query_cap_is_256(scs_factory: ServerFactory) -> None:
    server = await scs_factory(plugins=PLUGINS)
    alice = await server.agent("alice")
    sid = (await alice.call("create_session", purpose="query cap"))["session_id"]
    error = await alice.fails("search_context", session_id=sid, query="q" * 257)
    assert error.code == "VALIDATION_001"
    assert (await alice.call("search_context", session_id=sid, query="q" * 256))["success"]


async def test_text_beyond_the_scored_cap_is_not_matched(scs_factory: ServerFactory) -> None:
    server = await scs_factory(plugins=PLUGINS, env={"SCS_SEARCH_MAX_SCORED_CHARS": "1000"})
    alice = await server.agent("alice")
    sid = (await alice.call("create_session", purpose="text cap"))["session_id"]
    content = "okapi early " + "." * 900 + " narwhal inside " + "." * 200 + " zebrafinch late"
    await alice.call("add_message", session_id=sid, content=content)

    async def hits(query: str) -> int:
        found = await alice.call("search_context", session_id=sid, query=query, fuzzy_threshold=100)
        return int(found["count"])

    assert await hits("okapi") == 1
    assert await hits("narwhal") == 1  # ends before character 1,000
    assert await hits("zebrafinch") == 0  # starts after it


async def test_big_searches_rank_off_the_event_loop_and_queue(
    scs_factory: ServerFactory,
) -> None:
    # one slot, so the others must queue; a queue wait and a ranking budget long enough
    # that a slow, busy machine never turns the queueing this test checks into a
    # RATE_LIMITED refusal or a truncated ranking (fewer than 10 hits)
    server = await scs_factory(
        plugins=PLUGINS,
        env={
            "SCS_SEARCH_CONCURRENCY": "1",
            "SCS_SEARCH_QUEUE_TIMEOUT_MS": "600000",
            "SCS_SEARCH_BUDGET_MS": "600000",
        },
    )
    alice = await server.agent("alice")
    sid = (await alice.call("create_session", purpose="big"))["session_id"]
    await insert(server.app, sid, sentences(300, width=400))  # 300 texts of ~9,000 chars
    search = server.app.services.get(Search, needed_by="test")
    query = " ".join(sentences(12))[:250]  # a long query: every text costs ~1 ms

    ticks = 0  # turns the probe got while a ranking was in progress
    done = asyncio.Event()

    async def probe() -> None:
        nonlocal ticks
        deadline = time.monotonic() + 60
        for _ in range(1_000_000):
            if done.is_set() or time.monotonic() > deadline:
                break
            ticks += search.ranking > 0
            await asyncio.sleep(0)

    lane_before = lane_stats()["jobs"]
    prober = asyncio.create_task(probe())
    calls = [
        alice.call("search_context", session_id=sid, query=query, fuzzy_threshold=0)
        for _ in range(4)
    ]
    answers: list[Any] = await asyncio.gather(*calls)
    done.set()
    await prober
    assert [(a["count"], a.get("truncated")) for a in answers] == [(10, False)] * 4
    assert search.stats["threaded"] == 4 and search.stats["inline"] == 0
    # ranked on the process's one CPU lane, not on threads of their own (scs_server.cpu)
    assert lane_stats()["jobs"] - lane_before >= 4
    assert search.cache.stats["thread_loads"] >= 1  # the long texts were prepared off-loop too
    assert search.stats["waited"] >= 1  # one slot: the others queued
    # the loop kept serving while rankings ran (an on-loop ranking leaves it no turn)
    assert ticks >= 10, ticks


async def test_small_searches_stay_inline(scs_factory: ServerFactory) -> None:
    server = await scs_factory(plugins=PLUGINS)
    alice = await server.agent("alice")
    sid = (await alice.call("create_session", purpose="small"))["session_id"]
    await insert(server.app, sid, sentences(50))
    found = await alice.call("search_context", session_id=sid, query="shard")
    assert found["count"] == 10
    stats = server.app.services.get(Search, needed_by="test").stats
    assert (stats["inline"], stats["threaded"]) == (1, 0)


async def test_results_stop_at_the_response_byte_budget(scs_factory: ServerFactory) -> None:
    # 2,000-character messages against a 5,000-byte budget: two fit, the third would not
    server = await scs_factory(plugins=PLUGINS, env={"SCS_MESSAGING_MAX_RESPONSE_BYTES": "5000"})
    alice = await server.agent("alice")
    sid = (await alice.call("create_session", purpose="big answers"))["session_id"]
    await insert(server.app, sid, [f"needle {n} " + "x" * 2000 for n in range(6)])
    found = await alice.call("search_context", session_id=sid, query="needle", limit=6)
    assert found["count"] == 2
    assert found["has_more"] is True
    assert "SCS_MESSAGING_MAX_RESPONSE_BYTES" in found["hint"]
    small = await alice.call("search_context", session_id=sid, query="needle", limit=2)
    assert (small["count"], small["has_more"]) == (2, False)
    assert "hint" not in small
