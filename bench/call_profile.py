"""Where a call's CPU goes: a sampling profile of a real ``scs serve`` per tool.

    uv run python bench/call_profile.py                       # SQLite, ~1 minute
    uv run python bench/call_profile.py --engine postgresql   # a throwaway cluster
    uv run python bench/call_profile.py --calls 1000 --agents 4 --json out.json

One agent (``--agents`` for more, each a closed loop) calls each tool over streamable
HTTP: ``add_message``, ``get_messages`` (``after_id``, limit 50, as load.py's agents),
``search_context`` (a 300-message session, a new two-word query each call, so the
cache plugin does not answer it) on scs, and ``add_message`` on the no-op
floor (``noop_server.py``). Per tool, one phase without the profiler gives the server's
CPU per call (``/proc``: all threads); a second phase with the sampler on
(``_sampler.py``: a SIGPROF every 0.5 ms of CPU) says where it went. Each sample is
filed under the innermost frame of our code (core or a plugin) unless framework code
(FastMCP, the MCP SDK, Starlette, uvicorn, anyio) runs below it; the shares are then
scaled to the unprofiled CPU per call. On PostgreSQL the round trips per call are
counted too (psycopg's network waits and pg_direct's answers).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from _common import (
    BENCH_DIR,
    REPO_ROOT,
    children_cpu_seconds,
    cpu_seconds,
    percentile,
    start_child,
    tool_json,
)
from _loadgen import WORDS

if TYPE_CHECKING:
    from fastmcp import Client
    from scs_server.storage.cluster import PostgresCluster
    from scs_server.testing import ServerProcess

FRAMEWORK = {
    "fastmcp": "FastMCP (tool run, middleware chain)",
    "mcp": "MCP SDK (JSON-RPC session, streams)",
    "starlette": "HTTP: Starlette",
    "sse_starlette": "HTTP: Starlette",
    "uvicorn": "HTTP: uvicorn + h11",
    "h11": "HTTP: uvicorn + h11",
    "anyio": "anyio (memory streams, task groups)",
    "pydantic": "pydantic (validation, serialisation)",
    "pydantic_core": "pydantic (validation, serialisation)",
}
LIBRARIES = {"psycopg", "psycopg_pool", "jwt", "joserfc", "rapidfuzz", "sqlite3"}
OURS = (str(REPO_ROOT / "core" / "src"), str(REPO_ROOT / "plugins"))
STORAGE = "scs_server/storage/"
ENTRY = ("scs_server/cli.py", "scs_server/runner.py", "scs_server/clikit.py")
COMMIT_FRAMES = {
    ("sqlite.py", "__aexit__"),
    ("sqlite.py", "__aenter__"),
    ("sqlite.py", "finish"),  # a group's commit runs in a loop callback, outside the calls
    ("postgres.py", "_commit"),
    ("postgres.py", "transaction"),
}


def package_of(filename: str) -> str:
    """The top-level package of a file in site-packages or the stdlib ('' if unknown)."""
    for marker in ("site-packages/", "/lib/python3."):
        if marker in filename:
            rest = filename.split(marker, 1)[1]
            if marker != "site-packages/":
                rest = rest.split("/", 1)[1] if "/" in rest else rest
            return rest.split("/", 1)[0].removesuffix(".py")
    return ""


def our_label(filename: str, stack: list[tuple[str, str]]) -> str:
    """The row of a sample whose innermost framework-free frame is ours."""
    path = filename.replace("\\", "/")
    names = {name for _, name in stack}
    if "/plugins/" in path:
        plugin = path.split("/plugins/", 1)[1].split("/", 1)[0]
        if "event" in names and any(f.endswith("scs_server/plugins.py") for f, _ in stack):
            return f"event hook: {plugin}"
        if names & {"call_started", "call_admitted", "call_finished"}:
            return f"call hooks: {plugin}"
        return f"plugin {plugin} (tool or middleware)"
    module = path.split("/scs_server/", 1)[1].removesuffix(".py")
    if module == "auth/tokens":
        return "auth: JWT verify (cached)"
    if module == "auth/revocations":
        return "database: revocation read (sharing it, Python)"
    if module.startswith("auth/"):
        return "auth: service (throttle, touch)"
    if module in {"calls", "middleware", "request", "identity", "errors"}:
        return "core call path (call record, auth/error middleware)"
    return f"core: {module}"


def is_ours(filename: str) -> bool:
    """Core or plugin code, not the process's entry frames (cli, runner: the loop's caller)."""
    return filename.startswith(OURS) and not filename.endswith(ENTRY)


def database_label(stack: list[tuple[str, str]], index: int) -> str:
    """A sample in the data API or a driver: whose call it serves, and commits apart."""
    frames = {(f.rsplit("/", 1)[-1], name) for f, name in stack[index:]}
    if frames & COMMIT_FRAMES:
        return "database: BEGIN/commit (+ emits)"
    for filename, name in reversed(stack[:index]):
        path = filename.replace("\\", "/")
        if is_ours(path) and STORAGE not in path:
            if path.endswith("auth/store.py") and name in {"is_revoked", "revoked_among"}:
                return "database: revocation read"
            return f"database: for {our_label(filename, stack).split(' (')[0]}"
    return "database: background (change feed, pruner, checkpoints)"


def classify(stack: list[tuple[str, str]]) -> str:
    """The table row of one sampled stack (outermost frame first)."""
    innermost_ours = -1
    for i, (filename, _) in enumerate(stack):
        if is_ours(filename):
            innermost_ours = i
    inner = stack[innermost_ours + 1 :] if innermost_ours >= 0 else stack
    framework = [package_of(f) for f, _ in inner if package_of(f) in FRAMEWORK]
    if innermost_ours < 0 or framework:
        if framework:
            return FRAMEWORK[framework[-1]]
        leaf = package_of(stack[-1][0]) if stack else ""
        if stack and stack[-1][1] == "select":  # the loop sleeps: another thread used the CPU
            return "worker threads (SQLite scans, search; sampled while the loop waits)"
        if leaf in {"asyncio", "selectors", "events", "base_events"}:
            return "event loop (asyncio)"
        return f"other: {leaf or stack[-1][0] if stack else '?'}"
    filename = stack[innermost_ours][0].replace("\\", "/")
    first_storage = next(
        (i for i, (f, _) in enumerate(stack) if STORAGE in f.replace("\\", "/")), -1
    )
    if first_storage >= 0:
        if STORAGE not in filename:  # our code called back by the storage: feed, after_commit
            return f"after commit / change feed: {our_label(filename, stack).split(' (')[0]}"
        return database_label(stack, first_storage)
    if any(package_of(f) in LIBRARIES for f, _ in inner):
        return database_label(stack, innermost_ours)
    return our_label(filename, stack)


# -- driving the servers ---------------------------------------------------------------


class Server:
    """A server under the sampler; ``profile`` flips it on and off around a phase."""

    def __init__(self, child: ServerProcess, out: Path) -> None:
        self.child = child
        self.out = out

    @property
    def url(self) -> str:
        return self.child.url or ""

    async def profiled(self, phase: Any) -> dict[str, Any]:
        self.out.unlink(missing_ok=True)
        os.kill(self.child.pid, signal.SIGUSR1)
        await asyncio.sleep(0.05)  # the handler runs between the loop's callbacks
        await phase()
        os.kill(self.child.pid, signal.SIGUSR2)
        deadline = time.monotonic() + 10
        while not self.out.exists():
            if time.monotonic() > deadline:
                raise RuntimeError("the sampler wrote no profile within 10 s")
            await asyncio.sleep(0.02)
        body: dict[str, Any] = json.loads(self.out.read_text())
        return body


def start(folder: Path, name: str, command: list[str], env: dict[str, str]) -> Server:
    out = folder / f"{name}.profile.json"
    sampler = [sys.executable, str(BENCH_DIR / "_sampler.py"), str(out)]
    child = start_child(
        [*sampler, *command], env=env, cwd=folder, log_path=folder / f"{name}.log", timeout=240
    )
    return Server(child, out)


async def clients(url: str, tokens: list[str | None]) -> list[Client[Any]]:
    """One client per token (each agent its own caller, as in load.py: the server caps
    the requests one caller has in flight)."""
    from fastmcp import Client
    from fastmcp.client.transports import StreamableHttpTransport

    opened = []
    for token in tokens:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client: Client[Any] = Client(StreamableHttpTransport(url, headers=headers))
        await client.__aenter__()
        opened.append(client)
    return opened


async def closed_loops(
    agents: list[Client[Any]], tool: str, arguments: Any, calls: int
) -> list[float]:
    """``calls`` calls in all, each agent one at a time; the latencies (ms)."""
    latencies: list[float] = []
    per_agent = max(1, calls // len(agents))

    async def loop(client: Client[Any]) -> None:
        for n in range(per_agent):
            began = time.perf_counter()
            result = await client.call_tool(tool, arguments(n), raise_on_error=False)
            latencies.append((time.perf_counter() - began) * 1000)
            if result.is_error:
                raise RuntimeError(f"{tool} failed: {result.content}")

    await asyncio.gather(*(loop(client) for client in agents))
    return latencies


async def measure(
    server: Server,
    agents: list[Client[Any]],
    tool: str,
    arguments: Any,
    calls: int,
    postmaster: int | None = None,
) -> dict[str, Any]:
    """Warm up, one phase for CPU and latency, one phase under the sampler.

    With ``postmaster`` (PostgreSQL's pid) the phase also counts its backends' CPU.
    """
    await closed_loops(agents, tool, arguments, min(50, calls))
    database0 = children_cpu_seconds(postmaster) if postmaster else 0.0
    cpu0, wall0 = cpu_seconds(server.child.pid), time.perf_counter()
    latencies = await closed_loops(agents, tool, arguments, calls)
    cpu = cpu_seconds(server.child.pid) - cpu0
    wall = time.perf_counter() - wall0
    database = children_cpu_seconds(postmaster) - database0 if postmaster else 0.0
    profile = await server.profiled(lambda: closed_loops(agents, tool, arguments, calls))
    rows: Counter[str] = Counter()
    for stack, count in profile["stacks"]:
        rows[classify([tuple(frame) for frame in stack])] += count
    total = max(1, profile["samples"])
    cpu_us = cpu / len(latencies) * 1e6
    return {
        "tool": tool,
        "calls": len(latencies),
        "p50_ms": round(percentile(latencies, 50), 3),
        "calls_per_s": round(len(latencies) / wall, 1),
        "cpu_us_per_call": round(cpu_us, 1),
        "postgres_cpu_us_per_call": round(database / len(latencies) * 1e6, 1),
        "samples": profile["samples"],
        "round_trips_per_call": round(sum(profile["pg_waits"].values()) / len(latencies), 2),
        "pg_waits": profile["pg_waits"],
        "rows": {label: round(count / total * cpu_us, 1) for label, count in rows.most_common()},
        "stacks": profile["stacks"],
    }


async def seed(url: str, token: str, session_id: str, count: int) -> None:
    (agent,) = await clients(url, [token])
    rng = random.Random(13)
    try:
        for n in range(count):
            words = " ".join(rng.choice(WORDS) for _ in range(12))
            await agent.call_tool(
                "add_message", {"session_id": session_id, "content": f"{n} {words}"}
            )
    finally:
        await agent.__aexit__(None, None, None)


async def run_noop(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """The floor: the no-op server's add_message, the same way."""
    noop = start(folder, "noop", [str(BENCH_DIR / "noop_server.py")], dict(os.environ))
    try:
        agents = await clients(noop.url, [None] * args.agents)
        add = {"session_id": "s", "content": "noop " + " ".join(WORDS[:12])}
        result = await measure(noop, agents, "add_message", lambda _n: add, args.calls)
        for agent in agents:
            await agent.__aexit__(None, None, None)
    finally:
        noop.child.stop(signal.SIGTERM)
    return {"server": "noop", **result}


async def run(
    args: argparse.Namespace, folder: Path, database_url: str | None, postmaster: int | None
) -> list[dict[str, Any]]:
    from load import GENEROUS_LIMITS, mint
    from scs_server.testing import server_env

    results: list[dict[str, Any]] = []
    tools = args.tools.split(",")
    if "noop" in tools:
        results.append(await run_noop(args, folder))

    extra = {"SCS_DATABASE_URL": database_url} if database_url else {}
    extra.update(setting.split("=", 1) for setting in args.env)
    env = server_env(folder, SCS_LOG_LEVEL="WARNING", **GENEROUS_LIMITS, **extra)
    scs = start(
        folder, "scs", ["-m", "scs_server.cli", "serve", "--host", "127.0.0.1", "--port", "0"], env
    )
    try:
        names = [f"profiler-{n}" for n in range(args.agents)]
        tokens = await mint(scs.url, [(name, "claude") for name in names])
        token = tokens[names[0]]
        agents = await clients(scs.url, [tokens[name] for name in names])
        created = await agents[0].call_tool("create_session", {"purpose": "profile"})
        session = tool_json(created)["session_id"]
        searched = tool_json(await agents[0].call_tool("create_session", {"purpose": "search"}))
        await seed(scs.url, token, searched["session_id"], 300)
        rng = random.Random(7)
        words = " ".join(rng.choice(WORDS) for _ in range(12))
        last = {"id": 0}

        def add(n: int) -> dict[str, Any]:
            return {"session_id": session, "content": f"profile {n} {words}"}

        def get(_n: int) -> dict[str, Any]:
            return {"session_id": session, "after_id": max(0, last["id"] - 20), "limit": 50}

        queries = itertools.count()

        def search(_n: int) -> dict[str, Any]:  # a new query each call: no cache hits
            n = next(queries)
            query = f"{WORDS[n % len(WORDS)]} {WORDS[(n // len(WORDS)) % len(WORDS)]}"
            return {"session_id": searched["session_id"], "query": query, "limit": 10}

        await closed_loops(agents, "add_message", add, 60)
        recipes = {"add_message": add, "get_messages": get, "search_context": search}
        for tool in tools:
            if tool in recipes:
                page = await agents[0].call_tool(
                    "get_messages", {"session_id": session, "limit": 1000}
                )
                last["id"] = max(int(m["id"]) for m in tool_json(page)["messages"])
                measured = await measure(scs, agents, tool, recipes[tool], args.calls, postmaster)
                results.append({"server": "scs", **measured})
        for agent in agents:
            await agent.__aexit__(None, None, None)
    finally:
        scs.child.stop(signal.SIGTERM)
    return results


GROUPS = (
    ("HTTP (uvicorn, h11, Starlette)", ("HTTP:",)),
    ("FastMCP (tool run, middleware chain)", ("FastMCP",)),
    ("MCP SDK + anyio streams", ("MCP SDK", "anyio")),
    ("pydantic (validation, serialisation)", ("pydantic",)),
    ("event loop", ("event loop",)),
    ("auth: JWT verify + service", ("auth:",)),
    ("auth: revocation read (SQL)", ("database: revocation read",)),
    ("core call path, call hooks (rate limit, metrics)", ("core call path", "call hooks", "core:")),
    ("tool body, cache middleware, event hooks (Python)", ("plugin ", "event hook")),
    ("tool SQL", ("database: for",)),
    ("BEGIN / COMMIT + change-feed emits", ("database: BEGIN",)),
    ("after commit: feed delivery, announce", ("after commit",)),
    ("change feed listener, pruner (background)", ("database: background",)),
    ("worker threads (SQLite scans, search)", ("worker threads",)),
)


def grouped(rows: dict[str, float]) -> dict[str, float]:
    """The rows summed into the groups of the README's table (the rest: 'other')."""
    out: dict[str, float] = {name: 0.0 for name, _ in GROUPS}
    out["other"] = 0.0
    for label, us in rows.items():
        name = next((n for n, prefixes in GROUPS if label.startswith(prefixes)), "other")
        out[name] += us
    return out


def markdown(results: list[dict[str, Any]]) -> str:
    """One column per profiled tool, one row per group, us of CPU per call."""
    heads = [f"{r['server']} {r['tool']}" for r in results]
    lines = ["| where (us CPU per call) | " + " | ".join(heads) + " |"]
    lines.append("|---|" + "---:|" * len(results))
    groups = [grouped(r["rows"]) for r in results]
    for name in [*(n for n, _ in GROUPS), "other"]:
        cells = [f"{g[name]:.0f}" if g[name] else "" for g in groups]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append(
        "| **total (unprofiled phase)** | "
        + " | ".join(f"**{r['cpu_us_per_call']:.0f}**" for r in results)
        + " |"
    )
    lines.append(
        "| PostgreSQL round trips per call | "
        + " | ".join(str(r["round_trips_per_call"]) for r in results)
        + " |"
    )
    if any(r.get("postgres_cpu_us_per_call") for r in results):
        lines.append(
            "| PostgreSQL's own CPU per call (its backends, not profiled) | "
            + " | ".join(f"{r.get('postgres_cpu_us_per_call', 0.0):.0f}" for r in results)
            + " |"
        )
    return "\n".join(lines)


def show(results: list[dict[str, Any]], engine: str, top: int) -> None:
    print(f"\nengine {engine}, load average {os.getloadavg()[0]:.2f}")
    for result in results:
        print(
            f"\n{result['server']} {result['tool']}: {result['cpu_us_per_call']:.0f} us CPU/call,"
            f" p50 {result['p50_ms']:.2f} ms, {result['calls_per_s']:.0f} calls/s,"
            + (
                f" PostgreSQL {result['postgres_cpu_us_per_call']:.0f} us CPU/call,"
                if result.get("postgres_cpu_us_per_call")
                else ""
            )
            + f" {result['samples']} samples, round trips/call {result['round_trips_per_call']}"
            f" {result['pg_waits'] or ''}"
        )
        for label, us in list(result["rows"].items())[:top]:
            print(f"  {us:8.1f} us  {label}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--calls", type=int, default=600, help="calls per phase and tool")
    parser.add_argument("--agents", type=int, default=1, help="closed loops in parallel")
    parser.add_argument(
        "--tools",
        default="noop,add_message,get_messages,search_context",
        help="what to profile, comma-separated ('noop': the floor's add_message)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="SCS_X=VALUE",
        help="a setting for scs serve (repeatable), e.g. SCS_REVOCATION_LEASE_S=0",
    )
    parser.add_argument("--top", type=int, default=16, help="rows shown per tool")
    parser.add_argument("--json", type=Path, help="write the results here (with the stacks)")
    parser.add_argument("--show", type=Path, help="re-classify and show a --json file; no run")
    args = parser.parse_args(argv)
    if args.show:
        saved = json.loads(args.show.read_text())
        for result in saved["results"]:
            rows: Counter[str] = Counter()
            for stack, count in result["stacks"]:
                rows[classify([tuple(frame) for frame in stack])] += count
            total = max(1, result["samples"])
            result["rows"] = {
                label: round(n / total * result["cpu_us_per_call"], 1)
                for label, n in rows.most_common()
            }
        show(saved["results"], saved["engine"], args.top)
        print()
        print(markdown(saved["results"]))
        return 0
    cluster: PostgresCluster | None = None
    with tempfile.TemporaryDirectory(prefix="scs-profile-") as tmp:
        folder = Path(tmp)
        database_url, postmaster = None, None
        try:
            if args.engine == "postgresql":
                from load import start_postgres

                cluster = start_postgres()
                database_url = cluster.create_database()
                postmaster = cluster.postmaster_pid()
            load_before = os.getloadavg()[0]
            results = asyncio.run(run(args, folder, database_url, postmaster))
        finally:
            if cluster is not None:
                cluster.destroy()
    print(f"load average before {load_before:.2f}")
    show(results, args.engine, args.top)
    print()
    print(markdown(results))
    if args.json:
        args.json.write_text(json.dumps({"engine": args.engine, "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
