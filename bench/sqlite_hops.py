"""What a round trip to a SQLite connection's thread costs, against the SQLite work itself.

Why ``Database.write`` and ``Database.lookup`` run short statements on the event loop:

    uv run python bench/sqlite_hops.py

It times, on a fresh WAL file with the core's PRAGMAs, a one-row write transaction
(``BEGIN IMMEDIATE; INSERT; COMMIT``) and a point read, each done three ways: one
aiosqlite ``await`` per statement (three round trips for the write), the whole
transaction as one call on aiosqlite's thread, and synchronously on the loop. Wall and
CPU time per operation (CPU covers both threads: the hand-off is paid on both sides).
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import aiosqlite
from scs.db import Database

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

INSERT = "INSERT INTO t (a, b) VALUES (?, ?)"
WARMUP = 300
COUNT = 5000


def write_transaction(conn: sqlite3.Connection) -> int | None:
    conn.execute("BEGIN IMMEDIATE")
    cursor = conn.execute(INSERT, ("x", "y"))
    conn.execute("COMMIT")
    return cursor.lastrowid


def point_read(conn: sqlite3.Connection) -> object:
    return conn.execute("SELECT a FROM t WHERE id = 1").fetchone()


async def measure(label: str, operation: Callable[[], Awaitable[object]]) -> None:
    for _ in range(WARMUP):
        await operation()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(COUNT):
        await operation()
    wall = (time.perf_counter() - wall) / COUNT * 1e6
    cpu = (time.process_time() - cpu) / COUNT * 1e6
    print(f"{label:46s} {wall:8.1f} us wall {cpu:8.1f} us cpu", flush=True)


async def main() -> None:
    path = Path(tempfile.mkdtemp(prefix="scs-hops-")) / "hops.db"
    pragmas = Database(path).pragmas
    threaded = await aiosqlite.connect(path, isolation_level=None)
    for pragma in pragmas:
        await threaded.execute(pragma)
    await threaded.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b TEXT)")
    plain = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for pragma in pragmas:
        plain.execute(pragma)
    loop = asyncio.get_running_loop()

    async def three_round_trips() -> None:
        await threaded.execute("BEGIN IMMEDIATE")
        await threaded.execute(INSERT, ("x", "y"))
        await threaded.commit()

    async def one_round_trip() -> None:
        await loop.run_in_executor(None, write_transaction, plain)

    async def on_the_loop() -> None:
        write_transaction(plain)

    async def read_round_trip() -> None:
        await threaded.execute_fetchall("SELECT a FROM t WHERE id = 1")

    async def read_on_the_loop() -> None:
        point_read(plain)

    print(f"{COUNT} operations each, after {WARMUP} unmeasured ones; {path}")
    await measure("write: 3 awaits on aiosqlite (BEGIN, INSERT, COMMIT)", three_round_trips)
    await measure("write: whole transaction in a thread, 1 hop", one_round_trip)
    await measure("write: whole transaction on the loop", on_the_loop)
    await measure("point read: 1 await on aiosqlite", read_round_trip)
    await measure("point read: on the loop", read_on_the_loop)
    plain.close()
    await threaded.close()


if __name__ == "__main__":
    asyncio.run(main())
