"""What a round trip to a SQLite connection's thread costs, against the SQLite work itself.

Why the SQLite engine (``scs_server.storage.sqlite``) runs short writes and point reads on the
event loop:

    uv run python bench/sqlite_hops.py

It times, on a fresh WAL file with the engine's PRAGMAs, a one-row write transaction
(``BEGIN IMMEDIATE; INSERT; COMMIT``) and a point read, each done several ways: through
the data API off the loop (``db.transaction(heavy=True)``: one thread hop per statement;
``db.read()``: one hop per read), the whole transaction as one call in a thread (raw
sqlite3), raw sqlite3 on the loop, and the data API on the loop (``db.transaction()``,
``db.fetch_one``). Wall and CPU time per operation (CPU covers both threads: the
hand-off is paid on both sides).
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from scs_server.storage.sqlite import SqliteDatabase

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

INSERT = "INSERT INTO t (a, b) VALUES (?, ?)"
READ = "SELECT a FROM t WHERE id = 1"
WARMUP = 300
COUNT = 5000


def write_transaction(conn: sqlite3.Connection) -> int | None:
    conn.execute("BEGIN IMMEDIATE")
    cursor = conn.execute(INSERT, ("x", "y"))
    conn.execute("COMMIT")
    return cursor.lastrowid


def point_read(conn: sqlite3.Connection) -> object:
    return conn.execute(READ).fetchone()


async def measure(label: str, operation: Callable[[], Awaitable[object]]) -> None:
    for _ in range(WARMUP):
        await operation()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(COUNT):
        await operation()
    wall = (time.perf_counter() - wall) / COUNT * 1e6
    cpu = (time.process_time() - cpu) / COUNT * 1e6
    print(f"{label:52s} {wall:8.1f} us wall {cpu:8.1f} us cpu", flush=True)


async def main() -> None:
    path = Path(tempfile.mkdtemp(prefix="scs-hops-")) / "hops.db"
    db = SqliteDatabase(path)
    await db.open()
    await db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b TEXT)")
    plain = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for pragma in db.pragmas:
        plain.execute(pragma)
    loop = asyncio.get_running_loop()

    async def heavy_transaction() -> None:
        async with db.transaction(heavy=True) as tx:
            await tx.execute(INSERT, ("x", "y"))

    async def one_round_trip() -> None:
        await loop.run_in_executor(None, write_transaction, plain)

    async def on_the_loop() -> None:
        write_transaction(plain)

    async def api_on_the_loop() -> None:
        async with db.transaction() as tx:
            await tx.execute(INSERT, ("x", "y"))

    async def read_round_trip() -> None:
        async with db.read() as reader:
            await reader.fetch_one(READ)

    async def read_on_the_loop() -> None:
        point_read(plain)

    async def api_read_on_the_loop() -> None:
        await db.fetch_one(READ)

    print(f"{COUNT} operations each, after {WARMUP} unmeasured ones; {path}")
    await measure("write: db.transaction(heavy=True), a hop per statement", heavy_transaction)
    await measure("write: whole transaction in a thread, 1 hop (sqlite3)", one_round_trip)
    await measure("write: whole transaction on the loop (sqlite3)", on_the_loop)
    await measure("write: db.transaction() on the loop", api_on_the_loop)
    await measure("point read: db.read(), 1 hop", read_round_trip)
    await measure("point read: on the loop (sqlite3)", read_on_the_loop)
    await measure("point read: db.fetch_one on the loop", api_read_on_the_loop)
    plain.close()
    await db.close()


if __name__ == "__main__":
    asyncio.run(main())
