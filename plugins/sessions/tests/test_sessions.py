"""The sessions plugin: create, get, list (cursor pages), close, id completion; its refusals
write nothing and reach no change feed."""

from __future__ import annotations

import asyncio
import base64
import re
from typing import TYPE_CHECKING, Any

import mcp_types
import pytest
from scs_server.app import StartupError

if TYPE_CHECKING:
    from scs_server.storage import Change
    from scs_server.testing import ScsServer, ServerFactory


async def stored_sessions(server: ScsServer) -> int:
    return int(await server.app.db.fetch_value("SELECT COUNT(*) FROM sessions_sessions"))


async def test_create_and_get(scs_factory: ServerFactory) -> None:
    server = await scs_factory(plugins="sessions,messaging")
    alice = await server.agent("alice", "claude")
    created = await alice.call(
        "create_session", purpose="plan the release", metadata={"project": "atlas"}
    )
    assert created["success"] is True
    assert re.fullmatch(r"session_[0-9a-f]{16}", created["session_id"])
    assert created["created_by"] == "alice"
    assert created["purpose"] == "plan the release"
    assert created["created_at"].endswith("Z")

    view = await alice.call("get_session", session_id=created["session_id"])
    session = view["session"]
    assert session["id"] == created["session_id"]
    assert session["metadata"] == {"project": "atlas"}
    assert session["created_by_type"] == "claude"
    assert session["closed_at"] is None
    assert session["is_active"] is True
    assert view["messages"] == []
    assert view["message_count"] == 0
    assert view["total_count"] == 0

    as_text = await alice.call("create_session", purpose="p", metadata='{"a": 1}')
    assert as_text["metadata"] == {"a": 1}

    missing = await alice.fails("get_session", session_id="session_ffffffffffffffff")
    assert missing.code == "RESOURCE_001"


async def test_sessions_alone_and_messaging_needs_sessions(scs_factory: ServerFactory) -> None:
    server = await scs_factory(plugins="sessions")
    alice = await server.agent("alice")
    created = await alice.call("create_session", purpose="alone")
    view = await alice.call("get_session", session_id=created["session_id"])
    assert view["messages"] == []
    assert view["total_count"] == 0
    tools = {tool.name for tool in await alice.client.list_tools()}
    assert {"create_session", "get_session", "list_sessions", "close_session"} <= tools
    assert "add_message" not in tools

    with pytest.raises(StartupError, match=r"'messaging'.*'sessions'|'sessions'.*'messaging'"):
        await scs_factory(plugins="messaging")


async def test_list_sessions_pages_with_a_cursor(scs_factory: ServerFactory) -> None:
    server = await scs_factory(plugins="sessions")
    alice = await server.agent("alice")
    made = [(await alice.call("create_session", purpose=f"s{n}"))["session_id"] for n in range(7)]
    await alice.call("close_session", session_id=made[3])

    seen: list[str] = []
    cursor = None
    pages = 0
    for _ in range(10):  # bounded: 2 pages expected
        page = await alice.call("list_sessions", limit=3, cursor=cursor)
        pages += 1
        seen += [s["id"] for s in page["sessions"]]
        if not page["has_more"]:
            assert page["next_cursor"] is None
            break
        cursor = page["next_cursor"]
    open_newest_first = [sid for sid in reversed(made) if sid != made[3]]
    assert seen == open_newest_first
    assert pages == 2

    everything = await alice.call("list_sessions", include_closed=True, limit=1000)
    assert [s["id"] for s in everything["sessions"]] == list(reversed(made))
    assert everything["sessions"][3]["is_active"] is False

    crafted = base64.urlsafe_b64encode(b'["\\ud800", "x"]').decode()
    for bad in ("garbage", "eyJ4IjoxfQ", "!!!", "é", crafted):
        error = await alice.fails("list_sessions", cursor=bad)
        assert error.code == "VALIDATION_001", bad
    for limit in (0, 1001):
        assert (await alice.fails("list_sessions", limit=limit)).code == "VALIDATION_001"


