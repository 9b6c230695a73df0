"""Claude Code (``@anthropic-ai/claude-code``, pinned in tests/node-clients.txt) takes the
line ``scs client-config claude`` prints, as it is, and reports the server connected.

``claude mcp add`` and ``claude mcp list`` need no login and no network beyond loopback
(HOME is a temporary directory; telemetry and updates are off). ``claude mcp list`` only
checks that the server answers MCP (a wrong token connects too: scs checks tokens per
call), so the test also reads the header back from the configuration Claude Code wrote
and calls a tool with it. Needs the package in .cache/ (``.ci/install-clients``); skipped
without it unless SCS_TEST_REQUIRE_CONFORMANCE=1 (CI), then it fails.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import node_clients as nc
import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from scs_server.testing import parse_result, server_env

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow


def claude(home: Path, *args: str) -> str:
    env = nc.node_env(
        home,
        DISABLE_AUTOUPDATER="1",
        DISABLE_TELEMETRY="1",
        DISABLE_ERROR_REPORTING="1",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
    )
    done = subprocess.run(
        [str(nc.bin_path(nc.CLAUDE_CODE, "claude")), *args],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, (
        f"claude {args[:2]}: exit {done.returncode}\n{done.stdout}{done.stderr}"
    )
    return done.stdout


async def test_claude_code_adds_the_printed_line_and_connects(
    scs_process: Any, tmp_path: Path
) -> None:
    nc.require(nc.CLAUDE_CODE)
    server = scs_process()
    port = str(urlsplit(server.url).port)
    printed = subprocess.run(
        [
            sys.executable,
            "-m",
            "scs_server.cli",
            "client-config",
            "claude",
            "--name",
            "claude-test",
        ],
        env=server_env(tmp_path, SCS_PORT=port),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout.strip()
    line = shlex.split(printed)
    assert line[:5] == ["claude", "mcp", "add", "--transport", "http"] and server.url in line

    home = tmp_path / "home"
    home.mkdir()
    claude(home, *line[1:])  # exactly as printed, with the `claude` the test installed
    listed = claude(home, "mcp", "list")
    entry = next(row for row in listed.splitlines() if row.startswith("scs:"))
    assert server.url in entry and "Connected" in entry, listed

    config = json.loads((home / ".claude.json").read_text())
    servers = [
        project["mcpServers"]["scs"]
        for project in config.get("projects", {}).values()
        if "scs" in project.get("mcpServers", {})
    ]
    assert len(servers) == 1 and servers[0]["url"] == server.url
    headers = servers[0]["headers"]
    assert headers["Authorization"] == line[line.index("--header") + 1].split(": ", 1)[1]
    # what Claude Code will send identifies the agent client-config minted for
    transport = StreamableHttpTransport(server.url, headers=headers)
    async with Client(transport) as client:
        result = await client.call_tool("create_session", {"purpose": "from claude code"})
    assert parse_result(result)["created_by"] == "claude"
