"""Does the cache plugin pay? The same reads, with and without it, in one run.

Two servers are built in this process on two database files holding the same data
(``default,-ratelimit`` and ``default,-ratelimit,-cache``: the bench would trip the
rate limits, which cost the same either way), and every read is timed end to end through a
real in-memory MCP client (auth, rate limit, monitoring included). For each read:

1. **repeat**: the same call by the same agent, back to back (what polling agents do);
   the cache answers all but the first.
2. **mixed**: several agents poll their sessions while others write now and then
   (``--writes-every`` reads); every write empties the cache, so this shows the hit
   ratio and speed-up a busy team would see.

Run: ``uv run python bench/cache_bench.py`` (``--help`` for sizes). Prints a table and,
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
from scs.app import create_app  # noqa: E402
from scs.testing import ScsServer, make_settings  # noqa: E402

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


async def build(folder: Path, plugins: str) -> ScsServer:
    folder.mkdir(parents=True)
    settings = make_settings(folder, plugins, database_path=folder / "scs.db")
    return ScsServer(await create_app(settings), folder)


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
        ("search_by_sender", "search_by_sender", {"session_id": big, "sender": "writer1"}),
    ]  # fmt: skip
    return [item for item in chosen if item[1] in tools]


async def time_calls(agent: Any, tool: str, arguments: dict[str, Any], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        await agent.call(tool, **arguments)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def summary(samples: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(samples, 50), 3),
        "p95_ms": round(percentile(samples, 95), 3),
        "mean_ms": round(statistics.fmean(samples), 3),
    }


async def repeat_phase(
    servers: dict[str, ScsServer], data: dict[str, dict[str, Any]], calls: int
) -> list[dict[str, Any]]:
    rows = []
    agents = {name: await server.agent("reader", agent_type="claude")
              for name, server in servers.items()}  # fmt: skip
    tools = set(servers["cache"].app.tools)
    for label, tool, _ in reads(data["cache"], tools):
        row: dict[str, Any] = {"read": label}
        for name, server in servers.items():
            arguments = dict(next(a for lab, _, a in reads(data[name], tools) if lab == label))
            cache = server.app.services.get("cache")
            before = cache.stats() if cache else None
            await time_calls(agents[name], tool, arguments, 3)  # warm the SQLite page cache
            samples = await time_calls(agents[name], tool, arguments, calls)
            row[name] = summary(samples)
            if cache is not None and before is not None:
                after = cache.stats()
                looked = (after["hits"] - before["hits"]) + (after["misses"] - before["misses"])
                hits = after["hits"] - before["hits"]
                row["hit_ratio"] = round(hits / looked, 3) if looked else None
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
    every ``writes_every`` reads. Same random sequence on both servers."""
    result: dict[str, Any] = {"readers": readers, "writes_every_reads": writes_every}
    for name, server in servers.items():
        rng = random.Random(7)
        agents = [await server.agent(f"poller{n}", agent_type=("claude", "gemini")[n % 2])
                  for n in range(readers)]  # fmt: skip
        writer = await server.agent("mixed-writer")
        sessions = data[name]["sessions"][:3]
        cache = server.app.services.get("cache")
        before = cache.stats() if cache else None
        samples: list[float] = []
        started = time.perf_counter()
        for n in range(rounds):
            agent = agents[n % readers]
            session = rng.choice(sessions)
            if n % writes_every == writes_every - 1:
                await writer.call("add_message", session_id=session, content=sentence(rng, 8))
                continue
            tool, arguments = rng.choice(
                [("get_messages", {"session_id": session, "limit": 50}),
                 ("get_session", {"session_id": session})]
            )  # fmt: skip
            t0 = time.perf_counter()
            await agent.call(tool, **arguments)
            samples.append((time.perf_counter() - t0) * 1000)
        elapsed = time.perf_counter() - started
        result[name] = {**summary(samples), "reads_per_s": round(len(samples) / elapsed, 1)}
        if cache is not None and before is not None:
            after = cache.stats()
            hits = after["hits"] - before["hits"]
            looked = hits + after["misses"] - before["misses"]
            result["hit_ratio"] = round(hits / looked, 3) if looked else 0.0
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
        "cache": await build(root / "cache", "default,-ratelimit"),
        "no_cache": await build(root / "no_cache", "default,-ratelimit,-cache"),
    }
    try:
        data = {
            name: await seed(server, args.sessions, args.messages, 1)
            for name, server in servers.items()
        }
        figures = {
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
        f"{figures['calls_per_read']} calls per read (end to end, in-memory MCP client)\n"
    )
    print(f"{'read':45} {'no cache p50':>12} {'cache p50':>10} {'speed-up':>9} {'hit ratio':>9}")
    for row in figures["repeat"]:
        print(
            f"{row['read']:45} {row['no_cache']['p50_ms']:>10.3f}ms {row['cache']['p50_ms']:>8.3f}ms"
            f" {row['speedup_p50']:>8.2f}x {_ratio(row.get('hit_ratio')):>9}"
        )
    print("\nmixed: pollers on 3 sessions, one write every N reads")
    for row in figures["mixed"]:
        print(
            f"  N={row['writes_every_reads']:<4} no cache p50 {row['no_cache']['p50_ms']:.3f}ms"
            f" ({row['no_cache']['reads_per_s']}/s)  cache p50 {row['cache']['p50_ms']:.3f}ms"
            f" ({row['cache']['reads_per_s']}/s)  speed-up {row['speedup_p50']:.2f}x"
            f"  hit ratio {row['hit_ratio']:.3f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=5)
    parser.add_argument("--messages", type=int, default=1000, help="messages per session")
    parser.add_argument("--calls", type=int, default=200, help="timed calls per read")
    parser.add_argument("--readers", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--writes-every", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--tools", nargs="+", default=CANDIDATES, help="reads to cache")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    arguments = parser.parse_args()
    import logging

    logging.getLogger("scs.monitoring").setLevel(logging.WARNING)
    results = asyncio.run(main(arguments))
    print_table(results)
    if arguments.json:
        arguments.json.write_text(json.dumps(results, indent=2))
