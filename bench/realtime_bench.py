"""Real-time coordination: how soon a waiter wakes, what idle waiters cost, and what the
pending notice adds to a call.

    uv run python bench/realtime_bench.py          # ~1 minute (starts a throwaway PostgreSQL)

1. In-process wake: a ``wait_for_messages`` call (in-memory MCP client) is pending when
   another agent's ``add_message`` call returns; latency = waiter's return - writer's
   return (target p50 <= 2 ms).
2. Cross-server wake: the waiter is on a second App on the same database (its own
   connections and change-feed watcher: SQLite's ``data_version`` poll, PostgreSQL
   LISTEN/NOTIFY), the writer on the first (targets p50 <= 250 ms SQLite, <= 50 ms PG).
   Both Apps live in this one process (as in tests/test_replicas.py).
2b. Cross-process wake: the waiter is a real ``scs serve`` subprocess on the same
   SQLite file / PostgreSQL database, called over streamable HTTP on 127.0.0.1; the
   writer is this process's App. Latency = the waiter's HTTP answer arriving here minus
   the writer's return, so it includes the loopback HTTP response (an upper bound).
3. 1,000 idle waiters (service level, one per agent, no MCP transport): RSS growth of
   this process and CPU seconds used over 5 idle seconds (goal <= 50 MB, ~0 CPU).
4. Pending notice: ``list_sessions`` per call for an agent with nothing pending, one with
   2 unread direct messages, and with ``SCS_INBOX_PENDING_NOTICE=false`` (the floor),
   interleaved rounds; ratios against the floor of the same run. Also the notice's own
   work per call (``with_notice``) against what building the result anew costs.

``--quick`` runs SQLite and the notice only (no idle waiters, no PostgreSQL);
``--postgres`` runs the PostgreSQL wakes only (each part stays near a minute on a
loaded machine).
"""

from __future__ import annotations

import asyncio
import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from _common import percentile, rss_kib
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from fastmcp.tools.base import ToolResult
from scs_inbox.pending import with_notice
from scs_messaging.api import Messaging, Wakeups
from scs_server.app import App, create_app
from scs_server.identity import Identity
from scs_server.storage.cluster import PostgresCluster, find_binaries
from scs_server.testing import API_KEY, ServerProcess, make_settings, parse_result, server_env
from scs_server.testing import start_server_process as start_process

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

WAKES = 60
IDLE_WAITERS = 1000
CALLS = 100
ROUNDS = 8


async def token(client: Client[Any], agent_id: str) -> str:
    result = await client.call_tool(
        "authenticate_agent", {"agent_id": agent_id, "agent_type": "claude", "api_key": API_KEY}
    )
    return str(parse_result(result)["token"])


async def call(client: Client[Any], tool: str, auth: str, **arguments: Any) -> Any:
    result = await client.call_tool(tool, {**arguments, "auth_token": auth}, raise_on_error=True)
    return parse_result(result)


async def wakes(writer_app: App, waiter_app: App) -> list[float]:
    """Latency from the writer's returned add_message to the waiter's returned wait."""
    wakeups = waiter_app.services.get(Wakeups, needed_by="bench")

    async def parked(i: int) -> None:
        while wakeups.count() == 0:
            await asyncio.sleep(0.001)
        await asyncio.sleep(0.005 + (i % 7) * 0.003)  # land at varied points of the poll

    async with Client(writer_app.server) as w, Client(waiter_app.server) as r:
        return await wake_latencies(w, r, parked)


async def wakes_from_process(writer_app: App, url: str) -> list[float]:
    """As ``wakes``, the waiter being a ``scs serve`` process called over HTTP."""

    async def parked(i: int) -> None:
        # no view of the other process's waiters: give the call time to park there
        await asyncio.sleep(0.08 + (i % 7) * 0.003)

    async with Client(writer_app.server) as w, Client(StreamableHttpTransport(url)) as r:
        return await wake_latencies(w, r, parked)


