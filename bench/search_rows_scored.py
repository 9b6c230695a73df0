"""Rows the exact ranking scores, and its CPU time: in process, no MCP, no database.

    uv run python bench/search_rows_scored.py                 # corpus of 100 x 1,000
    uv run python bench/search_rows_scored.py --sessions 200  # 200 x 1,000
    uv run python bench/search_rows_scored.py --session 10000 # one session, 24 queries

Builds the index straight from ``search_bench.make_rows`` (the same deterministic
texts the MCP benches seed), then ranks each query once as ``alice`` (threshold 60,
limit 10, one worker) with ``ranking.rank``, and prints per query the rows it scored
of the rows visible, the CPU time and the 10th best score; then the index's bytes per
message (its own estimate, the one the memory budget uses). Rows scored are
deterministic: they compare two versions of the bounds on the same data, whatever the
load; CPU times only within one run. ``--check`` compares every answer with a
brute-force scan (slow: every row scored per query).
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from scs_search.corpus import Corpus
from scs_search.index import SessionIndex
from scs_search.ranking import allowed_classes, rank
from scs_search.scoring import make_query, score
from scs_search.service import scope_rule
from scs_search.text import prepare_query
from search_bench import CALLER, QUERIES, make_rows

PER_SESSION = 1000


def build(sessions: int, session: int) -> SessionIndex:
    if session:
        index = SessionIndex("s")
        rows = make_rows(session, seed=session)  # search_bench.py's session of that size
        index.add_synced([{**row, "id": n + 1, "timestamp": None} for n, row in enumerate(rows)])
        return index
    corpus = Corpus()
    ident = 1
    for number in range(sessions):
        messages: list[dict[str, Any]] = []
        for row in make_rows(PER_SESSION, seed=number):  # cross_session_bench.py's seeds
            messages.append({**row, "id": ident, "timestamp": None})
            ident += 1
        corpus.add_session_rows(f"s{number}", messages)
    if hasattr(corpus, "compact"):  # as ``everything`` does when a build ends
        corpus.compact()
    return corpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--session", type=int, default=0, help="one session of N instead")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    index = build(args.sessions, args.session)
    snapshot = index.snapshot()
    allowed = allowed_classes(snapshot.class_keys, scope_rule(CALLER, "all"))
    queries = list(QUERIES) if args.session else [q for q in QUERIES if len(q.split()) == 2]
    total_scored, total_cpu = 0, 0.0
    for text in queries:
        query = make_query(prepare_query(text))
        stats: dict[str, int] = {}
        started = time.process_time()
        hits = rank(snapshot, query, 60.0, 10, allowed, stats=stats)
        cpu = (time.process_time() - started) * 1000
        total_scored += stats["scored"]
        total_cpu += cpu
        tenth = f"{hits[-1].score:.2f}" if len(hits) == 10 else "-"
        print(
            f"{text:>30}: {stats['scored']:>8} of {stats['visible']} rows scored,"
            f" {cpu:7.1f} ms CPU, 10th best {tenth}"
        )
        if args.check:
            expected = sorted(
                (-score(query.text, snapshot.texts[row]), -int(snapshot.ids[row]))
                for row in range(snapshot.n)
                if allowed[snapshot.classes[row]]
            )
            wanted = [(-s, -i) for s, i in expected if -s >= 60.0][:10]
            assert [(h.score, h.message_id) for h in hits] == wanted, text
    print(
        f"{len(index)} messages, {index.nbytes() / len(index):.1f} bytes a message;"
        f" {total_scored} rows scored, {total_cpu:.0f} ms CPU;"
        f" load average {os.getloadavg()[0]:.1f}"
        + ("; identical to brute force" if args.check else "")
    )


if __name__ == "__main__":
    main()
