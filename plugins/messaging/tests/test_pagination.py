"""Paging through 120 messages with offset, with after_id, and with the newest-first views."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .conftest import Team, TeamFactory

TOTAL = 120


@pytest.fixture
async def filled(make_team: TeamFactory) -> tuple[Team, list[int]]:
    team = await make_team()
    posted = []
    for n in range(TOTAL):
        result = await team.alice.call("add_message", session_id=team.session_id, content=f"m{n}")
        posted.append(result["message_id"])
    return team, posted


async def test_offset_pages(filled: tuple[Team, list[int]]) -> None:
    team, posted = filled
    seen: list[int] = []
    pages = []
    for offset in (0, 50, 100):
        page = await team.bob.call(
            "get_messages", session_id=team.session_id, limit=50, offset=offset
        )
        pages.append(page)
        seen += [m["id"] for m in page["messages"]]
        assert page["total_count"] == TOTAL
    assert seen == posted
    assert [p["count"] for p in pages] == [50, 50, 20]
    assert [p["has_more"] for p in pages] == [True, True, False]
    assert pages[0]["next_cursor"] == posted[49]
    assert pages[2]["next_cursor"] is None
    beyond = await team.bob.call("get_messages", session_id=team.session_id, offset=500)
    assert beyond["messages"] == []
    assert beyond["has_more"] is False
    assert beyond["total_count"] == TOTAL


async def test_after_id_pages(filled: tuple[Team, list[int]]) -> None:
    team, posted = filled
    seen: list[int] = []
    cursor = None
    for _ in range(10):  # bounded: 3 pages expected
        page = await team.bob.call(
            "get_messages", session_id=team.session_id, limit=45, after_id=cursor
        )
        seen += [m["id"] for m in page["messages"]]
        if not page["has_more"]:
            break
        cursor = page["next_cursor"]
    assert seen == posted

    # polling: nothing new after the last id, then exactly the new one
    last = posted[-1]
    idle = await team.bob.call("get_messages", session_id=team.session_id, after_id=last)
    assert idle["messages"] == []
    new = await team.alice.call("add_message", session_id=team.session_id, content="new")
    fresh = await team.bob.call("get_messages", session_id=team.session_id, after_id=last)
    assert [m["id"] for m in fresh["messages"]] == [new["message_id"]]


async def test_after_id_and_offset_combine(filled: tuple[Team, list[int]]) -> None:
    team, posted = filled
    page = await team.bob.call(
        "get_messages", session_id=team.session_id, after_id=posted[9], offset=5, limit=10
    )
    assert [m["id"] for m in page["messages"]] == posted[15:25]


async def test_messages_are_oldest_first_and_complete(filled: tuple[Team, list[int]]) -> None:
    team, posted = filled
    page = await team.bob.call("get_messages", session_id=team.session_id, limit=1000)
    messages = page["messages"]
    assert [m["content"] for m in messages] == [f"m{n}" for n in range(TOTAL)]
    assert set(messages[0]) == {
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
    stamps = [m["timestamp"] for m in messages]
    assert stamps == sorted(stamps)
    assert all(s.endswith("Z") and "T" in s for s in stamps)


async def test_newest_views(filled: tuple[Team, list[int]]) -> None:
    team, posted = filled
    view = await team.bob.call("get_session", session_id=team.session_id)
    assert [m["id"] for m in view["messages"]] == posted[-50:]
    assert view["total_count"] == TOTAL
    assert view["has_more"] is True


async def test_messages_resource_limit(make_team: TeamFactory) -> None:
    team = await make_team(http=True)
    posted = []
    for n in range(7):
        result = await team.alice.call("add_message", session_id=team.session_id, content=f"m{n}")
        posted.append(result["message_id"])

    async def read(uri: str) -> dict[str, Any]:
        contents = await team.bob.client.read_resource(uri)
        data: dict[str, Any] = json.loads("".join(getattr(c, "text", "") for c in contents))
        return data

    data = await read(f"session://{team.session_id}/messages/3")
    assert [m["id"] for m in data["messages"]] == posted[-3:]
    assert data["has_more"] is True
    for bad in ("0", "1001", "abc"):
        with pytest.raises(Exception, match="VALIDATION_001"):
            await read(f"session://{team.session_id}/messages/{bad}")
    with pytest.raises(Exception, match="RESOURCE_001"):
        await read("session://session_0000000000000000/messages/3")
    with pytest.raises(Exception, match="RESOURCE_001"):
        await read("session://session_0000000000000000")


async def test_a_page_longer_than_one_read_batch(filled: tuple[Team, list[int]]) -> None:
    # get_messages reads its rows in batches of 50: a page of 110 after an id and an
    # offset spans three, and must be exactly the rows one query would give
    team, posted = filled
    page = await team.bob.call(
        "get_messages", session_id=team.session_id, limit=110, offset=3, after_id=posted[1]
    )
    assert [m["id"] for m in page["messages"]] == posted[5:115]
    assert page["has_more"] is True and page["next_cursor"] == posted[114]
    rest = await team.bob.call(
        "get_messages", session_id=team.session_id, limit=1000, offset=3, after_id=posted[1]
    )
    assert [m["id"] for m in rest["messages"]] == posted[5:]
    assert rest["has_more"] is False


async def test_newest_and_thread_views_longer_than_one_read_batch(make_team: TeamFactory) -> None:
    # the newest view and get_thread read in batches of 50 too (newest first for the
    # former): 60 messages span two batches and must come back whole and in order
    team = await make_team(http=True)
    root = await team.alice.call("add_message", session_id=team.session_id, content="root")
    replies = []
    for n in range(59):
        result = await team.alice.call(
            "add_message",
            session_id=team.session_id,
            content=f"r{n}",
            parent_message_id=root["message_id"],
        )
        replies.append(result["message_id"])
    thread = await team.bob.call("get_thread", message_id=root["message_id"])
    assert thread["root"]["id"] == root["message_id"]
    assert [m["id"] for m in thread["replies"]] == replies
    assert thread["truncated"] is False
    contents = await team.bob.client.read_resource(f"session://{team.session_id}/messages/55")
    data = json.loads("".join(getattr(c, "text", "") for c in contents))
    assert [m["id"] for m in data["messages"]] == replies[-55:]
    assert data["has_more"] is True and data["total_count"] == 60


async def test_reading_stops_once_the_contents_pass_the_budget() -> None:
    # within_bytes is what keeps a limit=1000 page over 100k-character messages from
    # reading them all: here 10-byte rows against a 120-byte budget
    from scs_messaging.messages import PAGE_BATCH, within_bytes

    reads: list[tuple[int | None, int]] = []

    async def read(cursor: int | None, n: int) -> list[dict[str, Any]]:
        reads.append((cursor, n))
        start = 0 if cursor is None else cursor + 1
        return [{"id": i, "content": "x" * 10} for i in range(start, start + n)]

    rows = await within_bytes(read, 1000, budget=120)  # type: ignore[arg-type]
    assert len(rows) == PAGE_BATCH  # one batch passes the budget: no second read
    assert reads == [(None, PAGE_BATCH)]
    reads.clear()
    rows = await within_bytes(read, 120, budget=10**9)
    assert [row["id"] for row in rows] == list(range(120))
    assert reads == [(None, 50), (49, 50), (99, 20)]  # each batch continues past the last id
