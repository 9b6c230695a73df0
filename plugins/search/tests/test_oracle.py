"""Results equal a brute-force RapidFuzz scan over the visible messages, in every mode."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .conftest import all_messages, brute_force, identity_of, seed
from .corpus import rows

if TYPE_CHECKING:
    from .conftest import Team, TeamFactory

QUERIES = (
    "databse pool",
    "connection pooling",
    "rollback migration",
    "SCS-12",
    "vacuum",
    "xq",
    "a",
    "zeppelin",
    "topic",
    "the we should could will is it this that with from for on in of to a and more words",
    "REPLICA shard backup",
)


def pairs(found: dict[str, Any]) -> list[tuple[int, float]]:
    return [(r["message"]["id"], r["score"]) for r in found["results"]]


def rounded(expected: list[tuple[int, float]]) -> list[tuple[int, float]]:
    return [(ident, round(score, 2)) for ident, score in expected]


async def test_equal_to_brute_force_with_mixed_visibility(team: Team) -> None:
    app = team.server.app
    await seed(app, team.session_id, rows(3000))
    other = await team.bob.call("create_session", purpose="other")
    await seed(app, other["session_id"], rows(400, seed=2))
    messages = await all_messages(app)
    checked = 0
    for agent in (team.alice, team.carol, team.auditor):
        identity = identity_of(agent)
        for query in QUERIES:
            for threshold, limit in ((60.0, 10), (85.0, 100), (0.0, 3), (100.0, 20)):
                found = await agent.call(
                    "search_context",
                    session_id=team.session_id,
                    query=query,
                    fuzzy_threshold=threshold,
                    limit=limit,
                )
                expected = brute_force(
                    messages, identity, query, threshold, limit, session_id=team.session_id
                )
                assert pairs(found) == rounded(expected), (agent.agent_id, query, threshold)
                checked += 1
    assert checked == 3 * len(QUERIES) * 4


async def test_equal_to_brute_force_across_sessions_scopes_and_without_metadata(
    make_team: TeamFactory,
) -> None:
    # a budget no loaded CI machine runs out of: a truncated answer is not brute force
    team = await make_team(env={"SCS_SEARCH_BUDGET_MS": "30000"})
    app = team.server.app
    await seed(app, team.session_id, rows(1500, seed=3))
    other = await team.carol.call("create_session", purpose="other")
    await seed(app, other["session_id"], rows(1500, seed=4))
    messages = await all_messages(app)
    for agent in (team.bob, team.carol, team.auditor):
        identity = identity_of(agent)
        for query in ("databse pool", "zeppelin", "topic merge", "SCS-4"):
            for scope in ("all", "public", "private"):
                found = await agent.call(
                    "search_context", query=query, limit=50, search_scope=scope
                )
                expected = brute_force(messages, identity, query, 60.0, 50, scope=scope)
                assert found["truncated"] is False
                assert pairs(found) == rounded(expected), (agent.agent_id, query, scope)
            found = await agent.call(
                "search_context",
                session_id=other["session_id"],
                query=query,
                limit=25,
                search_metadata=False,
            )
            expected = brute_force(
                messages,
                identity,
                query,
                60.0,
                25,
                session_id=other["session_id"],
                search_metadata=False,
            )
            assert pairs(found) == rounded(expected), (agent.agent_id, query, "no metadata")
