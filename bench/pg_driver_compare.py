"""psycopg (scs's data API) against asyncpg, through their pools, as a server uses them.

    uv run --with asyncpg python bench/pg_driver_compare.py     # ~2 minutes, a throwaway cluster

asyncpg is not a dependency of scs: ``--with`` fetches it for this run only. Per
operation, client CPU (this process, ``time.process_time``) and server CPU (PostgreSQL's
backends, from ``/proc``), medians of interleaved rounds:

- a point read (the revocation check's shape);
- an ``add_message``-shaped write: a transaction with one ``INSERT ... RETURNING``, one
  change-feed emit (``scs_emit``), then COMMIT. scs's data API sends BEGIN with the
  INSERT and the emit with COMMIT (two pipelines); asyncpg has no pipeline mode, so its
  transaction is four round trips;
- both on a pool borrow each, asyncpg's pool with and without its reset on release
  (``Connection.reset``: ``UNLISTEN``, advisory unlocks, ``RESET ALL`` on every release,
  which scs's pool does not need: its connections hold no session state).

Figures in docs/architecture.md ("psycopg vs asyncpg").
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from _common import interleaved_cpu_us, on_throwaway_postgres
from pg_statement_cpu import api_point_read, api_write_with_emit, bench_database

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable


async def measure(
    url: str, calls: int, rounds: int, postmaster: int
) -> dict[str, tuple[float, float]]:
    import asyncpg  # type: ignore[import-not-found,unused-ignore]

    db = await bench_database(url)

    async def no_reset(_connection: Any) -> None:
        return None

    pools = {
        "asyncpg, pool as shipped (reset on release)": await asyncpg.create_pool(
            url, min_size=4, max_size=4
        ),
        "asyncpg, pool without reset": await asyncpg.create_pool(
            url, min_size=4, max_size=4, reset=no_reset
        ),
    }

    def asyncpg_ops(pool: Any) -> tuple[Callable[[], Awaitable[None]], ...]:
        async def read() -> None:
            async with pool.acquire() as conn:
                await conn.fetchrow("SELECT 1 FROM t WHERE id = $1", 1)

        async def write() -> None:
            async with pool.acquire() as conn, conn.transaction():
                ident = await conn.fetchval(
                    "INSERT INTO t (a, b) VALUES ($1, $2) RETURNING id", "a", "b"
                )
                await conn.fetchval("SELECT scs_emit($1, $2, $3)", "t", f'{{"id":{ident}}}', "o")

        return read, write

    variants: dict[str, Callable[[], Awaitable[None]]] = {
        "point read: psycopg, scs data API": lambda: api_point_read(db),
        "write transaction + emit: psycopg, scs data API": lambda: api_write_with_emit(db),
    }
    for name, pool in pools.items():
        read, write = asyncpg_ops(pool)
        variants[f"point read: {name}"] = read
        variants[f"write transaction + emit: {name}"] = write
    try:
        figures = await interleaved_cpu_us(variants, calls, rounds, postmaster)
    finally:
        for pool in pools.values():
            await pool.close()
        await db.close()
    return dict(sorted(figures.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1500, help="calls per variant and round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    figures, load = on_throwaway_postgres(
        lambda url, postmaster: measure(url, args.calls, args.rounds, postmaster)
    )
    print(f"load average before {load:.2f}; medians of {args.rounds} rounds of {args.calls}")
    print("| operation: driver | µs CPU client | µs CPU PostgreSQL |")
    print("|---|---:|---:|")
    for name, (client, server) in figures.items():
        print(f"| {name} | {client:.0f} | {server:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
