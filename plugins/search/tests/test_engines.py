"""The same data gives the same results, scores included, on SQLite and PostgreSQL.

scs_factory runs this test on both engines; each run must equal the one canonical
expectation below (computed once with ``scs_search.scoring``), so the two engines agree
with each other exactly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from .conftest import seed

if TYPE_CHECKING:
    from .conftest import Team

CORPUS = Path(__file__).parents[3] / "bench" / "relevance" / "corpus.json"
# query -> [(corpus id, score)], best first, newest first on ties
EXPECTED = {
    "pooling connecton": [(1, 92.81), (7, 61.88)],
    "timeout jobs dropped queue": [(2, 86.09), (6, 66.27), (14, 61.49)],
    "user by id": [(3, 99.0), (23, 74.25), (22, 74.25)],
    "replica lag postgres": [(10, 99.0), (16, 71.5), (5, 60.5)],
    "auth middlware": [(18, 92.86), (13, 78.57)],
    "AUTH_003": [(18, 100.0)],
}


async def test_both_engines_give_the_canonical_results(team: Team) -> None:
    corpus = json.loads(CORPUS.read_text())[:24]
    ids = await seed(
        team.server.app,
        team.session_id,
        [
            {
                "sender": m["sender"],
                "sender_type": "claude",
                "content": m["content"],
                "visibility": "public",
            }
            for m in corpus
        ],
    )
    by_id = {ident: m["id"] for ident, m in zip(ids, corpus, strict=True)}
    for query, expected in EXPECTED.items():
        for session_id in (team.session_id, None):  # one session, and every session
            found = await team.bob.call(
                "search_context", session_id=session_id, query=query, limit=3
            )
            got = [(by_id[r["message"]["id"]], r["score"]) for r in found["results"]]
            assert got == expected, (query, session_id)
