"""Abusive searches and writes against a real ``scs serve``: does it keep answering?

    uv run python bench/search_abuse.py            # default run, ~2.5 minutes on 2 cores
    uv run python bench/search_abuse.py --quick    # ~1 minute
    uv run python bench/search_abuse.py --json     # JSON on stdout (progress on stderr)

Security findings 3 and 6 (the whole attack run of both). What it does:

1. Seeds, with the server stopped, straight into its SQLite file: (1) one session of 300
   messages of 100,000 characters, (2) one session of 20,000 messages, (3) 2,000 small
   sessions of 3 messages each. All public.
2. Starts ``scs serve --plugins default`` with anonymous read on (``scs_server.testing``'s
   process launcher, temp dir) in a session of its own, as a daemon or a user's shell
   runs it (Linux gives each session a fair share of the CPUs: inside the bench's
   session the attackers would be taking the server's share, not the machine's).
   Rate limits are raised by default so that the scorer alone has to hold
   (``--real-limits`` keeps the shipped ones).
3. Floor: ``GET /health`` every 10 ms with nothing else running.
4. Two attacks, each by fresh client processes (each an asyncio loop of concurrent MCP
   calls, in a session of its own like any other local process) while ``/health`` is
   polled every 10 ms and the server's VmRSS sampled every 50 ms:
   - "searches" (finding 3): the longest allowed query (and a 1,000-character one,
     which is refused) over the 100k-character session; bursts of 60 searches over the
     20,000-message session; anonymous (no token) searches over every session;
   - "everything": the same plus the rest of finding 6: many agent ids (``--seeders``,
     20) each writing 8 KiB messages and 64 KiB memory values as fast as they are
     answered, and ``get_messages(limit=1000)`` over the 100k-character messages.
5. Reports ``/health`` p50/p99/max in every phase (and the searches' p99 over the
   floor's), RSS at the start and the peak of each phase, the load average at the start
   and end of each, and each phase's calls answered (truncated or not) and refused, by
   error code.

Targets (from the finding): ``/health`` p99 < 50 ms while searches run (the "searches"
phase); peak RSS <= 400 MiB over the whole run. The "everything" phase's ``/health`` is
reported, with no target in the finding: 20 writers and 1,000-message pages as fast as
they are answered keep one event loop busy whatever it is doing. The figures before the
fix are in bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import random
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx2 as httpx
from _common import Child, cpu_seconds, percentile, rss_kib, start_child, tool_error_code, tool_json
from rich.console import Console
from rich.table import Table

console = Console(stderr=True)

WORDS = [
    "database",
    "pool",
    "shard",
    "replica",
    "vacuum",
    "index",
    "merge",
    "topic",
    "deploy",
    "rollback",
    "migration",
    "session",
    "token",
    "cache",
    "queue",
    "worker",
    "retry",
    "backoff",
    "latency",
    "schema",
    "tenant",
    "audit",
]
STAMP = "2026-01-01T00:00:00.000000Z"
GENEROUS_LIMITS = {
    f"SCS_RATELIMIT_{kind}_{what}": "10000000"
    for kind in ("AUTH", "READ", "WRITE", "SEARCH", "ADMIN")
    for what in ("PER_MINUTE", "BURST")
}
HEALTH_EVERY_S = 0.010
RSS_EVERY_S = 0.050
CALL_TIMEOUT_S = 120.0


@dataclass
class Plan:
    floor_s: float
    attack_s: float
    long_messages: int = 300
    long_chars: int = 100_000
    big_session: int = 20_000
    small_sessions: int = 2_000
    attackers: int = 3  # client processes
    burst: int = 60
    seeders: int = 20  # agent ids writing messages and memory (finding 6)
    message_chars: int = 8_192
    memory_chars: int = 60_000  # under the 64 KiB value limit once JSON-encoded


@dataclass
class Phase:
    name: str
    polls: int = 0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    failed_polls: int = 0
    rss_start_mib: float = 0.0
    rss_peak_mib: float = 0.0
    server_cpu_s: float = 0.0  # CPU seconds the server used during the phase
    load_average: float = 0.0  # the machine's 1-minute load average at the end
    load_before: float = 0.0  # ... and at the start


@dataclass
class Outcome:
    plan: dict[str, Any]
    seed_s: float = 0.0
    phases: list[Phase] = field(default_factory=list)
    calls: dict[str, dict[str, int]] = field(default_factory=dict)  # by phase
    call_p50_ms: dict[str, float] = field(default_factory=dict)
    call_max_ms: dict[str, float] = field(default_factory=dict)
    p99_ratio: float = 0.0  # /health p99 while searches run / the floor's
    database_mib: float = 0.0  # the SQLite file and its WAL after the attack
    verdicts: dict[str, bool] = field(default_factory=dict)


# -- seeding (server stopped) ---------------------------------------------------------


def text(rng: random.Random, chars: int) -> str:
    words: list[str] = []
    size = 0
    while size < chars:
        word = rng.choice(WORDS)
        words.append(word)
        size += len(word) + 1
    return " ".join(words)[:chars]


def seed(db_path: Path, plan: Plan) -> dict[str, Any]:
    """Sessions and messages straight into the database; returns the session ids."""
    rng = random.Random(11)
    conn = sqlite3.connect(db_path)
    insert_session = (
        "INSERT INTO sessions_sessions (id, purpose, metadata, created_by, created_by_type, created_at,"
        " updated_at) VALUES (?, ?, NULL, 'bench', 'claude', ?, ?)"
    )
    insert_message = (
        "INSERT INTO messaging_messages (session_id, sender, sender_type, content, visibility, metadata,"
        " parent_message_id, timestamp) VALUES (?, ?, 'claude', ?, 'public', NULL, NULL, ?)"
    )
    long_id, big_id = "session_abuse00000long", "session_abuse000000big"
    small = [f"session_abuse{n:09d}" for n in range(plan.small_sessions)]
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        with conn:
            conn.executemany(
                insert_session,
                [(sid, "abuse bench", STAMP, STAMP) for sid in (long_id, big_id, *small)],
            )
            chunk = text(rng, plan.long_chars)
            conn.executemany(
                insert_message,
                (
                    (long_id, f"seed-{n % 5}", chunk[n:] + chunk[:n], STAMP)
                    for n in range(plan.long_messages)
                ),
            )
            conn.executemany(
                insert_message,
                (
                    (big_id, f"seed-{n % 7}", text(rng, rng.randint(40, 240)), STAMP)
                    for n in range(plan.big_session)
                ),
            )
            conn.executemany(
                insert_message,
                (
                    (sid, f"seed-{n % 3}", text(rng, rng.randint(30, 120)), STAMP)
                    for sid in small
                    for n in range(3)
                ),
            )
    finally:
        conn.close()
    return {"long": long_id, "big": big_id}


# -- the server ------------------------------------------------------------------------


def start_scs(
    folder: Path, real_limits: bool, plugins: str, extra: dict[str, str] | None = None
) -> Child:
    from scs_server.testing import server_env

    env = server_env(
        folder,
        SCS_LOG_LEVEL="WARNING",
        SCS_ALLOW_ANONYMOUS_READ="true",
        **({} if real_limits else GENEROUS_LIMITS),
        **(extra or {}),
    )
    # setsid: a session (and scheduling group) of its own, as a daemon runs; the pid
    # stays the server's (Popen's child is no group leader, so setsid execs in place)
    return start_child(
        ["setsid", sys.executable, "-m", "scs_server.cli", "serve", "--plugins", plugins]
        + ["--host", "127.0.0.1", "--port", "0"],
        env=env,
        cwd=folder,
        log_path=folder / f"scs-{time.monotonic_ns()}.log",
    )


async def mint(url: str, names: list[str]) -> dict[str, str]:
    from fastmcp import Client
    from fastmcp.client.transports import StreamableHttpTransport
    from scs_server.testing import API_KEY

    tokens = {}
    async with Client(StreamableHttpTransport(url)) as client:
        for name in names:
            result = await client.call_tool(
                "authenticate_agent",
                {"agent_id": name, "agent_type": "claude", "api_key": API_KEY},
                raise_on_error=False,
            )
            tokens[name] = tool_json(result)["token"]
    return tokens


# -- the attackers (separate processes) ------------------------------------------------


@dataclass(frozen=True)
class Seat:
    """One attacker process's share: its searching agent and its writing agents."""

    token: str
    seeders: list[str]  # tokens of the agent ids that write
    message_chars: int
    memory_chars: int


