"""Load benchmark of a real ``scs serve`` against its floor, with a lost-message check.

    uv run python bench/load.py            # default run, ~5 minutes on 2 cores
    uv run python bench/load.py --quick    # ~1.5 minutes
    uv run python bench/load.py --json     # JSON on stdout (progress stays on stderr)

What it does, in order (see bench/README.md for how to read the figures):

1. Floor A: raw sqlite3 ``BEGIN IMMEDIATE; INSERT; COMMIT`` on the event loop (as the
   server's SQLite engine writes), on a WAL file with the engine's PRAGMAs
   (``scs_server.storage.sqlite.SqliteDatabase.pragmas``) and the messages schema.
2. Floor B: ``bench/noop_server.py`` (FastMCP, same version and transport, tools that do
   nothing) as a subprocess, driven by exactly the client load used for scs.
3. scs: ``python -m scs_server.cli serve`` as a subprocess on a fresh database. Big sessions for
   search (1k/10k/100k messages) are seeded by inserting rows straight into the SQLite
   file with the server stopped (HTTP inserts would take minutes), then it is restarted.
   Tokens are minted with ``authenticate_agent``; rate limits are raised (env) so the
   limiter runs but does not refuse the bench's agents.
4. Paired rounds: with both servers up, a few rounds of single-agent ``add_message``
   and the 100-agent closed loop; the targets are judged on the median of the per-round
   ratios, so a machine that is slower during one phase (other tenants, thermal) cannot
   skew them. The single agent's ratio comes from one agent per server taking turns
   call by call (``Scenario.lockstep``): the speed of this kind of host moves between
   seconds (the no-op's p50 2.6-7.6 ms across one run's 4-second rounds), which made
   rounds of one server after the other disagree by 1.0-1.8x. The 100-agent loops run
   on one server after the other (ABBA order).
5. Every acknowledged ``message_id`` is read back with ``get_messages`` (admin token) and
   its content compared: missing, altered or duplicated messages are reported as lost.

The load generator runs in its own process(es) (``--workers``); CPU seconds of the
server and of the generator come from /proc/<pid>/stat.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import platform
import random
import shutil
import signal
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from _common import (
    BENCH_DIR,
    REPO_ROOT,
    Child,
    children_cpu_seconds,
    cpu_seconds,
    percentile,
    rss_kib,
    start_child,
    tool_error_code,
    tool_json,
)
from _loadgen import WORDS, AgentSpec, Scenario, worker_main
from _machine import CpuSampler
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

if TYPE_CHECKING:
    from collections.abc import Callable

    from scs_server.storage.cluster import PostgresCluster

console = Console(stderr=True)

SESSIONS = 10  # agents write into 10 shared sessions (agent i -> session i % 10)
SEARCH_SIZES = (1_000, 10_000, 100_000)
SINGLE_TOOLS = ("create_session", "add_message", "get_messages", "set_memory", "get_memory")
GENEROUS_LIMITS = {
    f"SCS_RATELIMIT_{kind}_{what}": "10000000"
    for kind in ("AUTH", "READ", "WRITE", "SEARCH", "ADMIN")
    for what in ("PER_MINUTE", "BURST")
}


@dataclass
class Durations:
    single_s: float
    closed_s: float
    open_s: float
    search_s: float
    floor_inserts: int
    rounds: int  # paired rounds (each: no-op and scs, single agent and 100 agents)

    @classmethod
    def pick(cls, quick: bool) -> Durations:
        if quick:
            return cls(1.5, 4.0, 10.0, 2.0, floor_inserts=1000, rounds=2)
        return cls(4.0, 10.0, 20.0, 5.0, floor_inserts=3000, rounds=4)


@dataclass
class Row:
    target: str  # "noop" or "scs" or "sqlite"
    scenario: str
    tool: str
    agents: int
    calls: int
    errors: dict[str, int]
    p50_ms: float
    p95_ms: float
    p99_ms: float
    throughput: float
    wall_s: float
    server_cpu: float = 0.0  # cores used (CPU seconds / wall seconds)
    loadgen_cpu: float = 0.0
    database_cpu: float = 0.0  # PostgreSQL's backends (0 on SQLite: in the server process)
    server_rss_mib: float = 0.0  # after the scenario
    server_ms_per_call: float = 0.0  # server CPU per call of the scenario (all its tools)
    steal_pct: float | None = None  # the machine's CPU the hypervisor took meanwhile (%)
    floor: str | None = None
    ratio_p50: float | None = None
    ratio_p99: float | None = None
    ratio_throughput: float | None = None


@dataclass
class Outcome:
    rows: list[Row] = field(default_factory=list)
    targets: list[dict[str, Any]] = field(default_factory=list)
    lost: dict[str, Any] = field(default_factory=dict)
    server: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    paired: list[dict[str, Any]] = field(default_factory=list)  # one entry per round
    timelines: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # open loops
    server_side: dict[str, Any] = field(default_factory=dict)  # what scs measured itself
    calm: dict[str, dict[str, Any]] = field(default_factory=dict)  # open loops, low steal

    def row(self, target: str, scenario: str, tool: str) -> Row | None:
        for row in self.rows:
            if (row.target, row.scenario, row.tool) == (target, scenario, tool):
                return row
        return None


# -- the worker pool ------------------------------------------------------------------


@dataclass
class Use:
    """What a scenario used: cores of the server, the load generator and PostgreSQL (0 on
    SQLite), and the share of the machine's CPU the hypervisor took (steal, %; None
    without ``/proc/stat``)."""

    server: float
    loadgen: float
    database: float
    steal_pct: float | None


class Workers:
    """Load-generator processes (spawned, so they share nothing with this one)."""

    def __init__(self, count: int) -> None:
        ctx = mp.get_context("spawn")
        self.queue: Any = ctx.Queue()
        self.pipes = []
        self.processes = []
        self.database_pid: int | None = None  # PostgreSQL's postmaster: its backends' CPU
        self.machine = CpuSampler().start()  # steal time, per scenario and per second
        for index in range(count):
            parent, child = ctx.Pipe()
            process = ctx.Process(target=worker_main, args=(child, self.queue, index), daemon=True)
            process.start()
            self.pipes.append(parent)
            self.processes.append(process)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes if p.pid is not None]

    def close(self) -> None:
        self.machine.stop()
        for pipe in self.pipes:
            with contextlib.suppress(OSError):
                pipe.send(None)
        for process in self.processes:
            process.join(10)
            if process.is_alive():
                process.kill()

    def run(
        self, scenario: Scenario, server_pids: list[int], progress: Progress
    ) -> tuple[list[Any], list[Any], float, Use]:
        """Run a scenario split over the workers; samples, acks, wall, and what it used."""
        shares: list[list[AgentSpec]] = [[] for _ in self.pipes]
        for index, agent in enumerate(scenario.agents):
            shares[0 if scenario.lockstep else index % len(shares)].append(agent)
        busy = [(pipe, share) for pipe, share in zip(self.pipes, shares, strict=True) if share]
        for pipe, share in busy:
            pipe.send(Scenario(**{**asdict(scenario), "agents": share}))
        for pipe, _ in busy:
            if not pipe.poll(120):
                raise RuntimeError("a load-generator worker did not get ready in 120 s")
            kind, *_ = pipe.recv()
            assert kind == "ready", kind
        cpu_server = sum(cpu_seconds(pid) for pid in server_pids)
        cpu_load = sum(cpu_seconds(pid) for pid in self.pids)
        cpu_database = children_cpu_seconds(self.database_pid) if self.database_pid else 0.0
        start_at = time.monotonic() + 0.2
        for pipe, _ in busy:
            pipe.send(("go", start_at))
        task = progress.add_task(scenario.name, total=scenario.duration_s, calls=0)
        counts: dict[int, int] = {}
        results: dict[int, Any] = {}
        deadline = start_at + scenario.duration_s + 120
        while len(results) < len(busy) and time.monotonic() < deadline:
            while not self.queue.empty():
                worker, count = self.queue.get_nowait()
                counts[worker] = count
            progress.update(
                task,
                completed=min(scenario.duration_s, max(0.0, time.monotonic() - start_at)),
                calls=sum(counts.values()),
            )
            for index, (pipe, _) in enumerate(busy):
                if index not in results and pipe.poll(0.05):
                    results[index] = pipe.recv()
        wall = time.monotonic() - start_at
        cores_server = (sum(cpu_seconds(pid) for pid in server_pids) - cpu_server) / wall
        cores_load = (sum(cpu_seconds(pid) for pid in self.pids) - cpu_load) / wall
        cores_database = (
            (children_cpu_seconds(self.database_pid) - cpu_database) / wall
            if self.database_pid
            else 0.0
        )
        progress.update(task, completed=scenario.duration_s, calls=sum(counts.values()))
        progress.remove_task(task)
        if len(results) < len(busy):
            raise RuntimeError(f"scenario {scenario.name} did not finish in time")
        samples = [s for r in results.values() for s in r[1]]
        acks = [a for r in results.values() for a in r[2]]
        machine = self.machine.over(start_at, start_at + wall)
        steal = machine["steal_pct"] if machine else None
        return samples, acks, wall, Use(cores_server, cores_load, cores_database, steal)


def rows_from(
    target: str,
    scenario: Scenario,
    samples: list[Any],
    wall: float,
    use: Use,
) -> list[Row]:
    """One row per tool of the scenario."""
    rows = []
    per_call = use.server / (len(samples) / wall) * 1000 if samples and wall > 0 else 0.0
    for tool in dict.fromkeys(s[0] for s in samples):
        mine = [s for s in samples if s[0] == tool]
        latencies = [s[2] * 1000 for s in mine]
        errors = Counter(s[3] for s in mine if s[3] is not None)
        rows.append(
            Row(
                target=target,
                scenario=scenario.name,
                tool=tool,
                agents=len(scenario.agents),
                calls=len(mine),
                errors=dict(errors),
                p50_ms=percentile(latencies, 50),
                p95_ms=percentile(latencies, 95),
                p99_ms=percentile(latencies, 99),
                throughput=len(mine) / wall if wall > 0 else 0.0,
                wall_s=wall,
                server_cpu=use.server,
                loadgen_cpu=use.loadgen,
                database_cpu=use.database,
                server_ms_per_call=per_call,
                steal_pct=use.steal_pct,
            )
        )
    return rows


# -- floor A: raw sqlite3 --------------------------------------------------------------


async def sqlite_floor(folder: Path, count: int) -> Row:
    """Insert+commit ``count`` messages one transaction each, as add_message's SQL does."""
    from scs_messaging.schema import MIGRATIONS as MESSAGE_SCHEMA
    from scs_server.storage.sqlite import SqliteDatabase
    from scs_server.timestamps import utc_now
    from scs_sessions.schema import MIGRATIONS as SESSION_SCHEMA

    path = folder / "floor.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in SqliteDatabase(path).pragmas:
        conn.execute(pragma)
    for migration in (*SESSION_SCHEMA, *MESSAGE_SCHEMA):
        conn.executescript(migration.sql)
    now = utc_now()
    conn.execute(
        "INSERT INTO sessions_sessions VALUES ('s1', 'floor', NULL, 'a', 'claude', ?, ?, NULL)",
        (now, now),
    )
    rng = random.Random(1)
    latencies = []
    started = time.monotonic()
    for n in range(count):
        content = f"floor/{n} " + " ".join(rng.choice(WORDS) for _ in range(12))
        t0 = time.monotonic()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO messaging_messages (session_id, sender, sender_type, content, visibility,"
            " metadata, parent_message_id, timestamp) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            ("s1", "a", "claude", content, "public", None, None, utc_now()),
        )
        conn.execute("COMMIT")
        latencies.append((time.monotonic() - t0) * 1000)
    wall = time.monotonic() - started
    conn.close()
    return Row(
        target="sqlite",
        scenario="floor",
        tool="insert+commit",
        agents=1,
        calls=count,
        errors={},
        p50_ms=percentile(latencies, 50),
        p95_ms=percentile(latencies, 95),
        p99_ms=percentile(latencies, 99),
        throughput=count / wall,
        wall_s=wall,
    )


