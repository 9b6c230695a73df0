"""Bad input gets a typed error and changes nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from .conftest import all_messages

if TYPE_CHECKING:
    from .conftest import Team

BAD_SEARCHES: list[dict[str, Any]] = [
    {"query": ""},
    {"query": "   "},
    {"query": "x" * 257},
    {"query": "ok", "fuzzy_threshold": -0.1},
    {"query": "ok", "fuzzy_threshold": 100.5},
    {"query": "ok", "limit": 0},
    {"query": "ok", "limit": 101},
    {"query": "ok", "search_scope": "everything"},
    {"query": "ok", "search_scope": "admin_only"},
]


@pytest.mark.parametrize("arguments", BAD_SEARCHES)
async def test_bad_search_arguments_are_validation_errors(
    team: Team, arguments: dict[str, Any]
) -> None:
    await team.alice.call("add_message", session_id=team.session_id, content="ok then")
    before = await all_messages(team.server.app)
    error = await team.alice.fails("search_context", session_id=team.session_id, **arguments)
    assert error.code == "VALIDATION_001", error.message
    assert error.message
    assert await all_messages(team.server.app) == before


async def test_limits_at_the_edges_are_accepted(team: Team) -> None:
    await team.alice.call("add_message", session_id=team.session_id, content="edge case")
    for arguments in (
        {"query": "x" * 256, "fuzzy_threshold": 0, "limit": 1},
        {"query": "edge", "fuzzy_threshold": 100, "limit": 100},
    ):
        found = await team.alice.call("search_context", session_id=team.session_id, **arguments)
        assert found["success"] is True


async def test_threshold_100_with_a_typo_finds_nothing(team: Team) -> None:
    await team.alice.call(
        "add_message", session_id=team.session_id, content="we should tune database pooling"
    )
    found = await team.bob.call(
        "search_context", session_id=team.session_id, query="databse", fuzzy_threshold=100
    )
    assert found["results"] == [] and found["count"] == 0
    exact = await team.bob.call(
        "search_context", session_id=team.session_id, query="DATABASE", fuzzy_threshold=100
    )
    assert exact["count"] == 1 and exact["results"][0]["score"] == 100


async def test_unknown_sessions_are_not_found(team: Team) -> None:
    for tool, arguments in (
        ("search_context", {"query": "x"}),
        ("search_by_sender", {"sender": "alice"}),
        (
            "search_by_timerange",
            {"start_time": "2026-01-01T00:00:00Z", "end_time": "2026-01-02T00:00:00Z"},
        ),
    ):
        for session_id in ("session_missing", "x" * 500):
            error = await team.alice.fails(tool, session_id=session_id, **arguments)
            assert error.code == "RESOURCE_001", (tool, error.message)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("yesterday", "2026-01-02T00:00:00Z"),
        ("2026-01-01T00:00:00Z", "2026-13-01T00:00:00Z"),
        ("2026-01-01T00:00:00Z", ""),
        ("2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z"),  # start after end
    ],
)
async def test_bad_time_ranges_are_validation_errors(team: Team, start: str, end: str) -> None:
    error = await team.alice.fails(
        "search_by_timerange", session_id=team.session_id, start_time=start, end_time=end
    )
    assert error.code == "VALIDATION_001"


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("search_by_sender", {"sender": "alice", "limit": 0}),
        ("search_by_sender", {"sender": "alice", "limit": 101}),
        (
            "search_by_timerange",
            {"start_time": "2026-01-01", "end_time": "2026-01-02", "limit": 201},
        ),
    ],
)
async def test_bad_limits_are_validation_errors(
    team: Team, tool: str, arguments: dict[str, Any]
) -> None:
    error = await team.alice.fails(tool, session_id=team.session_id, **arguments)
    assert error.code == "VALIDATION_001"


async def test_search_needs_a_token(team: Team) -> None:
    error = await team.alice.fails(
        "search_context", session_id=team.session_id, query="x", auth_token=""
    )
    assert error.code == "AUTH_001"
