"""Does the cache plugin pay? The same reads, with and without it, in one run.

Two servers are built in this process on two database files holding the same data
(``default,-ratelimit`` and ``default,-ratelimit,-cache``: the bench would trip the
rate limits, which cost the same either way), and every read is timed end to end through a
real MCP client (in memory, or streamable HTTP with ``--http``; auth and monitoring
included). The two servers take turns call by call, so that other load on the machine
falls on both alike. For each read:

1. **repeat**: the same call by the same agent, back to back (what polling agents do);
   the cache answers all but the first.
2. **mixed**: 8 agents poll get_messages/get_session of 3 sessions while a writer adds a
   message every N calls (``--writes-every``); every write empties the cache, so this
   shows the hit ratio and speed-up a team would see.

Run: ``uv run python bench/cache_bench.py`` (``--http``, ``--help`` for sizes). Prints a table and,
with ``--json FILE``, writes the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import percentile  # noqa: E402
from scs_cache.entries import ResponseCache  # noqa: E402
from scs_server.app import create_app  # noqa: E402
from scs_server.testing import ScsServer, make_settings, serve_http  # noqa: E402

WORDS = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
    "mike",
    "schema",
    "index",
    "cache",
    "token",
    "session",
    "memory",
    "search",
    "message",
    "agent",
    "review",
    "deploy",
    "refactor",
]
VISIBILITY = ["public"] * 6 + ["private", "agent_only"]


def sentence(rng: random.Random, words: int = 24) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


async def build(folder: Path, plugins: str, http: bool) -> ScsServer:
    folder.mkdir(parents=True)
    settings = make_settings(folder, plugins, database_path=folder / "scs.db")
    server = ScsServer(await create_app(settings), folder)
    if http:  # agents then talk streamable HTTP on 127.0.0.1, as real clients do
        server.url = await server._stack.enter_async_context(serve_http(server.app))
    return server


async def seed(server: ScsServer, sessions: int, messages: int, seed_value: int) -> dict[str, Any]:
    """Sessions with ``messages`` messages each, written by three agents, some threads."""
    rng = random.Random(seed_value)
    writers = [await server.agent(f"writer{n}", agent_type=kind) for n, kind in
               enumerate(["claude", "gemini", "cursor"])]  # fmt: skip
    ids: list[str] = []
    thread_roots: list[int] = []
    for s in range(sessions):
        created = await writers[0].call("create_session", purpose=f"bench session {s}")
        ids.append(created["session_id"])
        parent: int | None = None
        for m in range(messages):
            writer = writers[m % len(writers)]
            added = await writer.call(
                "add_message",
                session_id=created["session_id"],
                content=sentence(rng),
                visibility="public" if m % 10 == 0 else rng.choice(VISIBILITY),
                metadata={"n": m, "tag": rng.choice(WORDS)},
                parent_message_id=parent if m % 10 else None,
            )
            parent = added["message_id"] if m % 10 == 0 else parent
            if m == 0:
                thread_roots.append(added["message_id"])
    return {"sessions": ids, "thread_roots": thread_roots}


def reads(data: dict[str, Any], tools: set[str]) -> list[tuple[str, str, dict[str, Any]]]:
    """(label, tool, arguments) of every read measured."""
    big = data["sessions"][0]
    chosen = [
        ("get_messages limit=50", "get_messages", {"session_id": big, "limit": 50}),
        ("get_messages limit=500", "get_messages", {"session_id": big, "limit": 500}),
        ("get_messages after_id (poll, nothing new)", "get_messages",
         {"session_id": big, "after_id": 10**9}),
        ("get_session", "get_session", {"session_id": big}),
        ("get_thread", "get_thread", {"message_id": data["thread_roots"][0]}),
        ("list_sessions", "list_sessions", {"limit": 50}),
        ("get_usage_guidance", "get_usage_guidance", {}),
        ("search_context", "search_context", {"session_id": big, "query": "cache token review"}),
        ("search_context (all sessions)", "search_context", {"query": "deploy schema"}),
        ("search_by_sender", "search_by_sender", {"session_id": big, "sender": "writer1"}),
        ("search_by_timerange", "search_by_timerange",
         {"session_id": big, "start_time": "2000-01-01T00:00:00Z",
          "end_time": "2100-01-01T00:00:00Z"}),
    ]  # fmt: skip
    return [item for item in chosen if item[1] in tools]


def summary(samples: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(samples, 50), 3),
        "p95_ms": round(percentile(samples, 95), 3),
        "mean_ms": round(statistics.fmean(samples), 3),
    }


async def timed(agent: Any, tool: str, arguments: dict[str, Any]) -> float:
    started = time.perf_counter()
    await agent.call(tool, **arguments)
    return (time.perf_counter() - started) * 1000


def hit_ratio(before: dict[str, Any], after: dict[str, Any]) -> float | None:
    hits = after["hits"] - before["hits"]
    looked = hits + after["misses"] - before["misses"]
    return round(hits / looked, 3) if looked else None


async def repeat_phase(
    servers: dict[str, ScsServer], data: dict[str, dict[str, Any]], calls: int
) -> list[dict[str, Any]]:
    """Each read called ``calls`` times by one agent; the two servers take turns, call by
    call, so that load from elsewhere on the machine falls on both alike."""
    rows = []
    agents = {name: await server.agent("reader", agent_type="claude")
              for name, server in servers.items()}  # fmt: skip
    tools = set(servers["cache"].app.tools)
    cache = servers["cache"].app.services.get(ResponseCache, needed_by="bench")
    for label, tool, _ in reads(data["cache"], tools):
        arguments = {
            name: dict(next(a for lab, _, a in reads(data[name], tools) if lab == label))
            for name in servers
        }
        for name in servers:  # warm the SQLite page cache and the search index
            for _ in range(3):
                await timed(agents[name], tool, arguments[name])
        before = cache.stats()
        samples: dict[str, list[float]] = {name: [] for name in servers}
        for _ in range(calls):
            for name in servers:
                samples[name].append(await timed(agents[name], tool, arguments[name]))
        row: dict[str, Any] = {"read": label, **{n: summary(v) for n, v in samples.items()}}
        row["hit_ratio"] = hit_ratio(before, cache.stats())
        row["speedup_p50"] = round(row["no_cache"]["p50_ms"] / row["cache"]["p50_ms"], 2)
        rows.append(row)
    return rows


async def mixed_phase(
    servers: dict[str, ScsServer],
    data: dict[str, dict[str, Any]],
    readers: int,
    rounds: int,
    writes_every: int,
) -> dict[str, Any]:
    """Readers poll get_messages/get_session of a few sessions; a writer adds a message
    every ``writes_every`` reads. The same step runs on both servers in turn."""
    rng = random.Random(7)
    agents = {
        name: [await server.agent(f"poller{n}", agent_type=("claude", "gemini")[n % 2])
               for n in range(readers)]
        for name, server in servers.items()
    }  # fmt: skip
    writers = {name: await server.agent("mixed-writer") for name, server in servers.items()}
    cache = servers["cache"].app.services.get(ResponseCache, needed_by="bench")
    before = cache.stats()
    samples: dict[str, list[float]] = {name: [] for name in servers}
    spent = dict.fromkeys(servers, 0.0)
    for n in range(rounds):
        index = rng.randrange(3)
        write = n % writes_every == writes_every - 1
        tool, which = rng.choice([("get_messages", 50), ("get_session", 0)])
        for name in servers:
            session = data[name]["sessions"][index]
            if write:
                started = time.perf_counter()
                await writers[name].call("add_message", session_id=session, content="news")
                spent[name] += time.perf_counter() - started
                continue
            arguments: dict[str, Any] = {"session_id": session}
            if which:
                arguments["limit"] = which
            ms = await timed(agents[name][n % readers], tool, arguments)
            samples[name].append(ms)
            spent[name] += ms / 1000
    result: dict[str, Any] = {"readers": readers, "writes_every_reads": writes_every}
    for name in servers:
        result[name] = {**summary(samples[name]), "calls_per_s": round(rounds / spent[name], 1)}
    result["hit_ratio"] = hit_ratio(before, cache.stats())
    result["speedup_p50"] = round(result["no_cache"]["p50_ms"] / result["cache"]["p50_ms"], 2)
    return result


CANDIDATES = [
    "get_messages", "get_session", "get_thread", "list_sessions", "get_usage_guidance",
    "search_context", "search_by_sender", "search_by_timerange",
]  # fmt: skip


async def main(args: argparse.Namespace) -> dict[str, Any]:
    # Every candidate read is cached here, so that the table shows which ones pay.
    os.environ["SCS_CACHE_TOOLS"] = json.dumps(args.tools)
    root = Path(tempfile.mkdtemp(prefix="scs-cache-bench-"))
    servers = {
        "cache": await build(root / "cache", "default,-ratelimit", args.http),
        "no_cache": await build(root / "no_cache", "default,-ratelimit,-cache", args.http),
    }
    try:
        data = {
            name: await seed(server, args.sessions, args.messages, 1)
            for name, server in servers.items()
        }
        figures = {
            "transport": "http" if args.http else "in-memory",
            "sessions": args.sessions,
            "messages_per_session": args.messages,
            "calls_per_read": args.calls,
            "repeat": await repeat_phase(servers, data, args.calls),
            "mixed": [
                await mixed_phase(servers, data, args.readers, args.rounds, every)
                for every in args.writes_every
            ],
        }
    finally:
        for server in servers.values():
            await server.close()
    return figures


def _ratio(value: float | None) -> str:
    return "not cached" if value is None else f"{value:.3f}"


def print_table(figures: dict[str, Any]) -> None:
    print(
        f"\n{figures['sessions']} sessions x {figures['messages_per_session']} messages; "
        f"{figures['calls_per_read']} calls per read, end to end through a real MCP client "
        f"({figures['transport']})\n"
    )
    print(
        f"| {'read':38} | no cache p50 / p95 ms | cache p50 / p95 ms | speed-up p50 | hit ratio |"
    )
    print(f"|{'-' * 40}|{'-' * 23}|{'-' * 20}|{'-' * 14}|{'-' * 11}|")
    for row in figures["repeat"]:
        plain, cached = row["no_cache"], row["cache"]
        print(
            f"| {row['read']:38} | {plain['p50_ms']:>8.3f} / {plain['p95_ms']:>8.3f} "
            f"| {cached['p50_ms']:>7.3f} / {cached['p95_ms']:>7.3f} "
            f"| {row['speedup_p50']:>11.2f}x | {_ratio(row.get('hit_ratio')):>9} |"
        )
    print(
        f"\nmixed: {figures['mixed'][0]['readers']} pollers on 3 sessions, one write every N calls"
    )
    for row in figures["mixed"]:
        plain, cached = row["no_cache"], row["cache"]
        print(
            f"  N={row['writes_every_reads']:<4} read p50 {plain['p50_ms']:.3f} -> "
            f"{cached['p50_ms']:.3f} ms ({row['speedup_p50']:.2f}x), "
            f"calls/s {plain['calls_per_s']} -> {cached['calls_per_s']}, "
            f"hit ratio {_ratio(row['hit_ratio'])}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=5)
    parser.add_argument("--messages", type=int, default=1000, help="messages per session")
    parser.add_argument("--calls", type=int, default=200, help="timed calls per read")
    parser.add_argument("--readers", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--writes-every", type=int, nargs="+", default=[10, 50, 200])
    parser.add_argument("--http", action="store_true", help="clients over streamable HTTP")
    parser.add_argument("--tools", nargs="+", default=CANDIDATES, help="reads to cache")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    arguments = parser.parse_args()
    import logging

    logging.getLogger("scs.monitoring").setLevel(logging.WARNING)
    results = asyncio.run(main(arguments))
    print_table(results)
    if arguments.json:
        arguments.json.write_text(json.dumps(results, indent=2))
