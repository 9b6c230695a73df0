"""Small helpers shared by the bench scripts: processes, CPU and memory from /proc, statistics."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


@dataclass
class Child:
    """A server started as a subprocess; ``url`` is its MCP endpoint."""

    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        return self.process.returncode


def start_child(
    command: list[str], *, env: dict[str, str], cwd: Path, log_path: Path, timeout: float = 60
) -> Child:
    """Start a server and wait (bounded) for its ``listening on URL`` line."""
    with log_path.open("wb") as handle:
        process = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=handle, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log_path.read_text(errors="replace")
        for line in text.splitlines():
            if "listening on " in line:
                return Child(process, line.split("listening on ", 1)[1].strip(), log_path)
        if process.poll() is not None:
            raise RuntimeError(f"{command[2:4]} exited with {process.returncode}:\n{text}")
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"{command} did not start within {timeout}s")


def python() -> str:
    return sys.executable


def tool_error_code(result: Any) -> str:
    """The ``code`` of an MCP tool error (our JSON body), or ``TOOL_ERROR`` if it has none."""
    text = "".join(getattr(block, "text", "") for block in result.content)
    try:
        body = json.loads(text)
    except ValueError:
        return "TOOL_ERROR"
    return str(body.get("code") or "TOOL_ERROR") if isinstance(body, dict) else "TOOL_ERROR"


def tool_json(result: Any) -> Any:
    """The JSON object a successful tool call returned."""
    content = result.structured_content
    if content is not None:
        if isinstance(content, dict) and set(content) == {"result"}:
            return content["result"]
        return content
    return json.loads("".join(getattr(block, "text", "") for block in result.content))