SEARCHES = ("long", "bursts", "anonymous")  # finding 3 (and anonymous reads)
EVERYTHING = (*SEARCHES, "pages", "writes")  # ... plus the rest of finding 6


def attacker_main(
    url: str,
    seat: Seat,
    sessions: dict[str, str],
    seconds: float,
    number: int,
    kinds: tuple[str, ...],
    out: Any,
    go: Any,
) -> None:
    """One client process (a session of its own, like any other local process): ready
    (imports done), then on ``go`` its share of the attack until ``seconds`` are over."""
    os.setsid()
    out.put("ready")
    if go.wait(120):
        out.put(asyncio.run(attack(url, seat, sessions, seconds, number, kinds)))


async def attack(
    url: str,
    seat: Seat,
    sessions: dict[str, str],
    seconds: float,
    number: int,
    kinds: tuple[str, ...],
) -> dict[str, Any]:
    from fastmcp import Client
    from fastmcp.client.transports import StreamableHttpTransport

    rng = random.Random(number)
    codes: Counter[str] = Counter()
    times: list[float] = []
    deadline = time.monotonic() + seconds

    async def search(client: Client[Any], kind: str, **arguments: Any) -> None:
        await call(client, kind, "search_context", **arguments)

    async def call(client: Client[Any], kind: str, tool: str, **arguments: Any) -> None:
        started = time.monotonic()
        try:
            result = await asyncio.wait_for(
                client.call_tool(tool, arguments, raise_on_error=False),
                CALL_TIMEOUT_S,
            )
        except Exception as error:  # noqa: BLE001 - a bench counts every failure
            codes[f"{kind} {type(error).__name__}"] += 1
            return
        except asyncio.CancelledError:
            codes[f"{kind} abandoned at the end"] += 1
            raise
        times.append(time.monotonic() - started)
        if result.is_error:
            codes[f"{kind} {tool_error_code(result)}"] += 1
        else:
            answer = tool_json(result)
            done = "truncated" if answer.get("truncated") else "complete"
            codes[f"{kind} {done}{' has_more' if answer.get('has_more') else ''}"] += 1

    def long_query(chars: int) -> str:
        return text(rng, chars)

    async def long_texts(client: Client[Any]) -> None:  # finding 3, first case
        for _ in range(100_000):
            if time.monotonic() > deadline:
                return
            await search(client, "q1000", session_id=sessions["long"], query=long_query(1000))
            await search(client, "long", session_id=sessions["long"], query=long_query(256))

    async def bursts(client: Client[Any]) -> None:  # finding 3, the 60-search burst
        for _ in range(10_000):
            if time.monotonic() > deadline:
                return
            queries = [long_query(rng.choice((12, 64, 256))) for _ in range(60)]
            await asyncio.gather(
                *(search(client, "burst", session_id=sessions["big"], query=q) for q in queries)
            )

    async def anonymous(client: Client[Any]) -> None:  # finding 6: every session, no token
        for _ in range(100_000):
            if time.monotonic() > deadline:
                return
            await search(client, "anon", query=long_query(rng.choice((8, 40, 256))), limit=50)

    async def writes(token: str) -> None:  # finding 6: quotas x free agent ids
        headers = {"Authorization": f"Bearer {token}"}
        async with Client(StreamableHttpTransport(url, headers=headers)) as client:
            created = await client.call_tool(
                "create_session", {"purpose": "seeding"}, raise_on_error=False
            )
            if created.is_error:
                codes[f"seed-session {tool_error_code(created)}"] += 1
                return
            sid = tool_json(created)["session_id"]
            for n in range(100_000):
                if time.monotonic() > deadline:
                    return
                content = text(rng, seat.message_chars)
                await call(client, "add_message", "add_message", session_id=sid, content=content)
                value = text(rng, seat.memory_chars)
                await call(client, "set_memory", "set_memory", key=f"k{n}", value=value)

    async def pages(client: Client[Any]) -> None:  # finding 6: 1,000 large messages
        for _ in range(100_000):
            if time.monotonic() > deadline:
                return
            await call(
                client, "get_messages", "get_messages", session_id=sessions["long"], limit=1000
            )

    headers = {"Authorization": f"Bearer {seat.token}"}
    async with (
        Client(StreamableHttpTransport(url, headers=headers)) as named,
        Client(StreamableHttpTransport(url)) as anon,
    ):
        # calls still running at the end are abandoned (they are counted as such)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds + 2):
                jobs = {
                    "long": [long_texts(named)],
                    "bursts": [bursts(named)],
                    "anonymous": [anonymous(anon), anonymous(anon)],
                    "pages": [pages(named)],
                    "writes": [writes(token) for token in seat.seeders],
                }
                await asyncio.gather(*(job for kind in kinds for job in jobs[kind]))
    return {"codes": dict(codes), "times": times}


