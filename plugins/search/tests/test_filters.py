"""Filters of search_context (metadata_filter, sender, since, until) and get_messages'
metadata_filter: applied before ranking, never widening visibility, typed refusals."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from .conftest import seed

if TYPE_CHECKING:
    from .conftest import Team


def row(
    sender: str, content: str, metadata: dict[str, Any] | None, visibility: str = "public"
) -> dict[str, Any]:
    return {
        "sender": sender,
        "sender_type": "claude",
        "content": content,
        "visibility": visibility,
        "metadata": metadata,
    }


async def seeded(team: Team) -> list[int]:
    """Six messages one second apart from 2026-01-01T00:00:00Z, all about the same."""
    return await seed(
        team.server.app,
        team.session_id,
        [
            row("alice", "deploy the search index", {"task": "T-1", "done": True}),
            row("bob", "deploy the search index", {"task": "T-2", "done": 1}),
            row("alice", "deploy the search index", {"task": "T-1", "done": False}),
            row("alice", "deploy the search index", {"task": "T-1"}, "private"),
            row("bob", "deploy the search index", {"task": "T-1", "nested": {"a": 1}}),
            row("carol", "lunch at noon", {"task": "T-1"}),
        ],
    )


def ids(found: dict[str, Any]) -> list[int]:
    return [r["message"]["id"] for r in found["results"]]


async def test_metadata_filter_sender_and_time_narrow_before_ranking(team: Team) -> None:
    m = await seeded(team)
    sid = team.session_id
    search = {"session_id": sid, "query": "deploy search index", "limit": 10}
    everything = await team.bob.call("search_context", **search)
    assert ids(everything) == [m[4], m[2], m[1], m[0]]  # ties: newest first; m[3] is private
    task = await team.bob.call("search_context", **search, metadata_filter={"task": "T-1"})
    assert ids(task) == [m[4], m[2], m[0]]
    assert task["filters"]["metadata_filter"] == {"task": "T-1"}
    # booleans are not numbers: done=True matches m[0] only, done=1 matches m[1] only
    done = await team.bob.call(
        "search_context", **search, metadata_filter={"task": "T-1", "done": True}
    )
    assert ids(done) == [m[0]]
    one = await team.bob.call("search_context", **search, metadata_filter={"done": 1.0})
    assert ids(one) == [m[1]]
    # the private message matches for its sender only
    mine = await team.alice.call("search_context", **search, metadata_filter={"task": "T-1"})
    assert ids(mine) == [m[4], m[3], m[2], m[0]]
    by_alice = await team.bob.call("search_context", **search, sender="alice")
    assert ids(by_alice) == [m[2], m[0]]
    window = await team.bob.call(
        "search_context",
        **search,
        since="2026-01-01T00:00:01Z",
        until="2026-01-01T01:00:03+01:00",  # 00:00:03 UTC, inclusive
    )
    assert ids(window) == [m[2], m[1]]
    nothing = await team.bob.call("search_context", **search, metadata_filter={"task": "T-9"})
    assert nothing["results"] == []
    # across sessions: the same filters
    everywhere = await team.bob.call(
        "search_context", query="deploy search index", metadata_filter={"task": "T-1"}, sender="bob"
    )
    assert ids(everywhere) == [m[4]]


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        ({"metadata_filter": {"task": {"id": 1}}}, "nested"),
        ({"metadata_filter": {"task": [1]}}, "nested"),
        ({"metadata_filter": {f"k{n}": n for n in range(9)}}, "at most 8"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-13-01"}, "until"),
        ({"since": "2026-02-01", "until": "2026-01-01"}, "after until"),
    ],
)
async def test_bad_filters_are_typed_refusals(
    team: Team, arguments: dict[str, Any], words: str
) -> None:
    await seeded(team)
    error = await team.bob.fails(
        "search_context", session_id=team.session_id, query="deploy", **arguments
    )
    assert error.code == "VALIDATION_001"
    assert words in error.message
    if "metadata_filter" in arguments:
        error = await team.bob.fails(
            "get_messages", session_id=team.session_id, metadata_filter=arguments["metadata_filter"]
        )
        assert error.code == "VALIDATION_001"


async def test_a_filter_that_is_not_an_object_is_refused(team: Team) -> None:
    error = await team.bob.fails(
        "search_context", session_id=team.session_id, query="deploy", metadata_filter="task"
    )
    assert "metadata_filter" in error.message
    error = await team.bob.fails("get_messages", session_id=team.session_id, metadata_filter=[1])
    assert "metadata_filter" in error.message


async def test_get_messages_metadata_filter_pages_over_matches(team: Team) -> None:
    m = await seeded(team)
    sid = team.session_id
    page = await team.bob.call(
        "get_messages", session_id=sid, metadata_filter={"task": "T-1"}, limit=2
    )
    assert [x["id"] for x in page["messages"]] == [m[0], m[2]]
    assert page["has_more"] is True
    rest = await team.bob.call(
        "get_messages",
        session_id=sid,
        metadata_filter={"task": "T-1"},
        after_id=page["next_cursor"],
    )
    assert [x["id"] for x in rest["messages"]] == [m[4], m[5]]
    assert rest["has_more"] is False
    skipped = await team.bob.call(
        "get_messages", session_id=sid, metadata_filter={"task": "T-1"}, offset=3
    )
    assert [x["id"] for x in skipped["messages"]] == [m[5]]
    mine = await team.alice.call("get_messages", session_id=sid, metadata_filter={"task": "T-1"})
    assert [x["id"] for x in mine["messages"]] == [m[0], m[2], m[3], m[4], m[5]]
    typed = await team.bob.call("get_messages", session_id=sid, metadata_filter={"done": 1})
    assert [x["id"] for x in typed["messages"]] == [m[1]]


async def test_messages_added_after_the_index_pass_the_filters(team: Team) -> None:
    sid = team.session_id
    await team.alice.call("add_message", session_id=sid, content="warm the index up")
    await team.bob.call("search_context", session_id=sid, query="warm")
    added = await team.alice.call(
        "add_message", session_id=sid, content="deploy the search index", metadata={"task": "T-7"}
    )
    now = datetime.now(UTC).isoformat()
    found = await team.bob.call(
        "search_context",
        session_id=sid,
        query="deploy index",
        metadata_filter={"task": "T-7"},
        sender="alice",
        until=now,
    )
    assert ids(found) == [added["message_id"]]
    later = await team.bob.call("search_context", session_id=sid, query="deploy index", since=now)
    assert later["results"] == []
