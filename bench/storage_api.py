"""What the data API costs on SQLite against today's ``Database.write``/``lookup``, and
what the change feed's extra INSERT adds to a write.

    uv run python bench/storage_api.py

On one fresh WAL file each (the core's PRAGMAs), interleaved in rounds so that machine
noise hits every variant alike: a one-row write transaction and a point read through
``scs.db.Database`` (the floor: synchronous callbacks on the loop) and through
``scs.storage`` (``db.execute``, ``db.transaction()`` with two statements, the same with
``tx.emit``, ``db.fetch_one``). Median of the rounds, wall microseconds per operation, and
the ratio to the floor measured in the same run.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from scs.db import Database as OldDatabase
from scs.migrations import Migration
from scs.storage.sqlite import SqliteDatabase

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Awaitable, Callable

TABLE = Migration(1, "t", "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b TEXT)")
INSERT = "INSERT INTO t (a, b) VALUES (?, ?)"
ROUNDS = 7
COUNT = 2000


def old_insert(conn: sqlite3.Connection) -> None:
    conn.execute(INSERT, ("x", "y"))


def old_read(conn: sqlite3.Connection) -> object:
    return conn.execute("SELECT a, b FROM t WHERE id = ?", (1,)).fetchone()


async def timed(operation: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    for n in range(COUNT):
        await operation()
        if n % 50 == 0:  # a server's loop turns: lets the checkpoint task run
            await asyncio.sleep(0)
    return (time.perf_counter() - started) / COUNT * 1e6


async def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="scs-storage-bench-"))
    old = OldDatabase(folder / "old.db")
    await old.open()
    await old.migrate("bench", [TABLE])
    new = SqliteDatabase(folder / "new.db")
    await new.open()
    await new.migrate("bench", [TABLE])
    await old.write(old_insert)
    await new.execute(INSERT, ("x", "y"))

    async def old_write() -> None:
        await old.write(old_insert)

    async def old_lookup() -> None:
        old.lookup(old_read)

    async def new_execute() -> None:
        await new.execute(INSERT, ("x", "y"))

    async def new_tx() -> None:
        async with new.transaction() as tx:
            await tx.execute(INSERT, ("x", "y"))
            await tx.execute("UPDATE t SET b = ? WHERE id = ?", ("z", 1))

    async def new_tx_emit() -> None:
        async with new.transaction() as tx:
            await tx.execute(INSERT, ("x", "y"))
            await tx.execute("UPDATE t SET b = ? WHERE id = ?", ("z", 1))
            tx.emit("bench", {"id": 1})

    async def new_fetch_one() -> None:
        await new.fetch_one("SELECT a, b FROM t WHERE id = ?", (1,))

    variants: dict[str, Callable[[], Awaitable[object]]] = {
        "floor: Database.write (1 INSERT)": old_write,
        "db.execute (1 INSERT)": new_execute,
        "db.transaction(): INSERT + UPDATE": new_tx,
        "db.transaction(): INSERT + UPDATE + emit": new_tx_emit,
        "floor: Database.lookup (point read)": old_lookup,
        "db.fetch_one (point read)": new_fetch_one,
    }
    results: dict[str, list[float]] = {name: [] for name in variants}
    for operation in variants.values():  # warm-up
        await timed(operation)
    for _ in range(ROUNDS):
        for name, operation in variants.items():
            results[name].append(await timed(operation))
    medians = {name: statistics.median(values) for name, values in results.items()}
    write_floor = medians["floor: Database.write (1 INSERT)"]
    read_floor = medians["floor: Database.lookup (point read)"]
    print(f"{ROUNDS} rounds x {COUNT} operations, median us per operation (wall)")
    for name, value in medians.items():
        floor = read_floor if "read" in name else write_floor
        print(f"{name:44s} {value:7.1f} us  x{value / floor:4.2f} of the floor")
    emit_cost = (
        medians["db.transaction(): INSERT + UPDATE + emit"]
        - medians["db.transaction(): INSERT + UPDATE"]
    )
    print(f"the change feed's INSERT adds {emit_cost:.1f} us to a write transaction")
    await new.close()
    await old.close()


if __name__ == "__main__":
    asyncio.run(main())