async def wake_latencies(
    w: Client[Any], r: Client[Any], parked: Callable[[int], Awaitable[None]]
) -> list[float]:
    """``WAKES`` rounds: ``r`` waits, ``parked(i)`` returns once the wait is parked, ``w``
    writes; the time from the write's answer to the wait's."""
    wt, rt = await token(w, "writer"), await token(r, "waiter")
    sid = (await call(w, "create_session", wt, purpose="bench"))["session_id"]
    latencies: list[float] = []
    after = 0
    for i in range(WAKES):
        done: list[float] = []

        async def wait(after_id: int, done: list[float] = done) -> Any:
            got = await call(
                r, "wait_for_messages", rt, session_id=sid, after_id=after_id, timeout_s=10
            )
            done.append(time.perf_counter())
            return got

        task = asyncio.create_task(wait(after))
        await parked(i)
        assert not task.done(), "the waiter returned before the write"
        await call(w, "add_message", wt, session_id=sid, content=f"m{i}")
        written = time.perf_counter()
        got = await task
        assert got["count"] == 1, got
        after = got["next_after_id"]
        latencies.append(max(0.0, done[0] - written))
    return latencies


def serve_process(folder: Path, **env: str) -> ServerProcess:
    folder.mkdir(parents=True, exist_ok=True)
    return start_process(folder, env=server_env(folder, SCS_LOG_LEVEL="WARNING", **env))


def report(label: str, latencies: list[float], target_ms: float) -> None:
    ms = [x * 1000 for x in latencies]
    p50 = statistics.median(ms)
    verdict = "ok" if p50 <= target_ms else "OVER TARGET"
    print(
        f"{label:<42} p50 {p50:7.2f} ms  p90 {percentile(ms, 90):7.2f}  max {max(ms):7.2f}"
        f"  (target p50 <= {target_ms:g} ms: {verdict})"
    )


async def idle_waiters(app: App) -> None:
    messaging = app.services.get(Messaging, needed_by="bench")
    async with Client(app.server) as c:
        t = await token(c, "owner")
        sid = (await call(c, "create_session", t, purpose="idle"))["session_id"]
    gc.collect()
    before = rss_kib(os.getpid())
    identities = [Identity(f"idle{i}", "claude", frozenset({"read"})) for i in range(IDLE_WAITERS)]
    tasks = [
        asyncio.create_task(messaging.wait(ident, sid, None, 60, 50, None)) for ident in identities
    ]
    wakeups = app.services.get(Wakeups, needed_by="bench")
    while wakeups.count() < IDLE_WAITERS:
        await asyncio.sleep(0.01)
    gc.collect()
    after = rss_kib(os.getpid())
    cpu0 = time.process_time()
    await asyncio.sleep(5)
    cpu = time.process_time() - cpu0
    print(
        f"{IDLE_WAITERS} idle waiters: RSS +{(after - before) / 1024:.1f} MB "
        f"({before / 1024:.0f} -> {after / 1024:.0f} MB), CPU {cpu:.3f} s over 5 s idle "
        "(the SQLite change-feed poll included)"
    )
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert wakeups.count() == 0