# -- scs: setup, seeding, read-back --------------------------------------------------------


class Servers:
    """One server, or several replicas of one (the load generator spreads agents over them)."""

    def __init__(self, name: str, children: list[Child]) -> None:
        self.name = name
        self.children = children

    @property
    def url(self) -> str:
        return self.children[0].url or ""

    @property
    def urls(self) -> list[str]:
        return [child.url or "" for child in self.children]

    @property
    def pids(self) -> list[int]:
        return [child.pid for child in self.children]

    def rss_kib(self) -> int:
        return sum(rss_kib(pid) for pid in self.pids)

    def check_alive(self) -> None:
        for child in self.children:
            if child.process.poll() is not None:
                raise RuntimeError(f"the {self.name} server died:\n{child.log()[-3000:]}")

    def stop(self, sig: int = signal.SIGTERM) -> list[int]:
        return [child.stop(sig) for child in self.children]


def scs_env(folder: Path, database_url: str | None) -> dict[str, str]:
    from scs_server.testing import server_env

    extra = {"SCS_DATABASE_URL": database_url} if database_url else {}
    return server_env(folder, SCS_LOG_LEVEL="WARNING", **GENEROUS_LIMITS, **extra)


def start_scs(folder: Path, database_url: str | None, replicas: int) -> Servers:
    """``replicas`` ``scs serve`` processes on one database (started one after the other:
    the first applies the migrations)."""
    from scs_server.testing import start_server_process

    children = []
    try:
        for _ in range(replicas):
            children.append(start_server_process(folder, env=scs_env(folder, database_url)))
    except BaseException:
        for child in children:
            child.stop(signal.SIGKILL)
        raise
    return Servers("scs", children)


