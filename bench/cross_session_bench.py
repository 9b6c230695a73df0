"""Search over every session (no ``session_id``): S sessions x M messages, one ranked list.

    uv run python bench/cross_session_bench.py                      # 100 x 1,000
    uv run python bench/cross_session_bench.py --sessions 200 --per-session 1000
    uv run python bench/cross_session_bench.py --scale 1000x1000    # 1M messages, ~15 min
    uv run python bench/cross_session_bench.py --json

Seeds S sessions of M messages each (``search_bench.make_rows``: agent-like text,
~80 % public, eight agents of two types), then, in process through
``fastmcp.Client(app.server)``, as ``alice``: the first search without
``session_id`` (it goes session by session and starts building the corpus in the
background) timed on its own, then the wait until the corpus is ready, then every two-word query of
``search_bench.QUERIES`` ``--rounds`` times; p50 / p95 of the MCP call. The floor,
measured in the same run: RapidFuzz ``partial_ratio`` ``process.extract`` over the
caller's visible texts of ONE session (M texts), in memory. Memory: the corpus of
every session (``scs_search.corpus``, what a search without ``session_id`` ranks), its
own estimate divided by its messages (bytes per message). Per query: the median time
and the rows it scored (``ranking.rank``'s stats, measured once in process).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import percentile
from fastmcp import Client
from rapidfuzz import fuzz, process
from scs_messaging.visibility import can_see
from scs_search.ranking import allowed_classes, rank
from scs_search.scoring import make_query
from scs_search.service import Search, scope_rule
from scs_search.text import prepare, prepare_query
from scs_server.app import create_app
from scs_server.testing import API_KEY, make_settings, parse_result
from search_bench import CALLER, QUERIES, call, make_rows, seed

TWO_WORDS = [q for q in QUERIES if len(q.split()) == 2]
BUILD_DEADLINE_S = 1800.0


async def run(sessions: int, per_session: int, rounds: int, folder: Path) -> dict[str, Any]:
    # every index resident, and no truncation: the figures are full rankings
    os.environ["SCS_SEARCH_INDEX_MAX_MESSAGES"] = str(max(300_000, sessions * per_session))
    os.environ["SCS_SEARCH_INDEX_MAX_BYTES"] = str(4 * 1024**3)
    os.environ["SCS_SEARCH_BUDGET_MS"] = "10000"
    settings = make_settings(folder, "sessions,messaging,search")
    app = await create_app(settings)
    try:
        async with Client(app.server) as client:
            minted = parse_result(
                await client.call_tool(
                    "authenticate_agent",
                    {
                        "agent_id": CALLER.agent_id,
                        "agent_type": CALLER.agent_type,
                        "api_key": API_KEY,
                    },
                )
            )
            token = minted["token"]
            started = time.perf_counter()
            first_rows: list[dict[str, Any]] = []
            for n in range(sessions):
                session = await call(client, token, "create_session", purpose=f"bench {n}")
                rows = make_rows(per_session, seed=n)
                first_rows = first_rows or rows
                await seed(app, session["session_id"], rows)
            seed_s = time.perf_counter() - started
            print(f"seeded {sessions} x {per_session} in {seed_s:.0f} s", file=sys.stderr)
            search = app.services.get(Search, needed_by="bench")
            started = time.perf_counter()
            # the first search goes session by session and starts the corpus (background)
            await call(client, token, "search_context", query="warm up")
            first_ms = (time.perf_counter() - started) * 1000
            deadline = time.monotonic() + BUILD_DEADLINE_S
            while search.everything.corpus is None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            corpus_build_s = time.perf_counter() - started
            load_before = os.getloadavg()
            timings, truncated = [], 0
            per_query: dict[str, list[float]] = {query: [] for query in TWO_WORDS}
            for _ in range(rounds):
                for query in TWO_WORDS:
                    started = time.perf_counter()
                    found = await call(client, token, "search_context", query=query)
                    timings.append((time.perf_counter() - started) * 1000)
                    per_query[query].append(timings[-1])
                    truncated += bool(found["truncated"])
            load_after = os.getloadavg()
            texts = [
                prepare(r["sender"], r["content"], r["metadata"])[0]
                for r in first_rows
                if can_see(CALLER, r)
            ]
            floor = []
            for _ in range(rounds):
                for query in TWO_WORDS:
                    started = time.perf_counter()
                    process.extract(
                        prepare_query(query),
                        texts,
                        scorer=fuzz.partial_ratio,
                        processor=None,
                        score_cutoff=60,
                        limit=10,
                    )
                    floor.append((time.perf_counter() - started) * 1000)
            cache, corpus = search.cache, search.everything.corpus
            tables = corpus.vocabulary.table_nbytes() if corpus is not None else 0
            scored = {}
            if corpus is not None:
                snapshot = corpus.snapshot()
                allowed = allowed_classes(snapshot.class_keys, scope_rule(CALLER, "all"))
                for query in TWO_WORDS:
                    stats: dict[str, int] = {}
                    rank(snapshot, make_query(prepare_query(query)), 60.0, 10, allowed, stats=stats)
                    scored[query] = [stats["scored"], stats["tightened"]]
            return {
                "sessions": sessions,
                "per_session": per_session,
                "messages": sessions * per_session,
                "queries": TWO_WORDS,
                "rounds": rounds,
                "first_search_ms": round(first_ms, 1),
                "corpus_ready_after_s": round(corpus_build_s, 1),
                "p50_ms": round(percentile(timings, 50), 1),
                "p95_ms": round(percentile(timings, 95), 1),
                "floor_one_session_p50_ms": round(percentile(floor, 50), 2),
                "truncated": truncated,
                "load_average_before_after": [round(load_before[0], 1), round(load_after[0], 1)],
                # per query: p50 and slowest ms, rows scored, rows given the locality bound
                "per_query_p50_max_ms_scored_tightened": {
                    query: [
                        round(percentile(per_query[query], 50), 1),
                        round(max(per_query[query]), 1),
                        *scored.get(query, [None, None]),
                    ]
                    for query in TWO_WORDS
                },
                "corpus_messages": len(corpus) if corpus is not None else 0,
                # the corpus's own estimate, without the tables of the targets searched
                # lately (a cache of at most locality.TABLE_BYTES, whatever the corpus)
                "corpus_bytes_per_message": (
                    round((corpus.nbytes() - tables) / max(1, len(corpus)))
                    if corpus is not None
                    else None
                ),
                "query_tables_bytes": tables,
                "session_indexes_resident_messages": cache.indexed_messages,
                "stats": dict(cache.stats),
                "corpus_stats": dict(search.everything.stats),
            }
    finally:
        await app.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--per-session", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--scale", help="SESSIONSxMESSAGES, e.g. 1000x1000 (overrides the two options above)"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.scale:
        sessions, per_session = args.scale.lower().split("x")
        args.sessions, args.per_session = int(sessions), int(per_session)
    with tempfile.TemporaryDirectory(prefix="scs-cross-bench-") as tmp:
        report = asyncio.run(run(args.sessions, args.per_session, args.rounds, Path(tmp)))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            print(f"{key:>26}: {value}")


if __name__ == "__main__":
    main()