# -- the observers (this process) ------------------------------------------------------


async def observe(base: str, pid: int, seconds: float, name: str) -> Phase:
    """Poll /health every 10 ms and sample VmRSS every 50 ms for ``seconds``."""
    latencies: list[float] = []
    failed = 0
    cpu_before = cpu_seconds(pid)
    load_before = os.getloadavg()[0]
    rss: list[int] = [rss_kib(pid)]
    deadline = time.monotonic() + seconds

    async def sample() -> None:
        while time.monotonic() < deadline:
            rss.append(rss_kib(pid))
            await asyncio.sleep(RSS_EVERY_S)

    sampler = asyncio.create_task(sample())
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                response = await client.get("/health")
                ok = response.status_code == 200
            except httpx.HTTPError:
                ok = False
            latencies.append((time.perf_counter() - started) * 1000)
            failed += not ok
            await asyncio.sleep(max(0.0, HEALTH_EVERY_S - (time.perf_counter() - started)))
    await sampler
    return Phase(
        name,
        len(latencies),
        round(percentile(latencies, 50), 2),
        round(percentile(latencies, 99), 2),
        round(max(latencies, default=0.0), 2),
        failed,
        round(rss[0] / 1024, 1),
        round(max(rss) / 1024, 1),
        round(cpu_seconds(pid) - cpu_before, 1),
        round(os.getloadavg()[0], 2),
        round(load_before, 2),
    )