async def mint(url: str, agents: list[tuple[str, str]]) -> dict[str, str]:
    """Tokens for (agent_id, agent_type) pairs through authenticate_agent."""
    from fastmcp import Client
    from fastmcp.client.transports import StreamableHttpTransport
    from scs_server.testing import ADMIN_API_KEY, API_KEY

    tokens = {}
    async with Client(StreamableHttpTransport(url)) as client:
        for agent_id, agent_type in agents:
            arguments: dict[str, Any] = {
                "agent_id": agent_id,
                "agent_type": agent_type,
                "api_key": ADMIN_API_KEY if agent_type == "admin" else API_KEY,
            }
            if agent_type == "admin":  # get_performance_metrics needs "admin"
                arguments["requested_permissions"] = ["read", "write", "admin", "debug"]
            result = await client.call_tool("authenticate_agent", arguments, raise_on_error=False)
            if result.is_error:
                raise RuntimeError(f"authenticate_agent failed: {tool_error_code(result)}")
            tokens[agent_id] = tool_json(result)["token"]
    return tokens


async def call(url: str, token: str, tool: str, **arguments: Any) -> Any:
    from fastmcp import Client
    from fastmcp.client.transports import StreamableHttpTransport

    headers = {"Authorization": f"Bearer {token}"}
    async with Client(StreamableHttpTransport(url, headers=headers)) as client:
        result = await client.call_tool(tool, arguments, raise_on_error=False)
        if result.is_error:
            raise RuntimeError(f"{tool} failed: {tool_error_code(result)}")
        return tool_json(result)


async def prepare(url: str, with_search: bool) -> tuple[list[str], dict[int, str], list[str]]:
    """Create the bench sessions (and the search sessions); return ids and the tool names."""
    from fastmcp import Client
    from fastmcp.client.transports import StreamableHttpTransport

    tokens = await mint(url, [("bench-seeder", "claude")])
    headers = {"Authorization": f"Bearer {tokens['bench-seeder']}"}
    async with Client(StreamableHttpTransport(url, headers=headers)) as client:
        tools = [tool.name for tool in await client.list_tools()]
        sessions = []
        for n in range(SESSIONS + (len(SEARCH_SIZES) if with_search else 0)):
            result = await client.call_tool("create_session", {"purpose": f"bench {n}"})
            sessions.append(tool_json(result)["session_id"])
    search = dict(zip(SEARCH_SIZES, sessions[SESSIONS:], strict=False)) if with_search else {}
    return sessions[:SESSIONS], search, tools


SEED_SQL = (
    "INSERT INTO messaging_messages (session_id, sender, sender_type, content, visibility,"
    " metadata, parent_message_id, timestamp) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


def seed_rows(size: int, session_id: str, rng: random.Random) -> list[tuple[Any, ...]]:
    stamp = "2026-01-01T00:00:00.000000Z"
    return [
        (
            session_id,
            f"seed-{n % 7}",
            "claude",
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 30))),
            "public",
            None,
            None,
            stamp,
        )
        for n in range(size)
    ]


async def seed_postgresql(url: str, sessions: dict[int, str]) -> float:
    """The big sessions' messages into PostgreSQL through the data API (pipelined batches)."""
    from scs_server.storage.postgres import PostgresDatabase

    started = time.monotonic()
    rng = random.Random(7)
    db = PostgresDatabase(url, pool_size=2)
    await db.open()
    try:
        for size, session_id in sessions.items():
            rows = seed_rows(size, session_id, rng)
            for start in range(0, len(rows), 5000):
                async with db.transaction(heavy=True) as tx:
                    await tx.execute_many(SEED_SQL, rows[start : start + 5000])
    finally:
        await db.close()
    return time.monotonic() - started


def seed(db_path: Path, sessions: dict[int, str]) -> float:
    """Insert the big sessions' messages straight into the (stopped) server's SQLite file."""
    started = time.monotonic()
    rng = random.Random(7)
    conn = sqlite3.connect(db_path)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        for size, session_id in sessions.items():
            with conn:
                conn.executemany(SEED_SQL, seed_rows(size, session_id, rng))
    finally:
        conn.close()
    return time.monotonic() - started


