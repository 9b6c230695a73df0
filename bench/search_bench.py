"""Benchmark of ``search_context`` on big sessions, against the brute-force RapidFuzz floor.

    uv run python bench/search_bench.py              # 1k, 10k and 100k messages
    uv run python bench/search_bench.py --quick      # fewer rounds
    uv run python bench/search_bench.py --json       # JSON on stdout
    uv run python bench/search_bench.py --sizes 10000
    uv run python bench/search_bench.py --postgresql # on a throwaway PostgreSQL cluster

For each size it seeds one session (rows inserted straight through the database
pool, in one transaction per 5,000 rows, with varied agent-like text, ~80 %
public and the rest private / agent_only / admin_only from eight agents of two
types), then, in process, through ``fastmcp.Client(app.server)``:

- the first search (loads the session's index) is timed on its own;
- every query of ``QUERIES`` is sent ``--rounds`` times; p50 / p95 of the wall
  time of the MCP call are reported (``search_context``, default threshold 60,
  limit 10);
- the floor: RapidFuzz ``process.extract(query, texts, scorer=partial_ratio,
  processor=None, score_cutoff=60, limit=10)`` over the caller's visible texts,
  already prepared in memory (what an index that only avoids re-reading gets);
- identity: for every query, the results' (id, score) equal a brute-force scan
  (every visible text scored, >= 60, sorted by score then newest id);
- memory: the index's own estimate and the process RSS growth while loading it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import percentile, rss_kib
from fastmcp import Client
from rapidfuzz import fuzz, process
from scs_messaging.visibility import can_see
from scs_search.scoring import score
from scs_search.service import Search
from scs_search.text import prepare, prepare_query
from scs_server import Identity
from scs_server.app import create_app
from scs_server.storage.cluster import PostgresCluster, find_binaries
from scs_server.testing import API_KEY, make_settings, parse_result

SIZES = (1_000, 10_000, 100_000)
QUERIES = (
    "databse pool",
    "connection pool",
    "rate limiter",
    "deadlock",
    "rollback migration",
    "postgres replica lag",
    "flamegraph",
    "SCS-1234",
    "test_auth",
    "tls certificate rotation",
    "p95 latency regression",
    "websocket listener",
    "why is the search index slow",
    "retry policy",
    "token cache",
    "kubernetes",
    "sqlite vacuum",
    "dashbord alerts",
    "merge conflict",
    "auth middlware",
    "postmortem for the incident",
    "backup restore snapshot",
    "xyzzy",
    "scheduler cron job",
)
AGENTS = (
    ("alice", "claude"),
    ("bob", "claude"),
    ("erin", "claude"),
    ("frank", "claude"),
    ("carol", "cursor"),
    ("dave", "cursor"),
    ("grace", "cursor"),
    ("heidi", "cursor"),
)
LEVELS = ("public",) * 16 + ("private", "private", "agent_only", "admin_only")
CALLER = Identity("alice", "claude", frozenset({"read", "write"}))

# -- text that looks like what agents write to each other ---------------------------

BASE = [
    "the",
    "a",
    "an",
    "and",
    "or",
    "but",
    "if",
    "then",
    "so",
    "we",
    "i",
    "you",
    "it",
    "this",
    "that",
    "these",
    "those",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "should",
    "could",
    "would",
    "will",
    "can",
    "may",
    "might",
    "must",
    "need",
    "needs",
    "needed",
    "have",
    "has",
    "had",
    "do",
    "does",
    "did",
    "done",
    "not",
    "no",
    "yes",
    "just",
    "also",
    "still",
    "again",
    "now",
    "next",
    "later",
    "today",
    "tomorrow",
    "soon",
    "after",
    "before",
    "while",
    "because",
    "since",
    "until",
    "when",
    "database",
    "connection",
    "pool",
    "pooling",
    "cache",
    "caching",
    "latency",
    "request",
    "requests",
    "handler",
    "handlers",
    "agent",
    "agents",
    "session",
    "sessions",
    "message",
    "messages",
    "search",
    "index",
    "indexes",
    "query",
    "queries",
    "schema",
    "migration",
    "migrations",
    "deploy",
    "deployment",
    "rollback",
    "token",
    "tokens",
    "auth",
    "authentication",
    "authorization",
    "error",
    "errors",
    "retry",
    "retries",
    "timeout",
    "timeouts",
    "worker",
    "workers",
    "queue",
    "queues",
    "memory",
    "review",
    "reviewed",
    "test",
    "tests",
    "testing",
    "failing",
    "failed",
    "passing",
    "passed",
    "build",
    "builds",
    "pipeline",
    "docker",
    "container",
    "config",
    "configuration",
    "setting",
    "settings",
    "plugin",
    "plugins",
    "server",
    "servers",
    "client",
    "clients",
    "http",
    "https",
    "sqlite",
    "postgres",
    "lock",
    "locks",
    "locking",
    "write",
    "writes",
    "read",
    "reads",
    "transaction",
    "transactions",
    "commit",
    "commits",
    "branch",
    "merge",
    "merged",
    "fix",
    "fixed",
    "bug",
    "bugs",
    "issue",
    "issues",
    "refactor",
    "refactored",
    "module",
    "modules",
    "function",
    "functions",
    "class",
    "classes",
    "api",
    "endpoint",
    "endpoints",
    "performance",
    "benchmark",
    "benchmarks",
    "metric",
    "metrics",
    "log",
    "logs",
    "logging",
    "trace",
    "traces",
    "span",
    "user",
    "users",
    "customer",
    "ticket",
    "tickets",
    "plan",
    "plans",
    "step",
    "steps",
    "done",
    "blocked",
    "waiting",
    "frontend",
    "backend",
    "component",
    "components",
    "render",
    "rendering",
    "layout",
    "style",
    "css",
    "button",
    "form",
    "validation",
    "validator",
    "input",
    "output",
    "file",
    "files",
    "directory",
    "path",
    "paths",
    "import",
    "exports",
    "dependency",
    "dependencies",
    "version",
    "versions",
    "upgrade",
    "downgrade",
    "release",
    "releases",
    "changelog",
    "documentation",
    "docs",
    "readme",
    "example",
    "examples",
    "rate",
    "limit",
    "limits",
    "limiter",
    "throttle",
    "burst",
    "window",
    "sliding",
    "bucket",
    "counter",
    "counters",
    "increment",
    "decrement",
    "value",
    "values",
    "key",
    "keys",
    "hash",
    "hashing",
    "json",
    "yaml",
    "toml",
    "parse",
    "parser",
    "parsing",
    "serialize",
    "serializer",
    "response",
    "responses",
    "status",
    "code",
    "codes",
    "header",
    "headers",
    "body",
    "payload",
    "upload",
    "download",
    "stream",
    "streaming",
    "socket",
    "websocket",
    "event",
    "events",
    "listener",
    "subscriber",
    "publish",
    "notify",
    "notification",
    "email",
    "scheduler",
    "cron",
    "job",
    "jobs",
    "task",
    "tasks",
    "thread",
    "threads",
    "async",
    "await",
    "coroutine",
    "loop",
    "concurrency",
    "parallel",
    "race",
    "condition",
    "deadlock",
    "mutex",
    "semaphore",
    "allocation",
    "leak",
    "leaks",
    "profile",
    "profiling",
    "flamegraph",
    "cpu",
    "disk",
    "network",
    "bandwidth",
    "throughput",
    "p50",
    "p95",
    "p99",
    "slow",
    "slower",
    "faster",
    "fast",
    "quick",
    "regression",
    "improvement",
    "investigate",
    "investigated",
    "found",
    "root",
    "cause",
    "workaround",
    "patch",
    "hotfix",
    "staging",
    "production",
    "prod",
    "dev",
    "local",
    "environment",
    "variable",
    "variables",
    "secret",
    "secrets",
    "rotate",
    "rotation",
    "certificate",
    "tls",
    "ssl",
    "proxy",
    "gateway",
    "load",
    "balancer",
    "replica",
    "replicas",
    "shard",
    "sharding",
    "partition",
    "backup",
    "restore",
    "snapshot",
    "vacuum",
    "analyze",
    "explain",
    "planner",
    "scan",
    "seek",
    "primary",
    "foreign",
    "constraint",
    "unique",
    "null",
    "default",
    "column",
    "columns",
    "table",
    "tables",
    "row",
    "rows",
    "insert",
    "update",
    "delete",
    "select",
    "join",
    "group",
    "order",
    "please",
    "thanks",
    "ok",
    "great",
    "agreed",
    "looks",
    "good",
    "lgtm",
    "nit",
    "suggestion",
    "question",
    "answer",
    "idea",
    "proposal",
    "decision",
    "decided",
    "approve",
    "approved",
    "reject",
    "rejected",
    "pending",
    "ready",
    "draft",
    "final",
    "summary",
    "update",
    "context",
    "handoff",
    "owner",
    "assignee",
    "priority",
    "high",
    "medium",
    "low",
    "critical",
    "urgent",
    "minor",
    "major",
    "blocker",
    "estimate",
    "hours",
    "days",
    "frontend",
    "team",
    "backend",
    "team",
    "platform",
    "team",
    "on",
    "call",
    "incident",
    "postmortem",
    "alert",
    "alerts",
    "paging",
    "dashboard",
]
TEMPLATES = (
    "{s}.",
    "{s}, {s}.",
    "{s}. {s}.",
    "Update: {s}. Next: {s}.",
    "Q: {s}?",
    "{s} ({n} ms p95).",
    "Fixed {w} in {f}: {s}.",
    "Blocked on {t}: {s}.",
    "{s}; see {t}.",
    "Done: {s}. {s}. {s}.",
    "Benchmark {w}: p50 {n} ms, p95 {n} ms. {s}.",
    "Review of {f}: {s}. {s}.",
)


class Writer:
    """Sentences from a Zipf-weighted vocabulary of words and code identifiers."""

    def __init__(self, seed: int) -> None:
        self.rnd = random.Random(seed)
        vocab = list(dict.fromkeys(BASE))
        self.rnd.shuffle(vocab)
        for _ in range(600):
            a, b = self.rnd.choice(BASE), self.rnd.choice(BASE)
            vocab.append(
                self.rnd.choice(
                    [f"{a}_{b}", f"{a}{b.capitalize()}", f"{a}/{b}.py", f"test_{a}_{b}", f"{a}-{b}"]
                )
            )
        self.vocab = vocab
        weights = [1.0 / (rank + 1) ** 0.9 for rank in range(len(vocab))]
        total = 0.0
        self.cumulative = []
        for weight in weights:
            total += weight
            self.cumulative.append(total)

    def words(self, count: int) -> str:
        return " ".join(self.rnd.choices(self.vocab, cum_weights=self.cumulative, k=count))

    def fill(self, key: str) -> str:
        rnd = self.rnd
        if key == "s":
            return self.words(min(int(rnd.expovariate(1 / 9)) + 2, 80))
        if key == "w":
            return self.words(1)
        if key == "n":
            return str(rnd.randint(1, 900))
        if key == "t":
            return f"SCS-{rnd.randint(1, 4000)}"
        return f"src/{self.words(1).replace(' ', '_')}.py"

    def message(self) -> str:
        template = self.rnd.choice(TEMPLATES)
        parts = template.split("{")
        text = parts[0]
        for part in parts[1:]:
            key, rest = part.split("}", 1)
            text += self.fill(key) + rest
        return text[0].upper() + text[1:]


def make_rows(size: int, seed: int) -> list[dict[str, Any]]:
    writer = Writer(seed)
    rnd = writer.rnd
    rows = []
    for _ in range(size):
        sender, sender_type = rnd.choice(AGENTS)
        metadata = None
        if rnd.random() < 0.25:
            metadata = {"topic": writer.words(1), "priority": rnd.choice(["low", "high"])}
        rows.append(
            {
                "sender": sender,
                "sender_type": sender_type,
                "content": writer.message(),
                "visibility": rnd.choice(LEVELS),
                "metadata": metadata,
            }
        )
    return rows


# -- the run ------------------------------------------------------------------------


async def seed(app: Any, session_id: str, rows: list[dict[str, Any]]) -> None:
    started = time.time()
    for chunk in range(0, len(rows), 5000):
        batch = rows[chunk : chunk + 5000]
        async with app.db.transaction(heavy=True) as tx:
            await tx.execute_many(
                "INSERT INTO messaging_messages (session_id, sender, sender_type, content, visibility,"
                " metadata, parent_message_id, timestamp) VALUES (?, ?, ?, ?, ?, ?, NULL, ?)",
                [
                    (
                        session_id,
                        row["sender"],
                        row["sender_type"],
                        row["content"],
                        row["visibility"],
                        json.dumps(row["metadata"]) if row["metadata"] else None,
                        time.strftime(
                            "%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(started + chunk + n)
                        ),
                    )
                    for n, row in enumerate(batch)
                ],
            )
            tx.emit("messages", {"session_id": session_id})  # as every writer of messages


def brute_force(
    texts: list[str], ids: list[int], query: str, limit: int
) -> list[tuple[int, float]]:
    """Every visible text scored (no cutoff), >= 60, by score then newest id."""
    scored = [(ident, score(query, text)) for ident, text in zip(ids, texts, strict=True)]
    scored = [(ident, score) for ident, score in scored if score >= 60.0]
    scored.sort(key=lambda item: (-item[1], -item[0]))
    return scored[:limit]


async def call(client: Client[Any], token: str, tool: str, **arguments: Any) -> Any:
    result = await client.call_tool(tool, {"auth_token": token, **arguments}, raise_on_error=False)
    if result.is_error:
        raise RuntimeError(f"{tool} failed: {result.content}")
    return parse_result(result)


async def run(
    sizes: list[int], rounds: int, folder: Path, log: Any, database_url: str | None = None
) -> dict[str, Any]:
    settings = make_settings(folder, "sessions,messaging,search", database_url=database_url)
    app = await create_app(settings)
    figures: list[dict[str, Any]] = []
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
            for size in sizes:
                figures.append(await measure(app, client, token, size, rounds, log))
    finally:
        await app.close()
    return {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "queries": list(QUERIES),
        "rounds": rounds,
        "sizes": figures,
    }


async def measure(
    app: Any, client: Client[Any], token: str, size: int, rounds: int, log: Any
) -> dict[str, Any]:
    session = await call(client, token, "create_session", purpose=f"bench {size}")
    session_id = session["session_id"]
    rows = make_rows(size, seed=size)
    log(f"{size:>7} messages: seeding")
    await seed(app, session_id, rows)

    rss_before = rss_kib(os.getpid())
    started = time.perf_counter()
    await call(client, token, "search_context", session_id=session_id, query="warm up")
    load_ms = (time.perf_counter() - started) * 1000
    rss_after = rss_kib(os.getpid())
    cache = app.services.get(Search, needed_by="bench").cache
    index_mb = cache._indexes[session_id].nbytes() / 1e6

    # the caller's visible texts, prepared once, for the floor and the oracle
    async with app.db.read() as r:
        stored = await r.fetch_all(
            "SELECT id, sender, sender_type, content, visibility, metadata FROM messaging_messages"
            " WHERE session_id = ? ORDER BY id",
            (session_id,),
        )
    texts, ids = [], []
    for row in stored:
        if can_see(CALLER, row):
            metadata = json.loads(row["metadata"]) if row["metadata"] else None
            texts.append(prepare(row["sender"], row["content"], metadata)[0])
            ids.append(row["id"])

    log(f"{size:>7} messages: searching ({len(QUERIES)} queries x {rounds} rounds)")
    timings: list[float] = []
    per_query: dict[str, list[float]] = {q: [] for q in QUERIES}
    identical = True
    mismatches: list[str] = []
    for _ in range(rounds):
        for query in QUERIES:
            started = time.perf_counter()
            found = await call(client, token, "search_context", session_id=session_id, query=query)
            elapsed = (time.perf_counter() - started) * 1000
            timings.append(elapsed)
            per_query[query].append(elapsed)
    floor: list[float] = []
    for _ in range(rounds):
        for query in QUERIES:
            prepared = prepare_query(query)
            started = time.perf_counter()
            process.extract(
                prepared,
                texts,
                scorer=fuzz.partial_ratio,
                processor=None,
                score_cutoff=60,
                limit=10,
            )
            floor.append((time.perf_counter() - started) * 1000)
    log(f"{size:>7} messages: checking results against brute force")
    for query in QUERIES:
        found = await call(client, token, "search_context", session_id=session_id, query=query)
        got = [(r["message"]["id"], r["score"]) for r in found["results"]]
        expected = [
            (ident, round(score, 2))
            for ident, score in brute_force(texts, ids, prepare_query(query), 10)
        ]
        if got != expected:
            identical = False
            mismatches.append(query)
    p50, p95 = percentile(timings, 50), percentile(timings, 95)
    floor50, floor95 = percentile(floor, 50), percentile(floor, 95)
    return {
        "messages": size,
        "visible_to_caller": len(texts),
        "avg_text_chars": round(sum(map(len, texts)) / max(1, len(texts)), 1),
        "first_search_ms": round(load_ms, 1),
        "p50_ms": round(p50, 2),
        "p95_ms": round(p95, 2),
        "floor_p50_ms": round(floor50, 2),
        "floor_p95_ms": round(floor95, 2),
        "p50_vs_floor": round(p50 / floor50, 2) if floor50 else None,
        "identical_to_brute_force": identical,
        "mismatched_queries": mismatches,
        "index_mb": round(index_mb, 1),
        "rss_growth_mb_on_load": round((rss_after - rss_before) / 1024, 1),
        "per_query_p50_ms": {q: round(percentile(v, 50), 1) for q, v in per_query.items()},
    }


def table(report: dict[str, Any]) -> str:
    head = (
        f"{'messages':>9} {'1st ms':>8} {'p50 ms':>8} {'p95 ms':>8} {'floor p50':>10}"
        f" {'floor p95':>10} {'p50/floor':>9} {'index MB':>9} {'RSS +MB':>8}  identical"
    )
    lines = [head, "-" * len(head)]
    for row in report["sizes"]:
        lines.append(
            f"{row['messages']:>9,} {row['first_search_ms']:>8.0f} {row['p50_ms']:>8.2f}"
            f" {row['p95_ms']:>8.2f} {row['floor_p50_ms']:>10.2f} {row['floor_p95_ms']:>10.2f}"
            f" {row['p50_vs_floor']:>9} {row['index_mb']:>9.1f} {row['rss_growth_mb_on_load']:>8.1f}"
            f"  {'yes' if row['identical_to_brute_force'] else 'NO ' + str(row['mismatched_queries'])}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="2 rounds")
    parser.add_argument("--json", action="store_true", help="print JSON on stdout")
    parser.add_argument(
        "--postgresql", action="store_true", help="on a throwaway PostgreSQL cluster"
    )
    args = parser.parse_args()
    rounds = 2 if args.quick else args.rounds

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="scs-search-bench-") as tmp:
        if args.postgresql:
            binaries = find_binaries()
            if binaries is None:
                sys.exit("no PostgreSQL binaries (initdb): install Debian's postgresql package")
            cluster = PostgresCluster(binaries)
            cluster.start()
            try:
                url = cluster.create_database()
                report = asyncio.run(run(args.sizes, rounds, Path(tmp), log, url))
            finally:
                cluster.destroy()
        else:
            report = asyncio.run(run(args.sizes, rounds, Path(tmp), log))
        report["engine"] = "postgresql" if args.postgresql else "sqlite"
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(table(report))
        print()
        slowest = report["sizes"][-1]["per_query_p50_ms"]
        print(f"per-query p50 at {report['sizes'][-1]['messages']:,} messages (ms):")
        for query, value in sorted(slowest.items(), key=lambda item: -item[1]):
            print(f"  {value:>8.1f}  {query}")


if __name__ == "__main__":
    main()
