"""search_by_sender and search_by_timerange: visibility, order, inclusive ranges, time zones."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .conftest import seed

if TYPE_CHECKING:
    from .conftest import Team


def row(sender: str, sender_type: str, content: str, visibility: str = "public") -> dict[str, Any]:
    return {
        "sender": sender,
        "sender_type": sender_type,
        "content": content,
        "visibility": visibility,
        "metadata": None,
    }


async def test_by_sender_newest_first_and_visible_only(team: Team) -> None:
    ids = await seed(
        team.server.app,
        team.session_id,
        [
            row("alice", "claude", "one"),
            row("bob", "claude", "two"),
            row("alice", "claude", "three", "private"),
            row("alice", "claude", "four"),
        ],
    )
    mine = await team.alice.call("search_by_sender", session_id=team.session_id, sender="alice")
    assert [m["id"] for m in mine["messages"]] == [ids[3], ids[2], ids[0]]
    assert mine["count"] == 3
    assert set(mine["messages"][0]) == {
        "id",
        "session_id",
        "sender",
        "sender_type",
        "content",
        "visibility",
        "metadata",
        "parent_message_id",
        "timestamp",
    }
    theirs = await team.carol.call(
        "search_by_sender", session_id=team.session_id, sender="alice", limit=1
    )
    assert [m["id"] for m in theirs["messages"]] == [ids[3]]
    nobody = await team.carol.call("search_by_sender", session_id=team.session_id, sender="zed")
    assert nobody["messages"] == [] and nobody["count"] == 0


async def test_by_timerange_is_inclusive_and_reads_offsets(team: Team) -> None:
    start = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)  # one message per second from here
    ids = await seed(
        team.server.app,
        team.session_id,
        [row("alice", "claude", f"m{n}") for n in range(5)]
        + [row("alice", "claude", "secret", "private")],
        start=start,
    )
    found = await team.bob.call(
        "search_by_timerange",
        session_id=team.session_id,
        start_time="2026-03-01T12:00:01Z",
        end_time="2026-03-01T12:00:03Z",
    )
    assert [m["id"] for m in found["messages"]] == ids[1:4]
    naive = await team.bob.call(
        "search_by_timerange",
        session_id=team.session_id,
        start_time="2026-03-01T12:00:01",
        end_time="2026-03-01 12:00:03",
    )
    assert [m["id"] for m in naive["messages"]] == ids[1:4]
    offset = await team.bob.call(
        "search_by_timerange",
        session_id=team.session_id,
        start_time="2026-03-01T13:00:00+01:00",
        end_time="2026-03-01T13:00:10+01:00",
        limit=2,
    )
    assert [m["id"] for m in offset["messages"]] == ids[0:2]
    everything = await team.bob.call(
        "search_by_timerange",
        session_id=team.session_id,
        start_time="2026-03-01T00:00:00Z",
        end_time="2026-03-02T00:00:00Z",
    )
    assert [m["id"] for m in everything["messages"]] == ids[:5]  # not the private one
    mine = await team.alice.call(
        "search_by_timerange",
        session_id=team.session_id,
        start_time="2026-03-01T00:00:00Z",
        end_time="2026-03-02T00:00:00Z",
    )
    assert mine["count"] == 6
