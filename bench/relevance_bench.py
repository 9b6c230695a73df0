"""Relevance of ``search_context`` scoring: recall@5 and MRR, 1.x scorer against today's.

    uv run python bench/relevance_bench.py          # table, exit 1 if the new scorer loses
    uv run python bench/relevance_bench.py --json   # JSON on stdout

The set is ``bench/relevance/``: ``corpus.json`` (messages agents write: typos,
identifiers such as ``get_user_by_id``, paths, error messages) and ``queries.json``
(each query, the ids it must find and what kind of query it is: typo, swapped words,
partial words, identifier, path, error...). Every message is scored by brute force
exactly as ``search_context`` does (``scs_search.scoring``, the prepared text of
``scs_search.text``), results >= the default threshold 60, best first, newest id on
ties, top 5. ``old`` is the 1.x score (``partial_ratio`` alone), ``new`` the
combined one. A query's reciprocal rank is 1/rank of its first expected hit in the
top 5 (0 when none); recall@5 is the share of expected hits in the top 5.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from scs_search.scoring import score
from scs_search.text import prepare, prepare_query

FOLDER = Path(__file__).parent / "relevance"
THRESHOLD = 60.0
TOP = 5


def ranked(query: str, texts: dict[int, str], legacy: bool) -> list[int]:
    prepared = prepare_query(query)
    scored = [(score(prepared, text, legacy), ident) for ident, text in texts.items()]
    scored = [(s, ident) for s, ident in scored if s >= THRESHOLD]
    scored.sort(key=lambda item: (-item[0], -item[1]))
    return [ident for _, ident in scored[:TOP]]


def measure(found: list[int], expected: list[int]) -> tuple[float, float]:
    recall = sum(ident in found for ident in expected) / len(expected)
    ranks = [found.index(ident) + 1 for ident in expected if ident in found]
    return recall, (1 / min(ranks) if ranks else 0.0)


def run() -> dict[str, Any]:
    corpus = json.loads((FOLDER / "corpus.json").read_text())
    queries = json.loads((FOLDER / "queries.json").read_text())
    texts = {m["id"]: prepare(m["sender"], m["content"], None)[0] for m in corpus}
    cases = []
    for case in queries:
        row: dict[str, Any] = {"query": case["query"], "kind": case["kind"]}
        for name, legacy in (("old", True), ("new", False)):
            found = ranked(case["query"], texts, legacy)
            recall, reciprocal = measure(found, case["expected"])
            row[name] = {"top": found, "recall": recall, "rr": reciprocal}
        cases.append(row)
    count = len(cases)
    summary = {
        name: {
            "recall_at_5": round(sum(c[name]["recall"] for c in cases) / count, 3),
            "mrr": round(sum(c[name]["rr"] for c in cases) / count, 3),
        }
        for name in ("old", "new")
    }
    worse = [c["query"] for c in cases if c["new"]["rr"] < c["old"]["rr"]]
    return {
        "queries": count,
        "messages": len(texts),
        "summary": summary,
        "worse": worse,
        "cases": cases,
    }


def table(report: dict[str, Any]) -> str:
    lines = [f"{'':8} {'recall@5':>9} {'MRR':>6}"]
    for name in ("old", "new"):
        figures = report["summary"][name]
        lines.append(f"{name:8} {figures['recall_at_5']:>9.3f} {figures['mrr']:>6.3f}")
    lines.append(f"{report['queries']} queries over {report['messages']} messages")
    lines.append("queries ranked worse by new: " + (", ".join(report["worse"]) or "none"))
    missed = [c["query"] for c in report["cases"] if c["new"]["rr"] == 0]
    lines.append("queries new still misses: " + (", ".join(missed) or "none"))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON on stdout")
    report = run()
    print(json.dumps(report, indent=2) if parser.parse_args().json else table(report))
    better = report["summary"]["new"]["mrr"] > report["summary"]["old"]["mrr"]
    sys.exit(0 if better and not report["worse"] else 1)


if __name__ == "__main__":
    main()
