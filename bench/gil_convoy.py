"""Why CPU-heavy work gets ONE thread and a 1 ms switch interval (``scs_server.cpu``).

    uv run python bench/gil_convoy.py            # ~20 s
    uv run python bench/gil_convoy.py --rounds 600

An event loop does what serving a request does: several socket round trips, each of
which lets go of the interpreter lock. Meanwhile N threads run Python code (as ranking,
index loads and previews do). Reported: the p50/p99 of one 5-round-trip exchange for
N busy threads and a switch interval, against the floor (no busy thread) measured in the
same run. The loop waits up to one switch interval per busy thread each time it wants
the lock back, so both numbers matter.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import threading
import time

CONFIGS = ((0, 0.005), (6, 0.005), (1, 0.005), (6, 0.001), (1, 0.001))


def busy(stop: threading.Event) -> None:
    while not stop.is_set():
        total = 0
        for i in range(20_000):
            total += i * i


async def exchange_times(threads: int, interval: float, rounds: int) -> list[float]:
    sys.setswitchinterval(interval)
    stop = threading.Event()
    workers = [threading.Thread(target=busy, args=(stop,)) for _ in range(threads)]
    for worker in workers:
        worker.start()
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    loop = asyncio.get_running_loop()
    times = []
    try:
        for _ in range(rounds):
            started = time.perf_counter()
            for _ in range(5):
                await loop.sock_sendall(a, b"x" * 100)
                await loop.sock_recv(b, 100)
            times.append(time.perf_counter() - started)
            await asyncio.sleep(0.002)
    finally:
        stop.set()
        for worker in workers:
            worker.join()
        a.close()
        b.close()
        sys.setswitchinterval(0.005)
    return sorted(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}, {args.rounds} exchanges each")
    print(f"{'busy threads':>12} {'switch ms':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for threads, interval in CONFIGS:
        times = asyncio.run(exchange_times(threads, interval, args.rounds))
        p50, p99 = times[len(times) // 2], times[int(len(times) * 0.99) - 1]
        print(f"{threads:>12} {interval * 1000:>9.1f} {p50 * 1000:>8.2f} {p99 * 1000:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
