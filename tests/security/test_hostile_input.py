"""Hostile JSON, cursors and date-times: typed errors, nothing stored, and no poisoned reads.

Each test repeats one finding of the security review through a real MCP client against a
real SQLite file: deep metadata used to be stored and then break every read of its
session (``Maximum serialization depth exceeded``), hostile cursors and far-off
date-times answered INTERNAL_001, and years before 1000 sorted after 2026.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

import pytest
from scs_server.jsonvalues import MAX_DEPTH, UNREADABLE
from scs_server.paging import encode_cursor

if TYPE_CHECKING:
    from scs_server.storage import Transaction
    from scs_server.testing import Agent, ScsServer, ServerFactory

PLUGINS = "sessions,messaging,memory,search"
DEEP_300 = "[" * 300 + "]" * 300  # 600 bytes: small, but deeper than any reader could show


def nested_text(depth: int) -> str:
    """JSON text of an object nested ``depth`` levels deep."""
    return '{"k":' * depth + "1" + "}" * depth


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"k": value}
    return value


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


async def count(server: ScsServer, table: str) -> int:
    return int(await server.app.db.fetch_value(f"SELECT COUNT(*) FROM {table}"))  # noqa: S608


@pytest.fixture
async def server(scs_factory: ServerFactory) -> ScsServer:
    return await scs_factory(PLUGINS)


@pytest.fixture
async def alice(server: ScsServer) -> Agent:
    return await server.agent("alice")


async def new_session(agent: Agent, purpose: str = "hostile input") -> str:
    made = await agent.call("create_session", purpose=purpose)
    return str(made["session_id"])


# -- finding 2: one write must not poison a session -------------------------------------


async def test_deep_message_metadata_is_refused_and_the_session_stays_readable(
    server: ScsServer, alice: Agent
) -> None:
    session_id = await new_session(alice)
    before = await count(server, "messaging_messages")
    for metadata in (nested_text(300), nested_text(MAX_DEPTH + 1), nested(MAX_DEPTH + 1)):
        error = await alice.fails(
            "add_message", session_id=session_id, content="x", metadata=metadata
        )
        assert error.code == "VALIDATION_001", error.body
        assert str(MAX_DEPTH) in error.message and "metadata" in error.message
        assert error.body["field"] == "metadata" and error.body["max_depth"] == MAX_DEPTH
        assert error.hint
    assert await count(server, "messaging_messages") == before
    at_limit = nested(MAX_DEPTH - 1)  # the leaf's object makes MAX_DEPTH levels
    added = await alice.call("add_message", session_id=session_id, content="ok", metadata=at_limit)
    page = await alice.call("get_messages", session_id=session_id)
    assert [m["id"] for m in page["messages"]] == [added["message_id"]]
    assert page["messages"][0]["metadata"] == at_limit


async def test_deep_session_metadata_is_refused_before_anything_is_stored(
    server: ScsServer, alice: Agent
) -> None:
    await new_session(alice, "already there")
    error = await alice.fails("create_session", purpose="deep", metadata=nested_text(300))
    assert error.code == "VALIDATION_001", error.body
    assert error.body["field"] == "metadata"
    assert await count(server, "sessions_sessions") == 1
    listed = await alice.call("list_sessions")
    assert [s["purpose"] for s in listed["sessions"]] == ["already there"]


async def test_deep_memory_value_and_metadata_are_refused(server: ScsServer, alice: Agent) -> None:
    for arguments in (
        {"value": nested(MAX_DEPTH + 1)},
        {"value": [[[["x"]]]], "metadata": nested_text(1000)},
        {"value": 1, "metadata": nested_text(100_000)},  # beyond the JSON parser's recursion
        {"value": 1, "metadata": "[" * 5000},
    ):
        error = await alice.fails("set_memory", key="deep", **arguments)
        assert error.code == "VALIDATION_001", (list(arguments), error.body)
        assert error.body["field"] in {"value", "metadata"}
    assert await count(server, "memory_entries") == 0
    await alice.call("set_memory", key="fine", value=nested(MAX_DEPTH - 1))
    got = await alice.call("get_memory", key="fine")
    assert got["value"] == nested(MAX_DEPTH - 1)


async def test_too_large_values_keep_their_byte_limits(scs_factory: ServerFactory) -> None:
    server = await scs_factory(
        PLUGINS,
        env={"SCS_MESSAGING_MAX_METADATA_SIZE_KB": "1", "SCS_MEMORY_MAX_VALUE_KB": "1"},
    )
    alice = await server.agent("alice")
    session_id = await new_session(alice)
    wide = {f"k{n}": n for n in range(200)}  # flat, but over 1 KiB
    error = await alice.fails("add_message", session_id=session_id, content="x", metadata=wide)
    assert error.code == "VALIDATION_002" and error.body["max_bytes"] == 1024, error.body
    error = await alice.fails("set_memory", key="wide", value=list(range(400)))
    assert error.code == "VALIDATION_002" and error.body["max_bytes"] == 1024, error.body
    assert await count(server, "messaging_messages") == 0
    assert await count(server, "memory_entries") == 0


STORED_ROWS = {
    "deep": DEEP_300,
    "deeper than the parser": "[" * 100_000 + "]" * 100_000,
    "not JSON": "{not json",
    "lone surrogate": '{"k": "\\ud800"}',
}


async def insert_poisoned(tx: Transaction, session_id: str) -> list[int]:
    """Rows another program (or an older release) could have written."""
    await tx.execute(
        "UPDATE sessions_sessions SET metadata = ? WHERE id = ?",
        (nested_text(300), session_id),
    )
    ids = []
    for label, metadata in STORED_ROWS.items():
        new_id = await tx.fetch_value(
            "INSERT INTO messaging_messages (session_id, sender, sender_type, content, visibility,"
            " metadata, timestamp) VALUES (?, 'mallory', 'claude', ?, 'public', ?,"
            " '2026-01-01T00:00:00.000000Z') RETURNING id",
            (session_id, f"poisoned {label}", metadata),
        )
        assert new_id is not None
        ids.append(int(new_id))
    return ids


async def test_a_poisoned_stored_row_never_fails_a_read(server: ScsServer, alice: Agent) -> None:
    admin = await server.agent("root", "admin")
    session_id = await new_session(alice)
    good = await alice.call("add_message", session_id=session_id, content="poisoned? no")
    poisoned = await server.app.db.write(insert_poisoned, session_id)
    expected_ids = sorted([good["message_id"], *poisoned])

    for reader in (alice, admin):
        page = await reader.call("get_messages", session_id=session_id)
        assert sorted(m["id"] for m in page["messages"]) == expected_ids
        shown = {m["content"]: m["metadata"] for m in page["messages"]}
        assert shown["poisoned deep"] == {UNREADABLE: f"metadata exceeded depth {MAX_DEPTH}"}
        assert shown["poisoned deeper than the parser"] == {
            UNREADABLE: f"metadata exceeded depth {MAX_DEPTH}"
        }
        assert shown["poisoned not JSON"] == {UNREADABLE: "metadata is not valid JSON"}
        assert shown["poisoned lone surrogate"] == {UNREADABLE: "metadata holds a lone surrogate"}

        view = await reader.call("get_session", session_id=session_id)
        assert view["session"]["metadata"] == {UNREADABLE: f"metadata exceeded depth {MAX_DEPTH}"}
        assert view["total_count"] == len(expected_ids)

        listed = await reader.call("list_sessions")
        assert [s["session_id"] for s in listed["sessions"]] == [session_id]
        assert UNREADABLE in listed["sessions"][0]["metadata"]

        thread = await reader.call("get_thread", message_id=poisoned[0])
        assert thread["root"]["metadata"] == {UNREADABLE: f"metadata exceeded depth {MAX_DEPTH}"}

        found = await reader.call("search_context", session_id=session_id, query="poisoned")
        assert sorted(r["message"]["id"] for r in found["results"]) == expected_ids

        timed = await reader.call(
            "search_by_timerange",
            session_id=session_id,
            start_time="2025-01-01T00:00:00Z",
            end_time="2026-06-01T00:00:00Z",
        )
        assert sorted(m["id"] for m in timed["messages"]) == sorted(poisoned)


async def test_a_poisoned_memory_row_reads_as_unreadable(server: ScsServer, alice: Agent) -> None:
    await alice.call("set_memory", key="plan", value={"step": 1}, metadata={"by": "alice"})

    async def poison(tx: Transaction) -> None:
        await tx.execute(
            "UPDATE memory_entries SET value = ?, metadata = ? WHERE key = 'plan'",
            (DEEP_300, "{not json"),
        )

    await server.app.db.write(poison)
    got = await alice.call("get_memory", key="plan")
    assert got["value"] == {UNREADABLE: f"value exceeded depth {MAX_DEPTH}"}
    assert got["metadata"] == {UNREADABLE: "metadata is not valid JSON"}
    listed = await alice.call("list_memory")
    assert [e["key"] for e in listed["entries"]] == ["plan"]


# -- finding 7: hostile cursors and date-times ------------------------------------------

HOSTILE_CURSORS = [
    "\ud800",
    "abc\udfff",
    "[" * 5000,
    b64(b"[" * 5000),
    b64(b"[" * 1000 + b"]" * 1000),
    b64(b'["\\ud800", "k"]'),
    b64(b'["a\\u0000", "k"]'),
    b64(b'{"a": 1}'),
    b64(b'["only one"]'),
    b64(b"[1, 2]"),
    b64(b'["a", "b", "c"]'),
    b64(b"\xff\xfe\xfd"),
    b64(b"null"),
    "!!!not base64!!!",
    "a",
    "x" * 5000,
]


@pytest.mark.parametrize("tool", ["list_memory", "list_sessions"])
async def test_hostile_cursors_get_typed_errors(server: ScsServer, alice: Agent, tool: str) -> None:
    await new_session(alice)
    await alice.call("set_memory", key="k", value=1)
    for cursor in HOSTILE_CURSORS:
        error = await alice.fails(tool, cursor=cursor)
        assert error.code == "VALIDATION_001", (cursor[:40], error.body)
        # refused by the cursor codec (which names the tool) or by the argument schema
        assert error.body.get("field") == "cursor" or error.message.startswith(
            "invalid arguments: cursor:"
        ), error.body
        assert error.body.get("field") != "cursor" or tool in (error.hint or "")


@pytest.mark.parametrize("tool", ["list_memory", "list_sessions"])
async def test_issued_cursors_page_through_everything(alice: Agent, tool: str) -> None:
    for n in range(5):
        await new_session(alice, f"s{n}")
        await alice.call("set_memory", key=f"k[{n}]", value=n)  # brackets in keys are fine
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        page = await alice.call(tool, limit=2, **({"cursor": cursor} if cursor else {}))
        items = page["entries"] if tool == "list_memory" else page["sessions"]
        seen += [item["key"] if tool == "list_memory" else item["purpose"] for item in items]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    expected = (
        [f"k[{n}]" for n in range(5)] if tool == "list_memory" else ["s4", "s3", "s2", "s1", "s0"]
    )
    assert seen == expected
    assert encode_cursor("a", "b") == b64(b'["a","b"]')


@pytest.mark.parametrize(
    "start",
    [
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-14:00",
        "\ud800",
        "2026-13-01T00:00:00Z",
    ],
)
async def test_out_of_range_times_get_typed_errors(alice: Agent, start: str) -> None:
    session_id = await new_session(alice)
    error = await alice.fails(
        "search_by_timerange",
        session_id=session_id,
        start_time=start,
        end_time="2026-01-01T00:00:00Z",
    )
    assert error.code == "VALIDATION_001", error.body
    assert error.body["field"] == "start_time"


async def test_years_before_1000_are_zero_padded_and_compare_as_times(alice: Agent) -> None:
    session_id = await new_session(alice)
    added = await alice.call("add_message", session_id=session_id, content="now")
    found = await alice.call(
        "search_by_timerange",
        session_id=session_id,
        start_time="0999-01-01T00:00:00Z",
        end_time="2999-01-01T00:00:00Z",
    )
    assert found["timerange"]["start"] == "0999-01-01T00:00:00.000000Z"
    assert [m["id"] for m in found["messages"]] == [added["message_id"]]