def step(message: str, since: float) -> None:
    console.print(f"[{time.monotonic() - since:5.1f} s] {message}")


def run(args: argparse.Namespace) -> Outcome:
    plan = Plan(floor_s=5, attack_s=15) if args.quick else Plan(floor_s=15, attack_s=60)
    plan.seeders = args.seeders
    if args.quick:
        plan.small_sessions, plan.big_session = 2_000, 20_000
    outcome = Outcome(plan=asdict(plan))
    with tempfile.TemporaryDirectory(prefix="scs-search-abuse-") as tmp:
        folder = Path(tmp)
        began = time.monotonic()
        server = start_scs(folder, args.real_limits, args.plugins)  # creates the schema
        server.stop()
        step("seeding ...", began)
        started = time.monotonic()
        sessions = seed(folder / "scs.db", plan)
        outcome.seed_s = round(time.monotonic() - started, 1)
        extra = dict(pair.split("=", 1) for pair in args.env)
        server = start_scs(folder, args.real_limits, args.plugins, extra)
        try:
            assert server.url is not None
            base = server.url.rsplit("/mcp", 1)[0]
            seeders = [f"seeder-{n}" for n in range(plan.seeders)]
            tokens = asyncio.run(
                mint(server.url, [f"abuser-{n}" for n in range(plan.attackers)] + seeders)
            )
            seats = [
                Seat(
                    tokens[f"abuser-{n}"],
                    [tokens[name] for name in seeders[n :: plan.attackers]],
                    plan.message_chars,
                    plan.memory_chars,
                )
                for n in range(plan.attackers)
            ]
            step(f"floor: /health alone for {plan.floor_s:.0f} s ...", began)
            outcome.phases.append(asyncio.run(observe(base, server.pid, plan.floor_s, "floor")))
            for name, kinds in (("searches", SEARCHES), ("everything", EVERYTHING)):
                step(f"{name}: {plan.attackers} client processes for {plan.attack_s:.0f} s", began)
                codes, times = attack_phase(
                    outcome, name, server, base, seats, sessions, plan, kinds, began
                )
                outcome.calls[name] = dict(codes)
                outcome.call_p50_ms[name] = round(percentile(times, 50) * 1000, 1)
                outcome.call_max_ms[name] = round(max(times, default=0.0) * 1000, 1)
            outcome.database_mib = round(
                sum(path.stat().st_size for path in folder.glob("scs.db*")) / 2**20, 1
            )
        finally:
            with contextlib.suppress(Exception):
                server.stop()
            step("server stopped", began)
    floor, searches, everything = outcome.phases
    outcome.p99_ratio = round(searches.p99_ms / max(floor.p99_ms, 0.01), 1)
    outcome.verdicts = {
        "health p99 < 50 ms while searches run": searches.p99_ms < 50,
        "peak RSS <= 400 MiB": max(p.rss_peak_mib for p in outcome.phases) <= 400,
        "no failed /health": all(p.failed_polls == 0 for p in outcome.phases),
    }
    return outcome


