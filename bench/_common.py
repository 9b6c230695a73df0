"""Small helpers shared by the bench scripts: processes, CPU and memory from /proc, statistics."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from scs_server.storage.cluster import PostgresCluster, find_binaries
from scs_server.testing import ServerProcess, launch, parse_error, parse_result

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping

    from scs_server.storage import Database

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
T = TypeVar("T")


def _stat_fields(path: Path) -> list[str] | None:
    """The fields of a ``/proc/<pid>/stat`` after the command name (None when it is gone):
    index 1 is the parent's pid, 11 and 12 the user and system CPU in clock ticks."""
    try:
        return path.read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (0 when it is gone)."""
    fields = _stat_fields(Path(f"/proc/{pid}/stat"))
    return 0.0 if fields is None else (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def children_cpu_seconds(parent: int) -> float:
    """CPU seconds used so far by the living children of ``parent`` (e.g. PostgreSQL's
    backends, under its postmaster); a child that exits takes its share with it."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        fields = _stat_fields(stat)
        if fields is not None and int(fields[1]) == parent:
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


async def client_and_server_cpu_us(
    operation: Callable[[], Awaitable[object]], calls: int, postmaster: int
) -> tuple[float, float]:
    """µs of CPU per call of ``operation``: this process's, and PostgreSQL's backends'
    (children of ``postmaster``); after a warm-up (psycopg prepares after 5 executions)."""
    for _ in range(max(20, calls // 20)):
        await operation()
    server = children_cpu_seconds(postmaster)
    started = time.process_time()
    for _ in range(calls):
        await operation()
    client = (time.process_time() - started) / calls * 1e6
    return client, (children_cpu_seconds(postmaster) - server) / calls * 1e6


async def interleaved_cpu_us(
    variants: Mapping[str, Callable[[], Awaitable[object]]],
    calls: int,
    rounds: int,
    postmaster: int,
) -> dict[str, tuple[float, float]]:
    """``client_and_server_cpu_us`` of each variant, ``rounds`` times in turn (so a change
    in the machine's speed touches every variant alike); the medians, by name."""
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, operation in variants.items():
            runs[name].append(await client_and_server_cpu_us(operation, calls, postmaster))
    return {
        name: (statistics.median(c for c, _ in values), statistics.median(s for _, s in values))
        for name, values in runs.items()
    }


def on_throwaway_postgres(
    measure: Callable[[str, int], Coroutine[Any, Any, T]],
) -> tuple[T, float]:
    """``measure(url, postmaster_pid)`` on a fresh database of a throwaway cluster (the
    test suite's, on this machine's binaries); its result and the load average before."""
    from load import start_postgres

    cluster = start_postgres()
    try:
        load = os.getloadavg()[0]
        url = cluster.create_database()
        return asyncio.run(measure(url, cluster.postmaster_pid())), load
    finally:
        cluster.destroy()


@contextlib.contextmanager
def throwaway_cluster() -> Iterator[PostgresCluster | None]:
    """A started PostgreSQL cluster of this machine's binaries, destroyed afterwards;
    None (said on stdout) when there are no binaries."""
    binaries = find_binaries()
    if binaries is None:
        print("PostgreSQL: no binaries (initdb) found; skipped")
        yield None
        return
    cluster = PostgresCluster(binaries)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.destroy()


async def on_both_engines(
    prefix: str, compare: Callable[[str, Database, Database], Awaitable[None]]
) -> None:
    """``compare(engine, a, b)`` on two fresh SQLite files, then on two fresh databases of
    a throwaway PostgreSQL cluster (skipped, said on stdout, without its binaries)."""
    from scs_server.storage.postgres import PostgresDatabase
    from scs_server.storage.sqlite import SqliteDatabase

    folder = Path(tempfile.mkdtemp(prefix=prefix))
    await compare("SQLite", SqliteDatabase(folder / "a.db"), SqliteDatabase(folder / "b.db"))
    with throwaway_cluster() as cluster:
        if cluster is None:
            return
        a = PostgresDatabase(cluster.create_database(), pool_size=4)
        b = PostgresDatabase(cluster.create_database(), pool_size=4)
        await compare("PostgreSQL", a, b)


def rss_kib(pid: int) -> int:
    """Resident set size of a process in KiB (VmRSS), 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by nearest rank; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[rank]


# one way to start and stop a server process, shared with the test suite
Child = ServerProcess
start_child = launch


def python() -> str:
    return sys.executable


def tool_error_code(result: Any) -> str:
    """The ``code`` of an MCP tool error (our JSON body), or ``TOOL_ERROR`` if it has none."""
    return parse_error(result).code or "TOOL_ERROR"


def tool_json(result: Any) -> Any:
    """The JSON object a successful tool call returned."""
    return parse_result(result)
