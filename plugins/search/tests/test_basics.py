"""search_context on small sessions: typos, thresholds, ranking, duplicates, metadata."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .conftest import Team


async def test_typo_finds_the_message_at_the_default_threshold(team: Team) -> None:
    target = await team.alice.call(
        "add_message",
        session_id=team.session_id,
        content="we should tune database connection pooling",
    )
    await team.alice.call("add_message", session_id=team.session_id, content="lunch at noon?")
    found = await team.bob.call("search_context", session_id=team.session_id, query="databse pool")
    assert found["success"] is True
    assert [r["message"]["id"] for r in found["results"]] == [target["message_id"]]
    result = found["results"][0]
    # "pool" is exact, "databse" one letter short: the word score (90) beats the
    # 1.x partial_ratio of the whole query (~70)
    assert result["score"] == 90.0
    assert result["relevance"] == "high"
    assert "database connection pooling" in result["match_preview"]
    assert result["message"]["content"] == "we should tune database connection pooling"
    assert found["count"] == 1
    assert found["threshold"] == 60.0
    assert found["query"] == "databse pool"
    assert found["search_time_ms"] >= 0
