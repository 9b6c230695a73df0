"""What the replies index costs a write: ``messages_parent`` over every row (NULLs too)
against a partial index over replies only (a schema step tried, not taken: see
bench/README.md, "Sixteenth round").

    uv run python bench/parent_index.py             # SQLite, then a throwaway PostgreSQL
    uv run python bench/parent_index.py --rows 200000

Two databases per engine with sessions' and messaging's real schema, one as it is (the
full index), one with ``PARTIAL`` after it. Each is
filled with ``--rows`` messages over 100 sessions, one in ten a reply. Then, in
interleaved rounds, ``add_message``'s own statement (``scs_messaging.store.insert``
through ``db.write_one``, its change-feed row included; nine in ten without a parent):
median wall microseconds per write. Then the retention purge's batch
(``export.purge_statement``) deleting the oldest messages, which makes each engine
find the replies of every deleted row (``ON DELETE SET NULL``) through this index.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import TYPE_CHECKING

from _common import on_both_engines
from scs_messaging import store
from scs_messaging.export import GLOBAL_PURGE, purge_statement
from scs_messaging.schema import MIGRATIONS as MESSAGING
from scs_server.migrations import Migration
from scs_sessions.schema import MIGRATIONS as SESSIONS

if TYPE_CHECKING:
    from scs_server.storage import Database, OneStatement

PARTIAL = Migration(
    len(MESSAGING) + 1,
    "replies index over replies only",
    """
    DROP INDEX messages_parent;
    CREATE INDEX messaging_messages_parent ON messaging_messages (parent_message_id)
        WHERE parent_message_id IS NOT NULL;
    """,
)
SESSIONS_COUNT = 100
ROUNDS = 7
PUBLIC = ("m.visibility = 'public'", [])
NOW = "2026-12-02T00:00:00.000000Z"


async def prepare(db: Database, *, partial: bool, rows: int) -> None:
    await db.open()
    await db.migrate("sessions", SESSIONS)
    await db.migrate("messaging", [*MESSAGING, PARTIAL] if partial else MESSAGING)
    async with db.transaction(heavy=True) as tx:
        await tx.execute_many(
            "INSERT INTO sessions_sessions (id, purpose, created_by, created_by_type, created_at,"
            " updated_at) VALUES (?, 'bench', 'bench', 'agent', ?, ?)",
            [(f"session_{n}", NOW, NOW) for n in range(SESSIONS_COUNT)],
        )
    batch = 5000
    for start in range(0, rows, batch):
        async with db.transaction(heavy=True) as tx:
            await tx.execute_many(
                "INSERT INTO messaging_messages (id, session_id, sender, sender_type, content,"
                " visibility, parent_message_id, timestamp) VALUES (?, ?, 'a', 'agent', ?,"
                " 'public', ?, ?)",
                [
                    (
                        n,
                        f"session_{n % SESSIONS_COUNT}",
                        f"message {n} " + "x" * 100,
                        n - SESSIONS_COUNT if n % 10 == 0 and n > SESSIONS_COUNT else None,
                        f"2026-01-01T00:00:00.{n:06d}Z",  # oldest first, as purges go
                    )
                    for n in range(start + 1, min(start + batch, rows) + 1)
                ],
            )
    if db.dialect == "postgresql":
        await db.execute(
            "SELECT setval(pg_get_serial_sequence('messaging_messages', 'id'), ?)", (rows,)
        )
        await db.execute("ANALYZE messaging_messages")


async def add(db: Database, n: int) -> None:
    parent = n - SESSIONS_COUNT if n % 10 == 0 else None

    async def insert(one: OneStatement) -> object:
        return await store.insert(
            one,
            db.dialect,
            session_id=f"session_{n % SESSIONS_COUNT}",
            sender="a",
            sender_type="agent",
            content=f"message {n} " + "x" * 100,
            visibility="public",
            metadata=None,
            parent_id=parent if parent and parent > 0 else None,
            timestamp=NOW if db.dialect == "sqlite" else None,
            parent_visible=PUBLIC,
        )

    await db.write_one(insert)


async def writes(db: Database, count: int, start: int) -> float:
    began = time.perf_counter()
    for n in range(start, start + count):
        await add(db, n)
        if n % 50 == 0:
            await asyncio.sleep(0)  # a server's loop turns: the checkpoint task runs
    return (time.perf_counter() - began) / count * 1e6


async def purge(db: Database, batch: int) -> float:
    began = time.perf_counter()
    async with db.transaction(heavy=True) as tx:
        rows = await tx.fetch_all(purge_statement(GLOBAL_PURGE), ("9999", batch))
    assert len(rows) == batch, len(rows)
    return (time.perf_counter() - began) * 1e3


async def compare(engine: str, full: Database, partial: Database, args: argparse.Namespace) -> None:
    for db, is_partial in ((full, False), (partial, True)):
        await prepare(db, partial=is_partial, rows=args.rows)
    variants = {"full index": full, "partial index (replies only)": partial}
    results: dict[str, list[float]] = {name: [] for name in variants}
    purges: dict[str, list[float]] = {name: [] for name in variants}
    n = args.rows + SESSIONS_COUNT
    for db in variants.values():  # warm-up
        await writes(db, args.writes // 4, n)
    n += args.writes // 4
    for _ in range(ROUNDS):
        for name, db in variants.items():
            results[name].append(await writes(db, args.writes, n))
        n += args.writes
    for _ in range(3):
        for name, db in variants.items():
            purges[name].append(await purge(db, args.purge))
    print(
        f"\n{engine}: {args.rows:,} messages (1 in 10 a reply), {ROUNDS} rounds x"
        f" {args.writes} add_message statements; purge: 3 batches of {args.purge}"
    )
    floor = statistics.median(results["full index"])
    for name in variants:
        write = statistics.median(results[name])
        print(
            f"  {name:30s} write {write:7.1f} us ({write / floor:4.2f}x; rounds"
            f" {min(results[name]):.0f}-{max(results[name]):.0f})"
            f"   purge batch {statistics.median(purges[name]):7.1f} ms"
        )
    for db in variants.values():
        await db.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--writes", type=int, default=1000, help="writes per round and variant")
    parser.add_argument("--purge", type=int, default=2000, help="messages per purge batch")
    args = parser.parse_args()
    await on_both_engines("scs-parent-index-", lambda engine, a, b: compare(engine, a, b, args))


if __name__ == "__main__":
    asyncio.run(main())
