"""What the data API costs on SQLite against raw sqlite3 on the loop, and what the change
feed's extra INSERT adds to a write.

    uv run python bench/storage_api.py

On one fresh WAL file each (the core's PRAGMAs), interleaved in rounds so that machine
noise hits every variant alike: a one-row write transaction and a point read on a raw
``sqlite3`` connection with the engine's PRAGMAs (the floor: synchronous calls on the
loop, what the removed ``scs.db.Database.write``/``lookup`` did) and through
``scs_server.storage`` (``db.execute``, ``db.transaction()`` with two statements, the same with
``tx.emit``, the same with a plain INSERT into another table instead of the emit,
``db.fetch_one``). Median of the rounds, wall microseconds per operation, and
the ratio to the floor measured in the same run. Then, on a throwaway PostgreSQL cluster,
the data API's point read and write (a pooled, health-checked connection per call)
against the same statements on one raw psycopg connection.
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
from _common import throwaway_cluster
from scs_server.migrations import Migration
from scs_server.storage.postgres import PostgresDatabase
from scs_server.storage.sqlite import SqliteDatabase

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

TABLE = Migration(
    1,
    "t",
    "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b TEXT);\n"
    "CREATE TABLE t2 (id INTEGER PRIMARY KEY, topic TEXT, payload TEXT, origin TEXT, at REAL);\n",
)
TABLE_PG = Migration(1, "t", "CREATE TABLE t (id SERIAL PRIMARY KEY, a TEXT, b TEXT)")
INSERT = "INSERT INTO t (a, b) VALUES (?, ?)"
ROUNDS = 7
COUNT = 2000


def raw_write(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(INSERT, ("x", "y"))
    except BaseException:
        conn.rollback()
        raise
    conn.execute("COMMIT")


def raw_read(conn: sqlite3.Connection) -> object:
    return conn.execute("SELECT a, b FROM t WHERE id = ?", (1,)).fetchone()


async def rounds(
    variants: dict[str, Callable[[], Awaitable[object]]], count: int = COUNT
) -> dict[str, float]:
    """Median us per operation of each variant over ROUNDS interleaved rounds."""
    results: dict[str, list[float]] = {name: [] for name in variants}
    for operation in variants.values():  # warm-up
        await timed(operation, count)
    for _ in range(ROUNDS):
        for name, operation in variants.items():
            results[name].append(await timed(operation, count))
    return {name: statistics.median(values) for name, values in results.items()}


async def timed(operation: Callable[[], Awaitable[object]], count: int = COUNT) -> float:
    started = time.perf_counter()
    for n in range(count):
        await operation()
        if n % 50 == 0:  # a server's loop turns: lets the checkpoint task run
            await asyncio.sleep(0)
    return (time.perf_counter() - started) / count * 1e6


async def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="scs-storage-bench-"))
    floor_db = SqliteDatabase(folder / "floor.db")
    await floor_db.open()
    await floor_db.migrate("bench", [TABLE])
    await floor_db.close()
    raw = sqlite3.connect(folder / "floor.db", isolation_level=None)
    for pragma in floor_db.pragmas:
        raw.execute(pragma)
    raw.execute("PRAGMA busy_timeout=0")
    raw.execute("PRAGMA wal_autocheckpoint=0")  # as the engine's loop-side writer
    new = SqliteDatabase(folder / "new.db")
    await new.open()
    await new.migrate("bench", [TABLE])
    raw_write(raw)
    await new.execute(INSERT, ("x", "y"))

    async def floor_write() -> None:
        raw_write(raw)

    async def floor_read() -> None:
        raw_read(raw)

    async def new_execute() -> None:
        await new.execute(INSERT, ("x", "y"))

    async def new_tx() -> None:
        async with new.transaction() as tx:
            await tx.execute(INSERT, ("x", "y"))
            await tx.execute("UPDATE t SET b = ? WHERE id = ?", ("z", 1))

    async def new_tx_row() -> None:
        async with new.transaction() as tx:
            await tx.execute(INSERT, ("x", "y"))
            await tx.execute("UPDATE t SET b = ? WHERE id = ?", ("z", 1))
            await tx.execute(
                "INSERT INTO t2 (topic, payload, origin, at) VALUES (?, ?, ?, ?)",
                ("bench", '{"id":1}', new.origin, time.time()),
            )

    async def new_tx_emit() -> None:
        async with new.transaction() as tx:
            await tx.execute(INSERT, ("x", "y"))
            await tx.execute("UPDATE t SET b = ? WHERE id = ?", ("z", 1))
            tx.emit("bench", {"id": 1})

    async def new_fetch_one() -> None:
        await new.fetch_one("SELECT a, b FROM t WHERE id = ?", (1,))

    variants: dict[str, Callable[[], Awaitable[object]]] = {
        "floor: raw sqlite3 write (1 INSERT)": floor_write,
        "db.execute (1 INSERT)": new_execute,
        "db.transaction(): INSERT + UPDATE": new_tx,
        "db.transaction(): INSERT + UPDATE + a row": new_tx_row,
        "db.transaction(): INSERT + UPDATE + emit": new_tx_emit,
        "floor: raw sqlite3 point read": floor_read,
        "db.fetch_one (point read)": new_fetch_one,
    }
    medians = await rounds(variants)
    write_floor = medians["floor: raw sqlite3 write (1 INSERT)"]
    read_floor = medians["floor: raw sqlite3 point read"]
    print(f"{ROUNDS} rounds x {COUNT} operations, median us per operation (wall)")
    for name, value in medians.items():
        floor = read_floor if "read" in name else write_floor
        print(f"{name:44s} {value:7.1f} us  x{value / floor:4.2f} of the floor")
    emit_cost = (
        medians["db.transaction(): INSERT + UPDATE + emit"]
        - medians["db.transaction(): INSERT + UPDATE"]
    )
    row_cost = (
        medians["db.transaction(): INSERT + UPDATE + a row"]
        - medians["db.transaction(): INSERT + UPDATE"]
    )
    print(
        f"emit adds {emit_cost:.1f} us to a write transaction;"
        f" one more row in another table adds {row_cost:.1f} us"
    )
    await new.close()
    raw.close()
    await postgres()


async def postgres() -> None:
    """The same point read and write on PostgreSQL: the data API against one raw connection."""
    with throwaway_cluster() as cluster:
        if cluster is None:
            return
        url = cluster.create_database()
        db = PostgresDatabase(url, pool_size=4)
        await db.open()
        await db.migrate("bench", [TABLE_PG])
        await db.execute(INSERT, ("x", "y"))
        raw = await psycopg.AsyncConnection.connect(url, autocommit=True)
        read_sql = "SELECT a, b FROM t WHERE id = %s"

        async def raw_read() -> None:
            cursor = await raw.execute(read_sql, (1,))
            await cursor.fetchone()

        async def raw_write() -> None:
            async with raw.transaction():
                await raw.execute("INSERT INTO t (a, b) VALUES (%s, %s)", ("x", "y"))

        async def api_read() -> None:
            await db.fetch_one("SELECT a, b FROM t WHERE id = ?", (1,))

        async def api_write() -> None:
            await db.execute(INSERT, ("x", "y"))

        async def api_write_emit() -> None:
            async with db.transaction() as tx:
                await tx.execute(INSERT, ("x", "y"))
                tx.emit("bench", {"id": 1})

        variants: dict[str, Callable[[], Awaitable[object]]] = {
            "PG floor: one connection, point read": raw_read,
            "PG db.fetch_one (pool, health check)": api_read,
            "PG floor: one connection, INSERT tx": raw_write,
            "PG db.execute (pool, health check)": api_write,
            "PG db.transaction(): INSERT + emit": api_write_emit,
        }
        medians = await rounds(variants, count=500)
        for name, value in medians.items():
            kind = "point read" if "read" in name or "fetch" in name else "INSERT tx"
            floor = medians["PG floor: one connection, " + kind]
            print(f"{name:44s} {value:7.1f} us  x{value / floor:4.2f} of the floor")
        await raw.close()
        await db.close()


if __name__ == "__main__":
    asyncio.run(main())
