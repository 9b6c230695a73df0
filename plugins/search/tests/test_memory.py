"""The index cache is bounded in bytes: LRU eviction, streaming cross-session loads."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scs_search.index import SessionIndex
from scs_search.service import Search

from .conftest import seed
from .corpus import rows

if TYPE_CHECKING:
    from .conftest import TeamFactory

MIB = 1024 * 1024


def _row(content: str) -> dict[str, object]:
    return {
        "sender": "alice",
        "sender_type": "claude",
        "content": content,
        "visibility": "public",
        "metadata": None,
    }


def test_a_small_index_is_small() -> None:
    index = SessionIndex("s")
    index.add_synced([{**_row("one short message"), "id": 1}])
    # capacity grows with the rows: a one-message session must not cost ~0.3 MiB
    assert index.nbytes() < 8 * 1024
    index.add_synced([{**_row(f"message {n}"), "id": n} for n in range(2, 2002)])
    # 128 bytes of signatures, 32 of arrays, ~75 of text and list slot a message
    assert 2000 * 200 < index.nbytes() < 2 * MIB


async def test_indexes_are_evicted_by_bytes(make_team: TeamFactory) -> None:
    team = await make_team(env={"SCS_SEARCH_INDEX_MAX_BYTES": str(MIB)})
    app = team.server.app
    sessions = [team.session_id]
    for n in range(3):
        created = await team.alice.call("create_session", purpose=f"extra {n}")
        sessions.append(created["session_id"])
    for n, session_id in enumerate(sessions):  # ~0.6 MiB of index each
        await seed(app, session_id, [*rows(1800, seed=n), _row(f"needle{n} in session {n}")])
    cache = app.services.get(Search, needed_by="test").cache
    for n, session_id in enumerate(sessions):
        found = await team.bob.call(
            "search_context", session_id=session_id, query=f"needle{n}", fuzzy_threshold=100
        )
        assert [r["message"]["session_id"] for r in found["results"]] == [session_id]
        assert cache.nbytes() == sum(index.nbytes() for index in cache._indexes.values())
        assert len(cache._indexes) == 1  # two do not fit in 1 MiB
        assert session_id in cache
    assert cache.stats["evicted"] == len(sessions) - 1


async def test_a_search_of_every_session_streams_what_does_not_fit(
    make_team: TeamFactory,
) -> None:
    # the budget is wall-clock time: on a loaded machine three streamed loads could
    # outlast the default 1 s and truncate; this test is about memory, not the budget
    team = await make_team(
        env={"SCS_SEARCH_INDEX_MAX_BYTES": str(MIB), "SCS_SEARCH_BUDGET_MS": "30000"}
    )
    app = team.server.app
    sessions = [team.session_id]
    for n in range(3):
        created = await team.alice.call("create_session", purpose=f"extra {n}")
        sessions.append(created["session_id"])
    for n, session_id in enumerate(sessions):
        # ~0.6 MiB of index each: only one fits in 1 MiB
        await seed(app, session_id, [*rows(1800, seed=n), _row(f"needle{n} shared word")])
    cache = app.services.get(Search, needed_by="test").cache
    found = await team.bob.call(
        "search_context", query="shared word", fuzzy_threshold=100, limit=10
    )
    assert found["truncated"] is False
    assert {r["message"]["session_id"] for r in found["results"]} == set(sessions)
    assert cache.nbytes() <= MIB
    assert cache.stats["streamed"] >= len(sessions) - 1  # built, scored and dropped
    assert cache.stats["evicted"] == 0  # nothing resident was pushed out