def attack_phase(
    outcome: Outcome,
    name: str,
    server: Child,
    base: str,
    seats: list[Seat],
    sessions: dict[str, str],
    plan: Plan,
    kinds: tuple[str, ...],
    began: float,
) -> tuple[Counter[str], list[float]]:
    """One attack: fresh client processes run ``kinds`` while /health is polled; the
    outcome of their calls (by scenario and code) and their durations."""
    context = mp.get_context("spawn")
    queue = context.Queue()
    go = context.Event()
    workers = [
        context.Process(
            target=attacker_main,
            args=(server.url, seats[n], sessions, plan.attack_s, n, kinds, queue, go),
        )
        for n in range(plan.attackers)
    ]
    for worker in workers:
        worker.start()
    for _ in workers:
        queue.get(timeout=120)  # ready: the clients' imports are done
    go.set()
    outcome.phases.append(asyncio.run(observe(base, server.pid, plan.attack_s + 2, name)))
    step("waiting for the attackers' last calls", began)
    reports = [queue.get(timeout=CALL_TIMEOUT_S + 60) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    codes: Counter[str] = Counter()
    times: list[float] = []
    for report in reports:
        codes.update(report["codes"])
        times.extend(report["times"])
    step("attackers done", began)
    return codes, times


def show(outcome: Outcome) -> None:
    table = Table(title="GET /health every 10 ms, server RSS")
    columns = ("phase", "polls", "p50 ms", "p99 ms", "max ms", "failed", "RSS MiB", "peak")
    for column in (*columns, "server CPU s", "load avg"):
        table.add_column(column, justify="right")
    for phase in outcome.phases:
        table.add_row(
            phase.name,
            str(phase.polls),
            f"{phase.p50_ms:.1f}",
            f"{phase.p99_ms:.1f}",
            f"{phase.max_ms:.1f}",
            str(phase.failed_polls),
            f"{phase.rss_start_mib:.0f}",
            f"{phase.rss_peak_mib:.0f}",
            f"{phase.server_cpu_s:.1f}",
            f"{phase.load_before:.1f} -> {phase.load_average:.1f}",
        )
    console.print(table)
    for phase, calls in outcome.calls.items():
        console.print(f"{phase}: calls (scenario outcome: count)")
        for name, count in sorted(calls.items()):
            console.print(f"  {name}: {count}")
        console.print(
            f"  call p50 {outcome.call_p50_ms[phase]} ms, max {outcome.call_max_ms[phase]} ms"
        )
    console.print(f"/health p99 while searches run / floor: {outcome.p99_ratio}x")
    console.print(f"database + WAL after the attack: {outcome.database_mib} MiB")
    for name, ok in outcome.verdicts.items():
        console.print(f"{'PASS' if ok else 'FAIL'}  {name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="shorter phases (~1 minute)")
    parser.add_argument("--json", action="store_true", help="print the outcome as JSON")
    parser.add_argument("--real-limits", action="store_true", help="keep the shipped rate limits")
    parser.add_argument("--plugins", default="default", help="plugin selection of the server")
    parser.add_argument("--seeders", type=int, default=20, help="agent ids writing (finding 6)")
    parser.add_argument(
        "--env", action="append", default=[], metavar="SCS_X=V", help="a server setting"
    )
    args = parser.parse_args(argv)
    outcome = run(args)
    show(outcome)
    if args.json:
        print(json.dumps(asdict(outcome), indent=2))
    return 0 if all(outcome.verdicts.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