async def read_back(url: str, token: str, acks: list[tuple[int, str, str]]) -> dict[str, Any]:
    """Page through every session that got acks; count missing, altered and duplicated."""
    from fastmcp import Client
    from fastmcp.client.transports import StreamableHttpTransport

    stored: dict[int, str] = {}
    contents: Counter[str] = Counter()
    headers = {"Authorization": f"Bearer {token}"}
    async with Client(StreamableHttpTransport(url, headers=headers)) as client:
        for session_id in sorted({a[1] for a in acks}):
            after = 0
            for _ in range(100_000):
                result = await client.call_tool(
                    "get_messages",
                    {"session_id": session_id, "after_id": after, "limit": 1000},
                    raise_on_error=False,
                )
                if result.is_error:
                    raise RuntimeError(f"read-back failed: {tool_error_code(result)}")
                page = tool_json(result)
                for message in page["messages"]:
                    stored[int(message["id"])] = message["content"]
                    contents[message["content"]] += 1
                if not page["has_more"]:
                    break
                after = int(page["next_cursor"])
    missing = [a[0] for a in acks if a[0] not in stored]
    altered = [a[0] for a in acks if a[0] in stored and stored[a[0]] != a[2]]
    duplicated = [a[0] for a in acks if contents[a[2]] > 1]
    return {
        "acknowledged": len(acks),
        "read_back": len(stored),
        "missing": len(missing),
        "altered": len(altered),
        "duplicated": len(duplicated),
        "lost": len(missing) + len(altered) + len(duplicated),
        "examples": (missing + altered + duplicated)[:10],
    }


# -- scenarios ------------------------------------------------------------------------------


def agent_specs(
    tokens: dict[str, str], sessions: list[str], count: int, urls: list[str] | None = None
) -> list[AgentSpec]:
    """The first ``count`` bench agents, spread over ``urls`` (replicas) in turn."""
    names = [name for name in tokens if name.startswith("bench-agent-")][:count]
    urls = urls or [""]
    return [
        AgentSpec(name, tokens[name], sessions[i % len(sessions)], urls[i % len(urls)])
        for i, name in enumerate(names)
    ]


def scenarios_for(
    target: str,
    servers: Servers,
    tokens: dict[str, str],
    sessions: list[str],
    levels: list[int],
    times: Durations,
    tools: list[str],
) -> list[Scenario]:
    plan = []
    url, urls = servers.url, servers.urls
    single = agent_specs(tokens, sessions, 1, urls)
    singles = SINGLE_TOOLS if target == "scs" else ("add_message",)
    for tool in singles:
        if tool in tools:
            plan.append(
                Scenario(f"{target}.single", url, single, [tool], times.single_s, None, 2000)
            )
    for level in levels:
        if level == 1:
            continue
        plan.append(
            Scenario(
                f"{target}.closed{level}",
                url,
                agent_specs(tokens, sessions, level, urls),
                ["add_message"],
                times.closed_s,
            )
        )
    plan.append(
        Scenario(
            f"{target}.open100",
            url,
            agent_specs(tokens, sessions, 100, urls),
            ["add_message", "get_messages"],
            times.open_s,
            open_interval_s=0.5,
        )
    )
    return plan


def search_scenarios(
    url: str, token: str, search_sessions: dict[int, str], times: Durations
) -> list[Scenario]:
    rng = random.Random(3)
    queries = [f"{rng.choice(WORDS)} {rng.choice(WORDS)}" for _ in range(20)]
    queries += ["deplyo rollbak", "databse migraton", "sesion tokn"]
    return [
        Scenario(
            f"scs.search{size // 1000}k",
            url,
            [AgentSpec("bench-agent-0", token, session_id)],
            ["search_context"],
            times.search_s,
            None,
            500,
            search_queries=queries,
        )
        for size, session_id in search_sessions.items()
    ]


def timeline(samples: list[Any], started: float, machine: CpuSampler) -> list[dict[str, Any]]:
    """Per second of the scenario (by each call's scheduled start): calls, p50, p99, max
    and errors over all its tools, so a tail shows *when* it happened (one stall, or all
    along), and the machine's steal and busy shares then (None without ``/proc/stat``)."""
    seconds: dict[int, list[float]] = {}
    errors: Counter[int] = Counter()
    for _tool, start, latency, code in samples:
        second = int(start - started)
        seconds.setdefault(second, []).append(latency * 1000)
        if code is not None:
            errors[second] += 1
    return [
        {
            "second": second,
            "calls": len(values),
            "p50_ms": round(percentile(values, 50), 2),
            "p99_ms": round(percentile(values, 99), 2),
            "max_ms": round(max(values), 2),
            "errors": errors[second],
            **(machine.over(started + second, started + second + 1) or NO_SHARES),
        }
        for second, values in sorted(seconds.items())
    ]


NO_SHARES: dict[str, float | None] = {"steal_pct": None, "busy_pct": None}
CALM_STEAL_PCT = 5.0  # a second with less steal than this is a calm one


def calm_p99(samples: list[Any], started: float, seconds: list[dict[str, Any]]) -> dict[str, Any]:
    """Each tool's p99 over the calls of the calm seconds (steal under CALM_STEAL_PCT):
    for reading a run, not for its verdict (the targets take every second)."""
    calm = {
        s["second"]
        for s in seconds
        if s["steal_pct"] is not None and s["steal_pct"] < CALM_STEAL_PCT
    }
    latencies: dict[str, list[float]] = {}
    for tool, start, latency, _code in samples:
        if int(start - started) in calm:
            latencies.setdefault(tool, []).append(latency * 1000)
    return {
        "seconds": len(calm),
        "of": len(seconds),
        "p99_ms": {tool: round(percentile(values, 99), 1) for tool, values in latencies.items()},
    }


