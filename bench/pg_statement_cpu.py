"""The CPU of PostgreSQL statements through psycopg, as scs sends them (issue #13).

    uv run python bench/pg_statement_cpu.py            # ~1 minute, a throwaway cluster
    uv run python bench/pg_statement_cpu.py --calls 2000

What a statement costs the *scs process* (``time.process_time``) and PostgreSQL's backends
(from ``/proc``; ``--listener`` adds a connection that LISTENs, as each replica's does): on
one raw connection, a point read, a one-row INSERT alone (autocommit),
and an ``add_message``-shaped transaction (BEGIN, INSERT ... RETURNING, one change-feed
emit, COMMIT) sent in several ways: as scs sends it (two pipelines), as four plain
round trips, with the emit and COMMIT as one simple-protocol query, with BEGIN/COMMIT
through psycopg's internal command path, in one pipeline without BEGIN/COMMIT (the
statements between two Syncs are one implicit transaction); then the data API's own (``db.fetch_one``,
``db.transaction()`` with an emit, ``db.write_one`` with ``emit_rows``: one autocommit
statement that emits its change itself) and a pool borrow alone. Rounds interleave the
variants; the median of the rounds is shown, with the ratio to the point read of the same
run (the unit: "one statement").
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING

import psycopg
from _common import interleaved_cpu_us, on_throwaway_postgres
from psycopg import sql
from scs_server.migrations import Migration
from scs_server.storage.postgres import PostgresDatabase

if TYPE_CHECKING:
    from scs_server.storage import OneStatement

INSERT = "INSERT INTO t (a, b) VALUES (%s, %s) RETURNING id"
EMIT = "SELECT scs_emit(%s, %s, %s)"
READ = "SELECT 1 FROM t WHERE id = %s"
TABLE = "CREATE TABLE t (id BIGSERIAL PRIMARY KEY, a TEXT, b TEXT)"


async def bench_database(url: str) -> PostgresDatabase:
    """scs's engine on ``url`` (which creates ``scs_emit``) with the bench's table ``t``
    and its row 1."""
    db = PostgresDatabase(url, pool_size=4)
    await db.open()
    await db.migrate("bench", [Migration(1, "t", TABLE)])
    await db.execute("INSERT INTO t (a, b) VALUES ('a', 'b')")
    return db


async def api_point_read(db: PostgresDatabase) -> None:
    """A point read through the data API (the revocation check's shape)."""
    await db.fetch_one("SELECT 1 FROM t WHERE id = ?", (1,))


async def api_write_with_emit(db: PostgresDatabase) -> None:
    """An ``add_message``-shaped write through the data API: INSERT, one emit, COMMIT."""
    async with db.transaction() as tx:
        row = await tx.fetch_one("INSERT INTO t (a, b) VALUES (?, ?) RETURNING id", ("a", "b"))
        assert row is not None
        tx.emit("t", {"id": row["id"]})


async def api_write_one_with_emit(db: PostgresDatabase) -> None:
    """The same write as ``db.write_one`` (one autocommit statement, the emit inside it)."""

    async def insert(one: OneStatement) -> None:
        one.emit_rows("t", None, ("id",))
        assert await one.fetch_one("INSERT INTO t (a, b) VALUES (?, ?) RETURNING id", ("a", "b"))

    await db.write_one(insert)


async def drain(url: str) -> None:
    """A replica's change listener: LISTEN and read every notification (``--listener``)."""
    listener = await psycopg.AsyncConnection.connect(url, autocommit=True)
    try:
        await listener.execute("LISTEN scs_changes")
        async for _ in listener.notifies():
            pass
    finally:
        await listener.close()


async def measure(
    url: str, calls: int, rounds: int, postmaster: int, listener: bool = False
) -> dict[str, tuple[float, float]]:
    db = await bench_database(url)
    conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
    draining = asyncio.create_task(drain(url)) if listener else None

    async def raw_point_read() -> None:
        await (await conn.execute(READ, (1,))).fetchone()

    async def raw_insert_alone() -> None:
        await (await conn.execute(INSERT, ("a", "b"))).fetchone()

    async def raw_tx_two_pipelines() -> None:  # what scs sends
        async with conn.pipeline():
            await conn.execute("BEGIN")
            cursor = await conn.execute(INSERT, ("a", "b"))
        row = await cursor.fetchone()
        assert row is not None
        async with conn.pipeline():
            emitted = await conn.execute(EMIT, ("t", f'{{"id":{row[0]}}}', "o"))
            await conn.execute("COMMIT")
        await emitted.fetchone()

    async def raw_tx_no_emit() -> None:  # as scs, without the change feed's emit
        async with conn.pipeline():
            await conn.execute("BEGIN")
            cursor = await conn.execute(INSERT, ("a", "b"))
        row = await cursor.fetchone()
        assert row is not None
        await conn.execute("COMMIT")

    async def raw_tx_four_round_trips() -> None:
        await conn.execute("BEGIN")
        row = await (await conn.execute(INSERT, ("a", "b"))).fetchone()
        assert row is not None
        await (await conn.execute(EMIT, ("t", f'{{"id":{row[0]}}}', "o"))).fetchone()
        await conn.execute("COMMIT")

    async def raw_tx_simple_commit() -> None:  # emit + COMMIT: one simple-protocol query
        async with conn.pipeline():
            await conn.execute("BEGIN")
            cursor = await conn.execute(INSERT, ("a", "b"))
        row = await cursor.fetchone()
        assert row is not None
        query = sql.SQL("SELECT scs_emit({}, {}, {}); COMMIT").format(
            "t", f'{{"id":{row[0]}}}', "o"
        )
        await (await conn.execute(query)).fetchone()

    async def raw_tx_internal_commands() -> None:  # BEGIN/COMMIT without a cursor (private)
        async with conn.pipeline():
            await conn.wait(conn._exec_command(b"BEGIN"))
            cursor = await conn.execute(INSERT, ("a", "b"))
        row = await cursor.fetchone()
        assert row is not None
        async with conn.pipeline():
            emitted = await conn.execute(EMIT, ("t", f'{{"id":{row[0]}}}', "o"))
            await conn.wait(conn._exec_command(b"COMMIT"))
        await emitted.fetchone()

    async def raw_tx_implicit() -> None:  # one pipeline, no BEGIN/COMMIT: committed at Sync
        async with conn.pipeline():
            cursor = await conn.execute(INSERT, ("a", "b"))
            row = await cursor.fetchone()  # a flush request, not a Sync: still one transaction
            assert row is not None
            emitted = await conn.execute(EMIT, ("t", f'{{"id":{row[0]}}}', "o"))
        await emitted.fetchone()

    async def api_pool_borrow() -> None:
        await db._give_back(await db._borrow())

    variants = {
        "raw: point read (the unit)": raw_point_read,
        "raw: INSERT alone (autocommit)": raw_insert_alone,
        "raw: BEGIN+INSERT | emit+COMMIT (2 pipelines, as scs)": raw_tx_two_pipelines,
        "raw: BEGIN+INSERT | COMMIT (as scs, no emit)": raw_tx_no_emit,
        "raw: BEGIN, INSERT, emit, COMMIT (4 round trips)": raw_tx_four_round_trips,
        "raw: BEGIN+INSERT | 'emit; COMMIT' simple query": raw_tx_simple_commit,
        "raw: as scs, BEGIN/COMMIT via _exec_command": raw_tx_internal_commands,
        "raw: one pipeline, no BEGIN/COMMIT (implicit transaction)": raw_tx_implicit,
        "data API: db.fetch_one": lambda: api_point_read(db),
        "data API: transaction + emit": lambda: api_write_with_emit(db),
        "data API: write_one + emit_rows (one statement)": lambda: api_write_one_with_emit(db),
        "data API: pool borrow + return alone": api_pool_borrow,
    }
    try:
        figures = await interleaved_cpu_us(variants, calls, rounds, postmaster)
    finally:
        if draining is not None:
            draining.cancel()
        await conn.close()
        await db.close()
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=800, help="calls per variant and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--listener",
        action="store_true",
        help="a connection LISTENs to the change feed meanwhile, as each replica's does "
        "(its notifications cost PostgreSQL CPU per emit; draining them costs this process)",
    )
    args = parser.parse_args(argv)
    figures, load = on_throwaway_postgres(
        lambda url, postmaster: measure(url, args.calls, args.rounds, postmaster, args.listener)
    )
    unit = figures["raw: point read (the unit)"][0]
    print(f"load average before {load:.2f}; medians of {args.rounds} rounds")
    print("| variant | µs CPU (scs side) | x point read | µs CPU (PostgreSQL side) |")
    print("|---|---:|---:|---:|")
    for name, (us, server) in figures.items():
        print(f"| {name} | {us:.0f} | {us / unit:.2f} | {server:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
