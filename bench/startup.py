"""How fast does scs start? Side by side with a bare FastMCP server, medians of N runs.

Measures, alternating the two servers run by run (so both see the same machine load):

* spawn to first HTTP answer: ``python -m scs_server.cli serve`` (default plugins, an existing
  database) vs ``bench/bare_server.py`` (FastMCP, one tool, same uvicorn settings); the
  clock starts before ``Popen`` and stops at the first HTTP response on the port
  (any status: it is the first moment the server answers);
* ``python -c "import scs_server.cli"`` vs ``python -c "import fastmcp.server.server, uvicorn"``;
* ``scs --help``, ``scs version`` and ``scs token`` wall time (targets: under 0.5 s), and
  the floor of a light command (``floor_cli``): a ``python -c`` importing what ``scs
  token`` cannot do without (click, asyncio, sqlite3, pydantic) and validating one
  pydantic model; ``scs token`` / floor says what start-up work of ours is left.

Each figure also comes as CPU seconds (user + system) of the process measured, up to
the same moment (``cpu_*``): on a loaded machine wall times mostly measure the wait for
a core, the CPU time is what the start-up itself costs.

    uv run python bench/startup.py            # 5 rounds, about 40 s on an idle 2-core box
    uv run python bench/startup.py --runs 9 --json

The verdict: scs's start within 1.2x the bare server (ratio of medians; the CPU ratio
beside it).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import BENCH_DIR
from scs_server.testing import free_port, server_env

TARGET_RATIO = 1.2
CLI_TARGET_S = 0.5
CLI_FLOOR = (
    "import asyncio, click, json, logging, pathlib, secrets, sqlite3\n"
    "from pydantic import BaseModel\n"
    "class Floor(BaseModel):\n"
    "    port: int = 1\n"
    "Floor(port=2)"
)


def answers(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        connection.request("GET", "/health")
        connection.getresponse().read()
    except OSError:
        return False
    finally:
        connection.close()
    return True


def cpu_of(pid: int) -> float:
    """CPU seconds (user + system) the process ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def time_to_answer(
    command: list[str], env: dict[str, str], cwd: Path, port: int
) -> tuple[float, float]:
    """Seconds from spawn to the first HTTP answer on ``port`` (polled every 5 ms, 60 s
    max), and the server's CPU seconds by then."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = started + 60
        while time.perf_counter() < deadline:
            if answers(port):
                return time.perf_counter() - started, cpu_of(process.pid)
            if process.poll() is not None:
                raise RuntimeError(f"{command} exited with {process.returncode}")
            time.sleep(0.005)
        raise RuntimeError(f"{command} did not answer within 60 s")
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(20)


def wall(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall seconds of ``command`` and its CPU seconds (user + system)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, env=env, cwd=cwd, capture_output=True, check=True, timeout=60)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="rounds (medians over them)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    py = sys.executable
    names = (
        "serve_scs",
        "serve_bare",
        "import_scs_cli",
        "import_bare",
        "scs_help",
        "scs_version",
        "scs_token",
        "floor_cli",
    )
    samples: dict[str, list[float]] = {name: [] for name in (*names, *(f"cpu_{n}" for n in names))}
    with tempfile.TemporaryDirectory() as scratch:
        home = Path(scratch)
        env = server_env(home)
        env.pop("SCS_LOG_LEVEL", None)
        scs = [py, "-m", "scs_server.cli"]
        subprocess.run(
            [*scs, "check", "--fix"], env=env, cwd=home, capture_output=True, check=False
        )
        for round_ in range(args.runs + 1):  # round 0 warms the disk cache, not counted
            port = free_port()
            bare = time_to_answer(
                [py, str(BENCH_DIR / "bare_server.py"), str(port)], env, home, port
            )
            port = free_port()
            served = time_to_answer([*scs, "serve", "--port", str(port)], env, home, port)
            measured = {
                "serve_bare": bare,
                "serve_scs": served,
                "import_bare": wall([py, "-c", "import fastmcp.server.server, uvicorn"], env, home),
                "import_scs_cli": wall([py, "-c", "import scs_server.cli"], env, home),
                "scs_help": wall([*scs, "--help"], env, home),
                "scs_version": wall([*scs, "version"], env, home),
                "scs_token": wall([*scs, "token", "--agent-id", f"bench-{round_}"], env, home),
                "floor_cli": wall([py, "-c", CLI_FLOOR], env, home),
            }
            timings = {name: pair[0] for name, pair in measured.items()}
            timings.update({f"cpu_{name}": pair[1] for name, pair in measured.items()})
            if round_ > 0:
                for name, value in timings.items():
                    samples[name].append(value)
            print(
                f"round {round_}: " + " ".join(f"{k}={v:.2f}" for k, v in timings.items()),
                file=sys.stderr,
            )
    medians = {name: statistics.median(values) for name, values in samples.items()}
    result = {
        "runs": args.runs,
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "median_s": {name: round(value, 3) for name, value in medians.items()},
        "serve_ratio": round(medians["serve_scs"] / medians["serve_bare"], 3),
        "import_ratio": round(medians["import_scs_cli"] / medians["import_bare"], 3),
        "serve_cpu_ratio": round(medians["cpu_serve_scs"] / medians["cpu_serve_bare"], 3),
        "token_floor_ratio": round(medians["scs_token"] / medians["floor_cli"], 3),
        "token_floor_cpu_ratio": round(medians["cpu_scs_token"] / medians["cpu_floor_cli"], 3),
    }
    result["serve_within_target"] = result["serve_ratio"] <= TARGET_RATIO
    result["cli_within_target"] = all(
        medians[name] < CLI_TARGET_S for name in ("scs_help", "scs_version", "scs_token")
    )
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for name, value in result["median_s"].items():
        print(f"{name:<16} {value:7.3f} s")
    print(f"serve ratio scs/bare: {result['serve_ratio']:.2f} (target <= {TARGET_RATIO})")
    print(f"serve CPU ratio scs/bare: {result['serve_cpu_ratio']:.2f}")
    print(f"load average: {result['load_average']}")
    print(f"import ratio scs_server.cli/bare: {result['import_ratio']:.2f}")
    print(
        f"scs token / light-command floor: {result['token_floor_ratio']:.2f} wall, "
        f"{result['token_floor_cpu_ratio']:.2f} CPU"
    )


if __name__ == "__main__":
    main()