async def test_close_session_rules(scs_factory: ServerFactory) -> None:
    server = await scs_factory(plugins="sessions,messaging")
    alice = await server.agent("alice", "claude")
    bob = await server.agent("bob", "claude")
    admin = await server.agent("root", "admin")
    first = (await alice.call("create_session", purpose="one"))["session_id"]
    second = (await alice.call("create_session", purpose="two"))["session_id"]

    refused = await bob.fails("close_session", session_id=first)
    assert refused.code == "AUTH_005"
    assert (await bob.call("get_session", session_id=first))["session"]["closed_at"] is None

    closed = await alice.call("close_session", session_id=first)
    assert closed["already_closed"] is False
    again = await alice.call("close_session", session_id=first)
    assert again["already_closed"] is True
    assert again["closed_at"] == closed["closed_at"]
    view = await bob.call("get_session", session_id=first)
    assert view["session"]["closed_at"] == closed["closed_at"]
    assert view["session"]["is_active"] is False

    by_admin = await admin.call("close_session", session_id=second)
    assert by_admin["already_closed"] is False
    missing = await alice.fails("close_session", session_id="session_ffffffffffffffff")
    assert missing.code == "RESOURCE_001"

    late = await alice.fails("add_message", session_id=first, content="too late")
    assert late.code == "RESOURCE_002"


async def test_create_session_refusals_write_nothing(scs_factory: ServerFactory) -> None:
    server = await scs_factory(
        plugins="sessions",
        env={"SCS_SESSIONS_MAX_PURPOSE_LENGTH": "20", "SCS_SESSIONS_MAX_METADATA_SIZE_KB": "1"},
    )
    alice = await server.agent("alice")
    reader = await server.agent("watcher", "readonly")
    cases: list[tuple[str, Any, dict[str, Any]]] = [
        ("VALIDATION_001", alice, {"purpose": ""}),
        ("VALIDATION_001", alice, {"purpose": "   "}),
        ("VALIDATION_001", alice, {"purpose": "a\x00b"}),
        ("VALIDATION_001", alice, {"purpose": "a\ud800"}),
        ("VALIDATION_002", alice, {"purpose": "x" * 21}),
        ("VALIDATION_001", alice, {"purpose": "p", "metadata": [1]}),
        ("VALIDATION_001", alice, {"purpose": "p", "metadata": "{broken"}),
        ("VALIDATION_002", alice, {"purpose": "p", "metadata": {"x": "y" * 2000}}),
        ("AUTH_005", reader, {"purpose": "p"}),
    ]
    for code, who, arguments in cases:
        error = await who.fails("create_session", **arguments)
        assert error.code == code, arguments
    assert await stored_sessions(server) == 0

    tricky = "'; DROP TABLE x;--%_"
    made = await alice.call("create_session", purpose=tricky, metadata={tricky: tricky})
    view = await alice.call("get_session", session_id=made["session_id"])
    assert view["session"]["purpose"] == tricky
    assert view["session"]["metadata"] == {tricky: tricky}


async def test_create_and_close_reach_the_change_feed(scs_factory: ServerFactory) -> None:
    server = await scs_factory(plugins="sessions")
    alice = await server.agent("alice")
    bob = await server.agent("bob")
    changes: list[Change] = []
    arrived = asyncio.Event()
    expected = 3

    def record(change: Change) -> None:
        changes.append(change)
        if len(changes) >= expected:
            arrived.set()

    feed = await server.app.db.changes.subscribe(record, topics=("sessions",))
    try:
        first = (await alice.call("create_session", purpose="one"))["session_id"]
        await bob.fails("close_session", session_id=first)  # not the creator: no change
        await alice.fails("create_session", purpose="   ")  # refused: no change
        await alice.call("close_session", session_id=first)
        await alice.call("close_session", session_id=first)  # already closed: no change
        second = (await alice.call("create_session", purpose="two"))["session_id"]
        await asyncio.wait_for(arrived.wait(), timeout=30)
    finally:
        feed.close()
    assert [(c.topic, c.payload) for c in changes] == [
        ("sessions", {"session_id": first}),
        ("sessions", {"session_id": first}),
        ("sessions", {"session_id": second}),
    ]


async def test_session_id_completion_by_prefix(scs_factory: ServerFactory) -> None:
    server = await scs_factory(plugins="sessions", http=True)
    alice = await server.agent("alice")
    ids = sorted([(await alice.call("create_session", purpose=p))["session_id"] for p in "abc"])
    ref = mcp_types.ResourceTemplateReference(type="ref/resource", uri="session://{session_id}")

    async def complete(value: str) -> list[str]:
        completion = await alice.client.complete(ref, {"name": "session_id", "value": value})
        return list(completion.values)

    assert await complete("") == ids
    assert await complete("session_") == ids
    assert await complete(ids[1][:-1]) == [ids[1]]
    assert await complete("SESSION_") == []  # byte-wise on both engines: case matters
    assert await complete("session_\x00") == []  # no id holds NUL (PostgreSQL text cannot)
