"""list_memory: literal prefixes (% and _ included), pagination, no values."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from scs_memory.rules import prefix_upper_bound

if TYPE_CHECKING:
    from scs_server.testing import Agent, ScsServer

KEYS = ["a%b", "a%bc", "a_b", "axb", "aXb", "A%b", "a", "a%", "b%b", "a\\b", "a%b\U0010ffff"]


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("a%", ["a%", "a%b", "a%bc", "a%b\U0010ffff"]),
        ("a%b", ["a%b", "a%bc", "a%b\U0010ffff"]),
        ("a_", ["a_b"]),
        ("a_b", ["a_b"]),
        ("A", ["A%b"]),  # case-sensitive
        ("a\\", ["a\\b"]),
        ("%", []),
        ("_", []),
        ("a%b\U0010ffff", ["a%b\U0010ffff"]),
        ("zzz", []),
    ],
)
async def test_prefix_is_literal(alice: Agent, prefix: str, expected: list[str]) -> None:
    for key in KEYS:
        await alice.call("set_memory", key=key, value=key)
    listed = await alice.call("list_memory", prefix=prefix)
    keys = [e["key"] for e in listed["entries"]]
    assert keys == expected == sorted(expected)  # code point order


async def test_entries_carry_sizes_not_values(alice: Agent) -> None:
    await alice.call("set_memory", key="k", value={"text": "héllo"}, expires_in=600)
    (entry,) = (await alice.call("list_memory"))["entries"]
    assert "value" not in entry
    assert entry["size"] == entry["value_size"] == len('{"text":"héllo"}'.encode())
    assert entry["version"] == 1 and entry["expires_at"] is not None
    assert set(entry) == {
        "key",
        "scope",
        "session_id",
        "size",
        "value_size",
        "version",
        "created_at",
        "updated_at",
        "expires_at",
    }


async def test_pagination_visits_every_entry_once(alice: Agent, helpers: Any) -> None:
    session_id = await helpers.create_session(alice)
    expected = []
    for n in range(60):
        await alice.call("set_memory", key=f"item.{n:03d}", value=n)
        expected.append((None, f"item.{n:03d}"))
    for n in range(45):
        await alice.call("set_memory", key=f"item.{n:03d}", value=n, session_id=session_id)
        expected.append((session_id, f"item.{n:03d}"))
    await alice.call("set_memory", key="other", value=0)

    seen: list[tuple[str | None, str]] = []
    cursor = None
    pages = 0
    for _ in range(10):  # bounded: 105 entries at 25 per page need 5 pages
        page = await alice.call(
            "list_memory", session_id="all", prefix="item.", limit=25, cursor=cursor
        )
        pages += 1
        seen.extend((e["session_id"], e["key"]) for e in page["entries"])
        assert page["count"] == len(page["entries"])
        cursor = page["next_cursor"]
        assert page["has_more"] is (cursor is not None)
        if cursor is None:
            break
    assert pages == 5
    assert seen == expected


def test_prefix_upper_bound() -> None:
    assert prefix_upper_bound("ab") == "ac"
    assert prefix_upper_bound("a%") == "a&"
    assert prefix_upper_bound("a\ud7ff") == "a\ue000"  # skips the surrogates
    assert prefix_upper_bound("a\U0010ffff") == "b"
    assert prefix_upper_bound("\U0010ffff\U0010ffff") is None


@pytest.mark.parametrize("db_engine", ["postgresql"])
async def test_postgresql_compares_keys_and_times_bytewise(server: ScsServer) -> None:
    """Prefix ranges, listing order and expiry need byte order. The test clusters use the
    C.UTF-8 locale, where the tests above pass either way; under a linguistic default
    (en-US: 'a' < 'A' < 'b', '_' and '%' ignored) they would not without COLLATE "C"."""
    rows = await server.app.db.fetch_all(
        "SELECT column_name, collation_name FROM information_schema.columns "
        "WHERE table_name = ? AND column_name IN (?, ?, ?, ?) ORDER BY column_name",
        ("memory_entries", "key", "created_at", "updated_at", "expires_at"),
    )
    assert [(r[0], r[1]) for r in rows] == [
        ("created_at", "C"),
        ("expires_at", "C"),
        ("key", "C"),
        ("updated_at", "C"),
    ]
