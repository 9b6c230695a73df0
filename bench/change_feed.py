"""How soon a committed change reaches a listener elsewhere (the change feed's latency).

    uv run python bench/change_feed.py

1. PostgreSQL (a throwaway cluster of the system's binaries): two Database objects,
   two pools and the listener's own connection, as two replicas would have. One commits
   a change, the other's subscriber notes when it arrives; one change at a time.
2. SQLite across processes: a child process commits changes every ~20 ms (so they
   fall at random points of the 50 ms poll) and this process's watcher delivers them.
3. In-process (either engine): the subscriber is called right after the commit.

Prints p50/p99/max in milliseconds, from just before the commit to the callback.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from _common import percentile, throwaway_cluster
from scs_server.storage.postgres import PostgresDatabase
from scs_server.storage.sqlite import SqliteDatabase

if TYPE_CHECKING:
    from scs_server.storage import Change

COUNT = 300
CHILD = """
import asyncio, sys, time
from scs_server.storage.sqlite import SqliteDatabase

async def main():
    db = SqliteDatabase(sys.argv[1])
    await db.open()
    for i in range(int(sys.argv[2])):
        async with db.transaction() as tx:
            tx.emit("bench", {"i": i, "t": time.time()})
        await asyncio.sleep(0.02)
    await db.close()

asyncio.run(main())
"""


def report(label: str, latencies_s: list[float]) -> None:
    ms = [x * 1000 for x in latencies_s]
    print(
        f"{label:44s} n={len(ms):4d}  p50 {percentile(ms, 50):6.2f} ms"
        f"  p99 {percentile(ms, 99):6.2f} ms  max {max(ms):6.2f} ms",
        flush=True,
    )


async def one_by_one(writer: SqliteDatabase | PostgresDatabase, listener_db: object) -> list[float]:
    arrived: asyncio.Queue[float] = asyncio.Queue()
    changes = listener_db.changes  # type: ignore[attr-defined]
    subscription = await changes.subscribe(
        lambda _change: arrived.put_nowait(time.perf_counter()), {"bench"}
    )
    latencies = []
    for i in range(COUNT):
        started = time.perf_counter()
        async with writer.transaction() as tx:
            tx.emit("bench", {"i": i})
        latencies.append(await asyncio.wait_for(arrived.get(), 10) - started)
    subscription.close()
    return latencies


async def postgres() -> None:
    with throwaway_cluster() as cluster:
        if cluster is None:
            return
        url = cluster.create_database()
        first, second = PostgresDatabase(url), PostgresDatabase(url)
        await first.open()
        await second.open()
        report("PostgreSQL: replica to replica (NOTIFY)", await one_by_one(first, second))
        report("PostgreSQL: in-process", await one_by_one(first, first))
        await first.close()
        await second.close()


async def sqlite() -> None:
    path = Path(tempfile.mkdtemp(prefix="scs-feed-bench-")) / "feed.db"
    db = SqliteDatabase(path)
    await db.open()
    seen: list[float] = []
    done = asyncio.Event()

    def arrived(change: Change) -> None:
        seen.append(time.time() - change.payload["t"])
        if len(seen) == COUNT:
            done.set()

    subscription = await db.changes.subscribe(arrived, {"bench"})
    child = await asyncio.create_subprocess_exec(sys.executable, "-c", CHILD, str(path), str(COUNT))
    await asyncio.wait_for(done.wait(), 120)
    await child.wait()
    subscription.close()
    report("SQLite: process to process (data_version)", seen)
    report("SQLite: in-process", await one_by_one(db, db))
    await db.close()


async def main() -> None:
    await postgres()
    await sqlite()


if __name__ == "__main__":
    asyncio.run(main())
