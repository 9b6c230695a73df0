"""What the HTTP parser costs a call: h11 against scs serve's bounded httptools.

Two no-op floor servers (``noop_server.py --http h11`` and ``--http httptools``), one
agent's closed loop of ``add_message`` on each, in alternating rounds so that a change
in the machine's speed touches both alike; the server's CPU a call from ``/proc``.

    uv run python bench/http_parser.py                 # 8 rounds of 400 calls, ~1 minute
    uv run python bench/http_parser.py --rounds 4 --calls 200
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from _common import BENCH_DIR, cpu_seconds, start_child
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

PARSERS = ("h11", "httptools")
ADD = {"session_id": "s", "content": "noop hello world"}


async def server_cpu_us(client: Client[Any], pid: int, calls: int) -> float:
    """µs of the server's CPU a call over ``calls`` closed-loop calls."""
    before = cpu_seconds(pid)
    for _ in range(calls):
        await client.call_tool("add_message", ADD)
    return (cpu_seconds(pid) - before) / calls * 1e6


async def measure(
    urls: dict[str, str], pids: dict[str, int], rounds: int, calls: int
) -> dict[str, list[float]]:
    """Each parser's CPU a call, round by round (the order alternates)."""
    clients = {name: Client(StreamableHttpTransport(url)) for name, url in urls.items()}
    runs: dict[str, list[float]] = {name: [] for name in urls}
    for client in clients.values():
        await client.__aenter__()
    try:
        for name, client in clients.items():  # warm-up
            await server_cpu_us(client, pids[name], 100)
        for number in range(rounds):
            order = PARSERS if number % 2 == 0 else PARSERS[::-1]
            for name in order:
                runs[name].append(await server_cpu_us(clients[name], pids[name], calls))
    finally:
        for client in clients.values():
            await client.__aexit__(None, None, None)
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--calls", type=int, default=400, help="calls a round and parser")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="scs-http-parser-") as folder:
        servers = {
            name: start_child(
                [sys.executable, str(BENCH_DIR / "noop_server.py"), "--http", name],
                env=dict(os.environ),
                cwd=Path(folder),
                log_path=Path(folder) / f"{name}.log",
            )
            for name in PARSERS
        }
        try:
            runs = asyncio.run(
                measure(
                    {name: server.url or "" for name, server in servers.items()},
                    {name: server.pid for name, server in servers.items()},
                    args.rounds,
                    args.calls,
                )
            )
        finally:
            for server in servers.values():
                server.stop(signal.SIGTERM)
    medians = {name: statistics.median(values) for name, values in runs.items()}
    for name in PARSERS:
        rounds = ", ".join(f"{value:.0f}" for value in runs[name])
        print(f"{name:10s} server CPU a call: median {medians[name]:.0f} µs (rounds {rounds})")
    saved = medians["h11"] - medians["httptools"]
    by_round = ", ".join(
        f"{h - t:.0f}" for h, t in zip(runs["h11"], runs["httptools"], strict=True)
    )
    print(
        f"httptools saves {saved:.0f} µs a call ({saved / medians['h11']:.1%}); by round: {by_round}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
