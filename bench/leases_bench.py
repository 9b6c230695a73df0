"""Leases: what acquire/release cost, and how soon a waiter gets a released lease.

Two servers are built in this process on one SQLite file (``sessions,memory,leases``),
each served over streamable HTTP on 127.0.0.1; agents are real MCP clients. Measured:

1. **floor**: ``set_memory`` (a one-row write through the same stack: auth, JSON, one
   write transaction) and ``list_leases`` (a read), to compare against.
2. **acquire + release**: ``acquire_lease`` of 3 resources (``src/mod{n}/**``, a file,
   a named resource) with 50 other agents' leases live, then ``release_lease``.
3. **wait_s wake-up, same server**: B holds a lease; A waits (``wait_s=10``); once A is
   queued, B releases. Latency = from the moment B's ``release_lease`` returned (the
   release is committed) to the moment A's ``acquire_lease`` returned with the grant.
   Also from the moment B sent the release (includes the release call itself).
4. **wait_s wake-up, across servers**: A waits on server 2, B releases on server 1 (the
   wake-up comes through the change feed's SQLite watcher, ``SCS_CHANGES_POLL_MS``).

The wake-up target is <= 100 ms; the figures are p50/p95 of ``--rounds`` runs, and the
ratio of the wake-up to the floor write shows how much of it is waiting, not calling.

Run: ``uv run python bench/leases_bench.py`` (~20 s idle, ~50 s on a busy 2-core machine;
``--rounds N``, ``--json FILE``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from scs_leases.api import LeaseService

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import percentile  # noqa: E402
from scs_server.app import create_app  # noqa: E402
from scs_server.testing import Agent, ScsServer, make_settings, serve_http  # noqa: E402

PLUGINS = "sessions,memory,leases"
WAIT_S = 10.0


async def build(folder: Path, database: Path) -> ScsServer:
    folder.mkdir(parents=True, exist_ok=True)
    settings = make_settings(folder, PLUGINS, database_path=database)
    server = ScsServer(await create_app(settings), folder)
    server.url = await server._stack.enter_async_context(serve_http(server.app))
    return server


def summary(samples: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(samples, 50), 2),
        "p95_ms": round(percentile(samples, 95), 2),
        "mean_ms": round(statistics.fmean(samples), 2),
        "n": len(samples),
    }


async def timed(agent: Agent, tool: str, **arguments: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = await agent.call(tool, **arguments)
    return (time.perf_counter() - started) * 1000, result


async def queued(server: ScsServer, count: int) -> None:
    deadline = time.monotonic() + WAIT_S
    while len(server.app.services.get(LeaseService, needed_by="bench").queue) != count:
        if time.monotonic() > deadline:
            raise RuntimeError("the waiter never queued")
        await asyncio.sleep(0.002)


async def wake_round(
    holder: Agent, waiter: Agent, waiter_server: ScsServer, resource: str
) -> tuple[float, float]:
    held = await holder.call("acquire_lease", resources=[resource], ttl_s=60)
    finished: dict[str, float] = {}

    async def wait() -> dict[str, Any]:
        result: dict[str, Any] = await waiter.call(
            "acquire_lease", resources=[resource], wait_s=WAIT_S, ttl_s=60
        )
        finished["at"] = time.perf_counter()
        return result

    task = asyncio.create_task(wait())
    await queued(waiter_server, 1)
    sent = time.perf_counter()
    await holder.call("release_lease", lease_id=held["lease_id"])
    released = time.perf_counter()
    granted = await asyncio.wait_for(task, WAIT_S)
    assert granted["holder"] == waiter.agent_id
    await waiter.call("release_lease", lease_id=granted["lease_id"])
    # the grant may even beat the release's own answer back to the holder
    return max(finished["at"] - released, 0.0) * 1000, (finished["at"] - sent) * 1000


async def run(rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="scs-leases-bench-") as tmp:
        root = Path(tmp)
        database = root / "scs.db"
        one = await build(root / "one", database)
        two = await build(root / "two", database)
        try:
            alice = await one.agent("alice")
            bob = await one.agent("bob")
            carol_on_two = await two.agent("carol")
            crowd = [await one.agent(f"crowd-{n}") for n in range(50)]
            for n, agent in enumerate(crowd):
                await agent.call("acquire_lease", resources=[f"other/{n}/**"], ttl_s=600)

            floor_write, floor_read, acquire, release = [], [], [], []
            for n in range(rounds):
                ms, _ = await timed(alice, "set_memory", key="k", value=n)
                floor_write.append(ms)
                ms, _ = await timed(alice, "list_leases", limit=10)
                floor_read.append(ms)
                ms, lease = await timed(
                    alice,
                    "acquire_lease",
                    resources=[f"src/mod{n}/**", "README.md", "build-slot"],
                )
                acquire.append(ms)
                ms, _ = await timed(alice, "release_lease", lease_id=lease["lease_id"])
                release.append(ms)

            same_after, same_sent, cross_after, cross_sent = [], [], [], []
            for n in range(rounds):
                after, sent = await wake_round(bob, alice, one, f"wake/{n}")
                same_after.append(after)
                same_sent.append(sent)
                after, sent = await wake_round(bob, carol_on_two, two, f"cross/{n}")
                cross_after.append(after)
                cross_sent.append(sent)
        finally:
            await two.close()
            await one.close()
    floor = statistics.median(floor_write)
    figures = {
        "floor set_memory": summary(floor_write),
        "floor list_leases": summary(floor_read),
        "acquire_lease (3 resources, 50 live leases)": summary(acquire),
        "release_lease": summary(release),
        "wake, same server (after release returned)": summary(same_after),
        "wake, same server (from release sent)": summary(same_sent),
        "wake, other server (after release returned)": summary(cross_after),
        "wake, other server (from release sent)": summary(cross_sent),
    }
    for item in figures.values():
        item["x_floor_write"] = round(item["p50_ms"] / floor, 2)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--json", type=Path, help="write the figures here")
    options = parser.parse_args()
    figures = asyncio.run(run(options.rounds))
    print(f"{'measure':<46} {'p50 ms':>8} {'p95 ms':>8} {'mean':>8} {'x write':>8}")
    for name, item in figures.items():
        print(
            f"{name:<46} {item['p50_ms']:>8} {item['p95_ms']:>8} {item['mean_ms']:>8} "
            f"{item['x_floor_write']:>8}"
        )
    if options.json:
        options.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