async def pending_cost(folder: Path) -> None:
    on = await create_app(make_settings(folder / "on", "default,-ratelimit"))
    os.environ["SCS_INBOX_PENDING_NOTICE"] = "false"
    try:
        off = await create_app(make_settings(folder / "off", "default,-ratelimit"))
    finally:
        del os.environ["SCS_INBOX_PENDING_NOTICE"]
    try:
        async with Client(on.server) as a, Client(off.server) as b:
            quiet, busy, floor = (
                await token(a, "quiet"),
                await token(a, "busy"),
                await token(b, "quiet"),
            )
            sender = await token(a, "sender")
            for client, auth in ((a, quiet), (b, floor)):
                await call(client, "create_session", auth, purpose="p")
            for _ in range(2):
                await call(a, "send_direct_message", sender, to="busy", content="ping")
            assert (await call(a, "list_sessions", busy))["pending"] == {"inbox": 2}
            assert "pending" not in await call(a, "list_sessions", quiet)
            results: dict[str, list[float]] = {"floor": [], "nothing pending": [], "2 pending": []}
            order = [("floor", b, floor), ("nothing pending", a, quiet), ("2 pending", a, busy)]
            for round_no in range(ROUNDS):
                for label, client, auth in order if round_no % 2 == 0 else order[::-1]:
                    started = time.perf_counter()
                    for _ in range(CALLS):
                        await call(client, "list_sessions", auth)
                    results[label].append((time.perf_counter() - started) / CALLS)
            body = await call(a, "list_sessions", quiet)
        floor_us = statistics.median(results["floor"]) * 1e6
        for label, values in results.items():
            us = statistics.median(values) * 1e6
            print(
                f"pending notice, list_sessions, {label:<16} {us:7.1f} us/call  x{us / floor_us:.3f}"
            )
        result = ToolResult(structured_content=body)
        spliced = notice_work(lambda: with_notice(result, body, {"inbox": 2}))
        rebuilt = notice_work(
            lambda: ToolResult(structured_content={**body, "pending": {"inbox": 2}})
        )
        print(
            f"pending notice work per call: splice {spliced:.1f} us, rebuilding the result"
            f" (before) {rebuilt:.1f} us; floor call {floor_us:.1f} us"
        )
    finally:
        await on.close()
        await off.close()


def notice_work(work: Any, times: int = 2000) -> float:
    """Median of 5 runs of ``times`` calls, in us per call."""
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(times):
            work()
        runs.append((time.perf_counter() - started) / times * 1e6)
    return statistics.median(runs)


def load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


async def main() -> None:
    quick = "--quick" in sys.argv
    print(f"load average at start: {load_average()}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if "--postgres" not in sys.argv:
            await sqlite_part(folder, quick)
            if quick:
                return
        await postgres_part(folder)


async def sqlite_part(folder: Path, quick: bool) -> None:
    a = await create_app(make_settings(folder / "a", "default"))
    b = await create_app(
        make_settings(folder / "b", "default", database_path=folder / "a" / "scs.db")
    )
    process = serve_process(folder / "proc", SCS_DATABASE_PATH=str(folder / "a" / "scs.db"))
    try:
        report("SQLite in-process wake", await wakes(a, a), 2)
        report("SQLite cross-server wake (data_version poll)", await wakes(a, b), 250)
        assert process.url is not None
        report(
            "SQLite cross-process wake (scs serve, HTTP)",
            await wakes_from_process(a, process.url),
            250,
        )
        if not quick:
            await idle_waiters(a)
    finally:
        process.stop()
        await b.close()
        await a.close()
    await pending_cost(folder)
    print(f"load average after SQLite and the notice: {load_average()}")


async def postgres_part(folder: Path) -> None:
    binaries = find_binaries()
    if binaries is None:
        print("PostgreSQL: no binaries found; skipped")
        return
    cluster = PostgresCluster(binaries)
    cluster.start()
    try:
        url = cluster.create_database()
        pa = await create_app(make_settings(folder / "pa", "default", database_url=url))
        pb = await create_app(make_settings(folder / "pb", "default", database_url=url))
        process = serve_process(folder / "pproc", SCS_DATABASE_URL=url)
        try:
            report("PostgreSQL in-process wake", await wakes(pa, pa), 2)
            report("PostgreSQL replica-to-replica wake (NOTIFY)", await wakes(pa, pb), 50)
            assert process.url is not None
            report(
                "PostgreSQL cross-process wake (scs serve, HTTP)",
                await wakes_from_process(pa, process.url),
                50,
            )
        finally:
            process.stop()
            await pb.close()
            await pa.close()
        print(f"load average at the end: {load_average()}")
    finally:
        cluster.destroy()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