def run_plan(
    target: str,
    plan: list[Scenario],
    workers: Workers,
    server: Servers,
    outcome: Outcome,
    after: Callable[[Scenario, float], None] | None = None,
) -> list[tuple[int, str, str]]:
    """Run each scenario of ``plan``; ``after(scenario, started)`` follows each one, with
    ``started`` the ``time.monotonic()`` of its first scheduled call."""
    acks: list[tuple[int, str, str]] = []
    columns = (
        TextColumn("[bold]{task.description:<16}"),
        BarColumn(),
        TextColumn("{task.fields[calls]:>7} calls"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        for scenario in plan:
            console.print(f"[dim]  {scenario.name} {'/'.join(dict.fromkeys(scenario.mix))}[/]")
            started = time.monotonic()
            samples, scenario_acks, wall, use = workers.run(scenario, server.pids, progress)
            acks.extend(scenario_acks)
            rows = rows_from(target, scenario, samples, wall, use)
            for row in rows:
                row.server_rss_mib = round(server.rss_kib() / 1024, 1)
            outcome.rows.extend(rows)
            if samples:
                started = min(sample[1] for sample in samples)
                if scenario.open_interval_s is not None:
                    seconds = timeline(samples, started, workers.machine)
                    outcome.timelines[scenario.name] = seconds
                    outcome.calm[scenario.name] = calm_p99(samples, started, seconds)
            server.check_alive()
            if after is not None:
                after(scenario, started)
    return acks


def paired_rounds(
    servers: dict[str, tuple[Servers, dict[str, str], list[str]]],
    times: Durations,
    workers: Workers,
    outcome: Outcome,
) -> list[tuple[int, str, str]]:
    """One ratio per round of each target: the single agent's p50 from one agent per
    server taking turns call by call (both see the same moments of a machine whose speed
    drifts from second to second), then 100 agents on each server in turn (ABBA...)."""
    acks: list[tuple[int, str, str]] = []
    columns = (
        TextColumn("[bold]{task.description:<22}"),
        BarColumn(),
        TextColumn("{task.fields[calls]:>7} calls"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        for number in range(times.rounds):
            order = ["noop", "scs"] if number % 2 == 0 else ["scs", "noop"]
            in_turn = [
                replace(
                    agent_specs(servers[t][1], servers[t][2], 1, servers[t][0].urls)[0],
                    label=t,
                    read_back=t == "scs",
                )
                for t in order
            ]
            single = Scenario(
                f"pair{number}.single",
                servers["scs"][0].url,
                in_turn,
                ["add_message"],
                2 * times.single_s,
                None,
                2000,
                lockstep=True,
            )
            pids = [pid for t in order for pid in servers[t][0].pids]
            one, one_acks, _, one_use = workers.run(single, pids, progress)
            acks.extend(one_acks)
            figures: dict[str, dict[str, Any]] = {}
            for target in order:
                group, tokens, sessions = servers[target]
                closed = Scenario(
                    f"{target}.pair{number}.closed100",
                    group.url,
                    agent_specs(tokens, sessions, 100, group.urls),
                    ["add_message"],
                    times.closed_s,
                )
                many, many_acks, wall, many_use = workers.run(closed, group.pids, progress)
                if target == "scs":
                    acks.extend(many_acks)
                single_ms = [s[2] * 1000 for s in one if s[0] == f"{target}:add_message"]
                many_ms = [sample[2] * 1000 for sample in many]
                figures[target] = {
                    "single_p50_ms": percentile(single_ms, 50),
                    "closed100_per_s": len(many) / wall if wall > 0 else 0.0,
                    "closed100_p99_ms": percentile(many_ms, 99),
                    "closed100_errors": sum(1 for sample in many if sample[3] is not None),
                    "single_steal_pct": one_use.steal_pct,
                    "closed100_steal_pct": many_use.steal_pct,
                }
            noop, scs = figures["noop"], figures["scs"]
            outcome.paired.append(
                {
                    "round": number,
                    "order": "/".join(order),
                    "noop": noop,
                    "scs": scs,
                    "single_p50_x": scs["single_p50_ms"] / noop["single_p50_ms"],
                    "closed100_throughput_x": scs["closed100_per_s"] / noop["closed100_per_s"],
                    "closed100_p99_x": scs["closed100_p99_ms"] / noop["closed100_p99_ms"],
                }
            )
    return acks


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


# -- reporting ------------------------------------------------------------------------------


def attach_floors(outcome: Outcome) -> None:
    for row in outcome.rows:
        if row.target != "scs":
            continue
        kind = row.scenario.removeprefix("scs.")
        floor_scenario = f"noop.{kind}" if kind.startswith(("closed", "open")) else "noop.single"
        floor_tool = "add_message" if kind.startswith(("single", "closed", "search")) else row.tool
        floor = outcome.row("noop", floor_scenario, floor_tool)
        if floor is None or floor.p50_ms == 0:
            continue
        row.floor = f"{floor_scenario}/{floor_tool}"
        row.ratio_p50 = row.p50_ms / floor.p50_ms
        row.ratio_p99 = row.p99_ms / floor.p99_ms if floor.p99_ms else None
        row.ratio_throughput = row.throughput / floor.throughput if floor.throughput else None


def _spread(values: list[float]) -> str:
    """The median of the paired rounds' ratios, and their range."""
    return f"{median(values):.2f}x median of {len(values)} rounds ({min(values):.2f}-{max(values):.2f})"


TARGETS = {  # engine: (single-agent p50 at most x the no-op, saturation at least x)
    "sqlite": (1.3, 0.7),
    "postgresql": (1.6, 0.6),
}


def judge(outcome: Outcome, engine: str = "sqlite") -> None:
    """The issue's targets: on the paired rounds' medians when there are any (robust to
    a machine whose speed drifts between phases), else on the whole-phase rows."""
    single_max, saturation_min = TARGETS[engine]

    def verdict(ok: bool | None) -> str:
        return "n/a" if ok is None else ("PASS" if ok else "MISS")

    single = outcome.row("scs", "scs.single", "add_message")
    sat = outcome.row("scs", "scs.closed100", "add_message")
    phases = (
        f"; whole phases {single.ratio_p50:.2f}x ({single.p50_ms:.2f} ms)"
        if single and single.ratio_p50
        else ""
    )
    if outcome.paired:
        ratios = [r["single_p50_x"] for r in outcome.paired]
        single_x: float | None = median(ratios)
        single_text = _spread(ratios) + phases
    else:
        single_x = single.ratio_p50 if single else None
        single_text = phases.removeprefix("; whole phases ") or "-"
    outcome.targets.append(
        {
            "target": f"single-agent add_message p50 <= {single_max}x the no-op call",
            "measured": single_text,
            "result": verdict(single_x <= single_max if single_x is not None else None),
        }
    )
    lost = outcome.lost.get("lost")
    if outcome.paired:
        # a round whose floor failed (its calls erroring at once) measures nothing
        valid = [r for r in outcome.paired if not r["noop"]["closed100_errors"]]
        dropped = len(outcome.paired) - len(valid)
        note = f"; {dropped} round(s) dropped: the no-op floor had errors" if dropped else ""
        tput = [r["closed100_throughput_x"] for r in valid]
        p99 = [r["closed100_p99_x"] for r in valid]
        errors = sum(r["scs"]["closed100_errors"] for r in outcome.paired)
        errors += sum(sat.errors.values()) if sat else 0
        outcome.targets.append(
            {
                "target": f"saturation (100 agents closed loop): throughput >= {saturation_min}x no-op",
                "measured": (_spread(tput) if tput else "-") + note,
                "result": verdict(median(tput) >= saturation_min if tput else None),
            }
        )
        outcome.targets.append(
            {
                "target": "saturation: p99 <= 1.5x no-op p99",
                "measured": (_spread(p99) if p99 else "-") + note,
                "result": verdict(median(p99) <= 1.5 if p99 else None),
            }
        )
        outcome.targets.append(
            {
                "target": "saturation: zero errors",
                "measured": str(errors),
                "result": verdict(errors == 0),
            }
        )
    elif sat is not None and sat.ratio_throughput is not None and sat.ratio_p99 is not None:
        errors = sum(sat.errors.values())
        outcome.targets.append(
            {
                "target": f"saturation (100 agents closed loop): throughput >= {saturation_min}x no-op",
                "measured": f"{sat.ratio_throughput:.2f}x ({sat.throughput:.0f}/s)",
                "result": verdict(sat.ratio_throughput >= saturation_min),
            }
        )
        outcome.targets.append(
            {
                "target": "saturation: p99 <= 1.5x no-op p99",
                "measured": f"{sat.ratio_p99:.2f}x ({sat.p99_ms:.1f} ms)",
                "result": verdict(sat.ratio_p99 <= 1.5),
            }
        )
        outcome.targets.append(
            {
                "target": "saturation: zero errors",
                "measured": str(errors),
                "result": verdict(errors == 0),
            }
        )
    outcome.targets.append(
        {
            "target": "zero lost acknowledged messages (whole run)",
            "measured": str(lost),
            "result": verdict(lost == 0 if lost is not None else None),
        }
    )
    for row in (r for r in outcome.rows if r.scenario == "scs.open100"):
        errors = sum(row.errors.values())
        ratio = row.ratio_p99
        outcome.targets.append(
            {
                "target": f"open loop 200 calls/s (100 agents x 2/s), {row.tool}:"
                " p99 <= 50 ms and <= 3x the no-op's",
                "measured": f"{row.p99_ms:.1f} ms"
                + (f", {ratio:.2f}x" if ratio is not None else "")
                + f", {errors} errors"
                + _stolen(outcome, row),
                "result": verdict(
                    row.p99_ms <= 50 and errors == 0 and (ratio is not None and ratio <= 3)
                ),
            }
        )


def _stolen(outcome: Outcome, row: Row) -> str:
    """The steal during an open loop, scs's and the no-op's, and its worst second."""
    if row.steal_pct is None:
        return ""
    floor = outcome.row("noop", "noop.open100", row.tool)
    worst = max(
        (s["steal_pct"] for s in outcome.timelines.get(row.scenario, []) if s["steal_pct"]),
        default=0.0,
    )
    calm = outcome.calm.get(row.scenario, {})
    quiet = calm.get("p99_ms", {}).get(row.tool)
    return (
        f"; steal {row.steal_pct:.0f} % (worst second {worst:.0f} %)"
        + (f", no-op's {floor.steal_pct:.0f} %" if floor and floor.steal_pct is not None else "")
        + (
            f"; p99 {quiet:.1f} ms in the {calm['seconds']} of {calm['of']} seconds"
            f" under {CALM_STEAL_PCT:.0f} % steal (for reading only)"
            if quiet is not None
            else ""
        )
    )


def show(outcome: Outcome) -> None:
    out = Console(width=None if sys.stdout.isatty() else 180)
    table = Table(title="scs load benchmark (latencies in ms; x = ratio to the floor)")
    for name in (
        "scenario",
        "tool",
        "agents",
        "calls",
        "err",
        "p50",
        "p95",
        "p99",
        "calls/s",
        "p50 x",
        "p99 x",
        "tput x",
        "cpu srv",
        "cpu gen",
        "cpu db",
        "ms cpu/call",
        "rss MiB",
        "steal %",
    ):
        table.add_column(name, justify="left" if name in ("scenario", "tool") else "right")
    for r in outcome.rows:
        table.add_row(
            r.scenario,
            r.tool,
            str(r.agents),
            str(r.calls),
            str(sum(r.errors.values())) if r.errors else "0",
            f"{r.p50_ms:.2f}",
            f"{r.p95_ms:.2f}",
            f"{r.p99_ms:.2f}",
            f"{r.throughput:.0f}",
            f"{r.ratio_p50:.2f}" if r.ratio_p50 is not None else "",
            f"{r.ratio_p99:.2f}" if r.ratio_p99 is not None else "",
            f"{r.ratio_throughput:.2f}" if r.ratio_throughput is not None else "",
            f"{r.server_cpu:.2f}" if r.target != "sqlite" else "",
            f"{r.loadgen_cpu:.2f}" if r.target != "sqlite" else "",
            f"{r.database_cpu:.2f}" if r.database_cpu else "",
            f"{r.server_ms_per_call:.2f}" if r.target != "sqlite" else "",
            f"{r.server_rss_mib:.0f}" if r.target != "sqlite" else "",
            f"{r.steal_pct:.0f}" if r.steal_pct is not None else "",
        )
    out.print(table)
    errors = {f"{r.scenario}/{r.tool}": r.errors for r in outcome.rows if r.errors}
    if errors:
        out.print(f"errors by code: {errors}")
    if outcome.paired:
        pairs = Table(
            title="paired rounds (single agent: calls in turn; 100 agents: one server, then"
            " the other; x = scs / no-op)"
        )
        for name in (
            "round",
            "order",
            "single p50 noop",
            "single p50 scs",
            "x",
            "100 agents calls/s noop",
            "calls/s scs",
            "x",
            "p99 x",
            "steal % noop/scs",
        ):
            pairs.add_column(name, justify="right")
        for r in outcome.paired:
            pairs.add_row(
                str(r["round"]),
                r["order"],
                f"{r['noop']['single_p50_ms']:.2f}",
                f"{r['scs']['single_p50_ms']:.2f}",
                f"{r['single_p50_x']:.2f}",
                f"{r['noop']['closed100_per_s']:.0f}",
                f"{r['scs']['closed100_per_s']:.0f}",
                f"{r['closed100_throughput_x']:.2f}",
                f"{r['closed100_p99_x']:.2f}",
                "/".join(
                    "-"
                    if r[t]["closed100_steal_pct"] is None
                    else f"{r[t]['closed100_steal_pct']:.0f}"
                    for t in ("noop", "scs")
                ),
            )
        out.print(pairs)
    for name, seconds in outcome.timelines.items():
        line = Table(title=f"{name}: per second (calls by scheduled start; ms)")
        for column in ("s", "calls", "p50", "p99", "max", "err", "steal %", "busy %"):
            line.add_column(column, justify="right")
        for second in seconds:
            line.add_row(
                str(second["second"]),
                str(second["calls"]),
                f"{second['p50_ms']:.1f}",
                f"{second['p99_ms']:.1f}",
                f"{second['max_ms']:.1f}",
                str(second["errors"]),
                *(
                    "" if second[k] is None else f"{second[k]:.0f}"
                    for k in ("steal_pct", "busy_pct")
                ),
            )
        out.print(line)
    for name, views in outcome.server_side.items():
        for view in views:
            tools = ", ".join(
                f"{tool} p50 {t['p50_ms']} p99 {t['p99_ms']} ms"
                for tool, t in view["tools"].items()
            )
            database = view.get("database") or {}
            waits = {
                k: database.get(k)
                for k in ("acquire_waits", "writes_in_thread", "checkpoints", "in_use")
                if k in database
            }
            pauses = ", ".join(f"{ms:.1f} (gen {gen})" for gen, ms in view.get("gc_pauses_ms", []))
            stalls = "; ".join(f"{ms:.0f} ms in {at}" for ms, at in view.get("loop_stalls", []))
            out.print(
                f"{name} inside scs ({view['url']}): {tools}; db {waits}; cache {view['cache']}; "
                f"longest garbage-collector pauses, ms: {pauses or 'none over 1 ms'}; "
                f"event-loop stalls: {stalls or 'none over the threshold'}"
            )
    out.print(f"lost check: {outcome.lost}")
    out.print(f"server: {outcome.server}")
    targets = Table(title="targets")
    for name in ("target", "measured", "result"):
        targets.add_column(name)
    for t in outcome.targets:
        style = {"PASS": "green", "MISS": "red"}.get(t["result"], "")
        targets.add_row(
            t["target"], t["measured"], f"[{style}]{t['result']}[/]" if style else t["result"]
        )
    out.print(targets)
    for note in outcome.notes:
        out.print(f"- {note}")


# -- main -----------------------------------------------------------------------------------


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a ~1.5 minute run")
    parser.add_argument(
        "--levels", default="1,20,100", help="closed-loop agent counts (default 1,20,100)"
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="load-generator processes (default 1)"
    )
    parser.add_argument(
        "--json", action="store_true", help="print JSON on stdout instead of tables"
    )
    parser.add_argument("--out", type=Path, help="also write the JSON to this file")
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary folder (databases, logs)"
    )
    parser.add_argument("--no-search", action="store_true", help="skip the seeded search sessions")
    parser.add_argument(
        "--engine",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="scs's database: a SQLite file (default) or a throwaway PostgreSQL cluster",
    )
    parser.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="scs processes on the one database; the load generator spreads agents over them",
    )
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> Outcome:
    times = Durations.pick(args.quick)
    levels = sorted({int(x) for x in args.levels.split(",") if x.strip()})
    outcome = Outcome()
    load_before = os.getloadavg()[0]
    folder = Path(tempfile.mkdtemp(prefix="scs-bench-"))
    workers = Workers(args.workers)
    run_started = time.monotonic()
    noop: Servers | None = None
    scs: Servers | None = None
    cluster: PostgresCluster | None = None
    try:
        console.print(f"[dim]folder {folder}; {args.workers} load-generator process(es)[/]")
        database_url = None
        if args.engine == "postgresql":
            cluster = start_postgres()
            database_url = cluster.create_database()
            workers.database_pid = cluster.postmaster_pid()
        else:
            console.print("floor: raw sqlite3 insert+commit ...")
            outcome.rows.append(asyncio.run(sqlite_floor(folder, times.floor_inserts)))

        console.print("floor: no-op FastMCP server ...")
        noop = Servers(
            "noop",
            [
                start_child(
                    [sys.executable, str(BENCH_DIR / "noop_server.py")],
                    env=dict(os.environ),
                    cwd=folder,
                    log_path=folder / "noop.log",
                )
            ],
        )
        fake = {f"bench-agent-{n}": "no-op" for n in range(max(100, *levels))}
        noop_sessions = [f"s{n}" for n in range(SESSIONS)]
        plan = scenarios_for("noop", noop, fake, noop_sessions, levels, times, ["add_message"])
        run_plan("noop", plan, workers, noop, outcome)  # kept up for the paired rounds

        console.print(
            f"scs: start ({args.engine}, {args.replicas} replica(s)), create sessions ..."
        )
        scs_folder = folder / "scs"
        scs_folder.mkdir()
        scs = start_scs(scs_folder, database_url, args.replicas)
        sessions, search_sessions, tools = asyncio.run(prepare(scs.url, not args.no_search))
        if "search_context" not in tools:
            search_sessions = {}
            outcome.notes.append("search_context is not registered on this server: search skipped")
        if "set_memory" not in tools:
            outcome.notes.append("memory tools are not registered on this server: memory skipped")
        if search_sessions:
            scs.stop()
            if database_url is None:
                seconds = seed(scs_folder / "scs.db", search_sessions)
                how = "straight into SQLite"
            else:
                seconds = asyncio.run(seed_postgresql(database_url, search_sessions))
                how = "into PostgreSQL through the data API"
            outcome.notes.append(
                f"seeded {sum(search_sessions)} messages for search {how} in {seconds:.1f} s"
            )
            scs = start_scs(scs_folder, database_url, args.replicas)
        rss_before = scs.rss_kib()
        agents = [(f"bench-agent-{n}", "claude") for n in range(max(100, *levels))]
        tokens = asyncio.run(mint(scs.url, [*agents, ("bench-admin", "admin")]))
        admin = tokens.pop("bench-admin")

        def measured_inside(scenario: Scenario, started: float) -> None:
            if scenario.open_interval_s is not None and scs is not None:
                # since the first call: closing 100 clients and gathering the samples
                # took seconds, and the scenario's own length cut off its first pauses
                outcome.server_side[scenario.name] = asyncio.run(
                    inside_view(scs, admin, window_s=time.monotonic() - started)
                )

        console.print("scs: load ...")
        plan = scenarios_for("scs", scs, tokens, sessions, levels, times, tools)
        acks = run_plan("scs", plan, workers, scs, outcome, after=measured_inside)
        if search_sessions:
            search_plan = search_scenarios(scs.url, tokens["bench-agent-0"], search_sessions, times)
            run_plan("scs", search_plan, workers, scs, outcome)

        console.print(
            f"paired rounds: single agents in turns, 100 agents in alternation, {times.rounds}"
            " rounds ..."
        )
        servers = {"noop": (noop, fake, noop_sessions), "scs": (scs, tokens, sessions)}
        acks.extend(paired_rounds(servers, times, workers, outcome))
        noop.stop()

        console.print(f"scs: reading back {len(acks)} acknowledged messages ...")
        outcome.lost = asyncio.run(read_back(scs.url, admin, acks))
        rss_after = scs.rss_kib()
        started = time.monotonic()
        codes = scs.stop(signal.SIGTERM)
        stop_s = time.monotonic() - started
        outcome.server = {
            "engine": args.engine,
            "replicas": args.replicas,
            "rss_mib_before": round(rss_before / 1024, 1),
            "rss_mib_after": round(rss_after / 1024, 1),
            "sigterm_exit_codes": codes,
            "sigterm_seconds": round(stop_s, 2),
        }
        if database_url is None:
            db = sqlite3.connect(scs_folder / "scs.db")
            outcome.server["integrity_check"] = db.execute("PRAGMA integrity_check").fetchone()[0]
            db.close()
        outcome.notes.append(
            f"load average (1 min) before/after the run: {load_before:.2f}/{os.getloadavg()[0]:.2f}"
            " (above ~1.5 on 2 cores, other processes competed with the bench)"
        )
        shares = workers.machine.over(run_started, time.monotonic())
        if shares is not None:
            worst = workers.machine.worst_second(run_started, time.monotonic())
            outcome.notes.append(
                "steal time (the hypervisor running other guests on this VM's CPUs) over"
                f" the run: {shares['steal_pct']:.0f} % of the machine's CPU, worst second"
                f" {worst or 0:.0f} %; a second with much steal is slow for any server"
            )
        outcome.notes.append(
            f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"{args.workers} load-generator process(es); rate limits raised via env "
            "(the ratelimit plugin still runs); engine "
            + (
                "PostgreSQL (throwaway cluster, fsync off)"
                if database_url
                else "SQLite (WAL, synchronous=NORMAL)"
            )
            + f", {args.replicas} scs process(es)"
        )
        attach_floors(outcome)
        judge(outcome, args.engine)
        return outcome
    finally:
        workers.close()
        for group in (noop, scs):
            if group is not None:
                group.stop(signal.SIGKILL)
        if cluster is not None:
            cluster.destroy()
        if args.keep:
            console.print(f"[dim]kept {folder}[/]")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def start_postgres() -> PostgresCluster:
    """The throwaway cluster the test suite uses (scs_server.storage.cluster), on this machine's binaries."""
    from scs_server.storage.cluster import PostgresCluster, find_binaries

    binaries = find_binaries()
    if binaries is None:
        raise SystemExit("no PostgreSQL binaries (initdb): install Debian's postgresql package")
    console.print(f"postgresql: a throwaway cluster from {binaries} ...")
    cluster = PostgresCluster(binaries)
    cluster.start()
    return cluster


async def inside_view(servers: Servers, admin: str, window_s: float) -> list[dict[str, Any]]:
    """What each scs process measured itself (get_performance_metrics): per-tool latency
    from the call's first middleware to its answer (the latest calls: the scenario just
    run), the database's waits and the garbage collector's longest pauses of the last
    ``window_s`` seconds (each held the event loop, and every call in flight waited), and
    the event loop's longest late turns with where it was (the monitoring plugin's). The
    client's p99 minus the tool's is time spent outside the tool call (HTTP, the MCP
    session, waiting for the event loop, the load generator)."""
    views = []
    for url in servers.urls:
        try:
            body = await call(url, admin, "get_performance_metrics")
        except Exception as error:  # a missing view must not cost the whole run
            views.append({"url": url, "error": str(error), "tools": {}, "cache": {}})
            continue
        tools = body.get("tools", {})
        views.append(
            {
                "url": url,
                "tools": {
                    name: {k: tools[name].get(k) for k in ("calls", "p50_ms", "p95_ms", "p99_ms")}
                    for name in ("add_message", "get_messages")
                    if name in tools
                },
                "database": body.get("database"),
                "gc_pauses_ms": [
                    (pause["generation"], pause["ms"])
                    for pause in (body.get("gc") or {}).get("longest_recent", [])
                    if pause["seconds_ago"] <= window_s
                ],
                "loop_stalls": [
                    (stall["ms"], stall["where"])
                    for stall in (body.get("loop_stalls") or {}).get("longest_recent", [])
                    if stall["seconds_ago"] <= window_s
                ],
                "cache": {
                    k: (body.get("cache") or {}).get(k)
                    for k in ("hits", "misses", "entries", "invalidations")
                },
            }
        )
    return views


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    outcome = run(args)
    data = {
        "rows": [asdict(r) for r in outcome.rows],
        "targets": outcome.targets,
        "lost": outcome.lost,
        "server": outcome.server,
        "notes": outcome.notes,
        "paired": outcome.paired,
        "timelines": outcome.timelines,
        "calm": outcome.calm,
        "server_side": outcome.server_side,
    }
    if args.out:
        args.out.write_text(json.dumps(data, indent=2))
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        show(outcome)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO_ROOT))
    raise SystemExit(main())
