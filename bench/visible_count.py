"""What ``get_messages``' visible count costs, counted row by row (messaging's schema up to
step 4) or summed from the counts kept by triggers (step 5), and what those triggers cost
``add_message``'s statement.

    uv run python bench/visible_count.py             # SQLite, then a throwaway PostgreSQL
    uv run python bench/visible_count.py --sizes 1000,10000

Two databases per engine with sessions' and messaging's real schema, one migrated to
step 4 and one to step 5, each holding one session per ``--sizes`` entry (that many
messages, a tenth private, a tenth agent_only, from 20 senders). Then, in interleaved
rounds: ``store.count_and_page`` (the statement of ``get_messages`` with ``after_id``,
read by a non-admin) on each session, the step-4 database with the count it used to
run (``store.VISIBLE_COUNT`` swapped back), and ``store.insert`` through
``db.write_one`` (``add_message``'s statement, its change-feed row included): median
wall microseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import TYPE_CHECKING

from _common import on_both_engines
from scs_messaging import store
from scs_messaging.schema import MIGRATIONS as MESSAGING
from scs_sessions.schema import MIGRATIONS as SESSIONS

if TYPE_CHECKING:
    from scs_server.storage import Database, OneStatement

ROW_BY_ROW = "SELECT COUNT(*) AS total FROM messaging_messages m WHERE"  # up to step 4
SUMMED = store.VISIBLE_COUNT
VISIBLE = (
    "(m.visibility = 'public' OR (m.visibility = 'private' AND m.sender = ?)"
    " OR (m.visibility = 'agent_only' AND m.sender_type = ?))",
    ["sender_3", "claude"],
)
ROUNDS = 5
NOW = "2026-12-02T00:00:00.000000Z"


def level(n: int) -> str:
    return "private" if n % 10 == 1 else "agent_only" if n % 10 == 2 else "public"


async def prepare(db: Database, *, steps: int, sizes: list[int]) -> None:
    await db.open()
    await db.migrate("sessions", SESSIONS)
    await db.migrate("messaging", MESSAGING[:steps])
    async with db.transaction(heavy=True) as tx:
        await tx.execute_many(
            "INSERT INTO sessions_sessions (id, purpose, created_by, created_by_type, created_at,"
            " updated_at) VALUES (?, 'bench', 'bench', 'agent', ?, ?)",
            [(f"session_{size}", NOW, NOW) for size in sizes],
        )
    for size in sizes:
        for start in range(0, size, 5000):
            async with db.transaction(heavy=True) as tx:
                await tx.execute_many(
                    "INSERT INTO messaging_messages (session_id, sender, sender_type, content,"
                    " visibility, timestamp) VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (
                            f"session_{size}",
                            f"sender_{n % 20}",
                            "claude" if n % 2 else "cursor",
                            f"message {n} " + "x" * 100,
                            level(n),
                            NOW,
                        )
                        for n in range(start, min(start + 5000, size))
                    ],
                )
    if db.dialect == "postgresql":
        await db.execute("ANALYZE")


async def reads(db: Database, session_id: str, after_id: int, count: int) -> float:
    began = time.perf_counter()
    for _ in range(count):
        async with db.read() as r:
            found = await store.count_and_page(
                r, session_id, VISIBLE, after_id=after_id, limit=51, offset=0
            )
        assert found is not None and found[0] > 0
    return (time.perf_counter() - began) / count * 1e6


async def writes(db: Database, session_id: str, count: int) -> float:
    async def insert(one: OneStatement) -> object:
        return await store.insert(
            one,
            db.dialect,
            session_id=session_id,
            sender="sender_3",
            sender_type="claude",
            content="a new message " + "x" * 100,
            visibility="public",
            metadata=None,
            parent_id=None,
            timestamp=NOW if db.dialect == "sqlite" else None,
            parent_visible=VISIBLE,
        )

    began = time.perf_counter()
    for n in range(count):
        await db.write_one(insert)
        if n % 50 == 0:
            await asyncio.sleep(0)  # a server's loop turns: the checkpoint task runs
    return (time.perf_counter() - began) / count * 1e6


async def compare(engine: str, old: Database, new: Database, args: argparse.Namespace) -> None:
    sizes = [int(s) for s in args.sizes.split(",")]
    await prepare(old, steps=4, sizes=sizes)
    await prepare(new, steps=5, sizes=sizes)
    variants = {"row by row (step 4)": (old, ROW_BY_ROW), "summed (step 5)": (new, SUMMED)}
    read_us: dict[tuple[str, int], list[float]] = {}
    write_us: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(ROUNDS):
        for name, (db, count_sql) in variants.items():
            store.VISIBLE_COUNT = count_sql
            for size in sizes:
                last = await db.fetch_value(
                    "SELECT max(id) FROM messaging_messages WHERE session_id = ?",
                    (f"session_{size}",),
                )
                took = await reads(db, f"session_{size}", int(last) - 20, args.reads)
                read_us.setdefault((name, size), []).append(took)
            write_us[name].append(await writes(db, f"session_{sizes[0]}", args.writes))
    store.VISIBLE_COUNT = SUMMED
    print(f"\n{engine}: median of {ROUNDS} interleaved rounds, µs a statement")
    for name in variants:
        cells = ", ".join(
            f"{size:,} messages {statistics.median(read_us[(name, size)]):,.0f}" for size in sizes
        )
        write = write_us[name]
        print(
            f"  {name:20s} get_messages: {cells};  add_message {statistics.median(write):.0f}"
            f" (rounds {min(write):.0f}-{max(write):.0f})"
        )
    for db, _ in variants.values():
        await db.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="messages per session")
    parser.add_argument("--reads", type=int, default=20, help="reads per round and session")
    parser.add_argument("--writes", type=int, default=500, help="writes per round and variant")
    args = parser.parse_args()
    await on_both_engines("scs-visible-count-", lambda engine, a, b: compare(engine, a, b, args))


if __name__ == "__main__":
    asyncio.run(main())
