"""Small helpers shared by the bench scripts: processes, CPU and memory from /proc, statistics."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import Any

from scs_server.testing import ServerProcess, launch, parse_error, parse_result

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # after the ")" field 3 of stat(5) is index 0: utime is field 14, stime field 15
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def children_cpu_seconds(parent: int) -> float:
    """CPU seconds used so far by the living children of ``parent`` (e.g. PostgreSQL's
    backends, under its postmaster); a child that exits takes its share with it."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:  # ppid is field 4 of stat(5): index 1 after ")"
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


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
