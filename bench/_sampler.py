"""Run a server under a CPU-time sampling profiler that the bench switches on and off.

    python bench/_sampler.py OUT.json -m scs_server.cli serve ...   # a module
    python bench/_sampler.py OUT.json bench/noop_server.py ...      # a script

``SIGUSR1`` starts sampling: every ``INTERVAL_S`` of CPU time used by the process
(``ITIMER_PROF``: user + system, all threads) the main thread records its Python stack.
``SIGUSR2`` stops and writes ``OUT.json``: the sampled stacks with their counts, the
interval, and the round trips to PostgreSQL made meanwhile (psycopg ``wait`` calls that
reach the server, by what they waited for and the scs function that led there; the
change listener's ``notifies`` left out, a pipeline counted once). Time spent in C
(pydantic-core, sqlite3, libpq) lands on the Python frame that called it.

Samples cost ~10-20 us each (a stack walk): ~2-4 % at the default 0.5 ms.
"""

from __future__ import annotations

import json
import runpy
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from types import FrameType

INTERVAL_S = 0.0005
MAX_DEPTH = 80

stacks: Counter[tuple[tuple[str, str], ...]] = Counter()
waits: Counter[str] = Counter()
state = {"on": False}


def _sample(_signum: int, frame: FrameType | None) -> None:
    stack = []
    while frame is not None and len(stack) < MAX_DEPTH:
        code = frame.f_code
        stack.append((code.co_filename, code.co_name))
        frame = frame.f_back
    stacks[tuple(reversed(stack))] += 1


def _start(_signum: int, _frame: FrameType | None) -> None:
    stacks.clear()
    waits.clear()
    state["on"] = True
    signal.setitimer(signal.ITIMER_PROF, INTERVAL_S, INTERVAL_S)


def _stop_and_write(out: Path) -> Any:
    def stop(_signum: int, _frame: FrameType | None) -> None:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        state["on"] = False
        body = {
            "interval_s": INTERVAL_S,
            "samples": sum(stacks.values()),
            "stacks": [[list(map(list, stack)), count] for stack, count in stacks.items()],
            "pg_waits": dict(waits),
        }
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(body))
        tmp.replace(out)

    return stop


def _count_pg_waits() -> None:
    """Count the round trips to PostgreSQL while sampling, if psycopg is used: psycopg's
    network waits and ``pg_direct``'s answers."""
    try:
        from psycopg import AsyncConnection
    except ImportError:
        return
    original = AsyncConnection.wait

    async def wait(self: Any, gen: Any, *args: Any, **kwargs: Any) -> Any:
        name = getattr(gen, "__name__", "?")
        if state["on"] and _goes_out(self, name):
            waits[f"{name} <- {_caller()}"] += 1
        return await original(self, gen, *args, **kwargs)

    AsyncConnection.wait = wait  # type: ignore[method-assign]

    from scs_server.storage import pg_direct  # statements sent through libpq directly

    received = pg_direct._received

    async def counted(conn: Any, receive: Any) -> Any:
        if state["on"]:  # one statement's or one pipeline's answer: one round trip
            waits[f"{receive.__name__} <- {_caller()}"] += 1
        return await received(conn, receive)

    pg_direct._received = counted


def _goes_out(conn: Any, name: str) -> bool:
    """Whether a wait is a round trip: not the listener's, not a statement queued in a
    pipeline (the pipeline's sync at its exit is the trip), not a commit with nothing to
    commit (the pool's ``async with conn``)."""
    if name in ("notifies", "_enter_gen"):
        return False
    if conn._pipeline is not None and name not in ("_exit_gen", "_sync_gen"):
        return False
    return not (name == "_commit_gen" and conn.pgconn.transaction_status == 0)  # IDLE


def _caller() -> str:
    """The innermost frame of scs's code outside the storage package that led here."""
    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_code.co_filename
        if ("/scs_" in name) and "scs_server/storage/" not in name:
            return f"{name.rsplit('/src/', 1)[-1]}:{frame.f_code.co_name}"
        frame = frame.f_back
    return "?"


def main() -> None:
    out = Path(sys.argv[1])
    target = sys.argv[2:]
    signal.signal(signal.SIGPROF, _sample)
    signal.signal(signal.SIGUSR1, _start)
    signal.signal(signal.SIGUSR2, _stop_and_write(out))
    _count_pg_waits()
    if target[0] == "-m":
        sys.argv = [target[1], *target[2:]]
        runpy.run_module(target[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = target
        runpy.run_path(target[0], run_name="__main__")


if __name__ == "__main__":
    main()
