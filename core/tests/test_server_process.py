"""The real server as a subprocess: HTTP on an ephemeral loopback port, and stdio."""

from __future__ import annotations

import json
import signal
import sqlite3
import sys
from typing import TYPE_CHECKING, Any

import httpx2
import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport, StreamableHttpTransport
from scs_server.testing import API_KEY, endless_head, raw_http, server_env

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow


def base(url: str) -> str:
    return url.removesuffix("/mcp")


async def test_http_health_tools_and_auth(scs_process: Any, tmp_path: Path) -> None:
    server = scs_process()
    async with httpx2.AsyncClient(timeout=10) as http:
        health = await http.get(base(server.url) + "/health")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert "sessions" in body["plugins"]
    assert health.headers["x-content-type-options"] == "nosniff"
    # scs serve's HTTP parser bounds a request head (scs_server.http_parser)
    assert (await raw_http(server.url, endless_head())).startswith(b"HTTP/1.1 431 ")

    transport = StreamableHttpTransport(server.url, headers={"X-API-Key": API_KEY})
    async with Client(transport) as client:
        names = {tool.name for tool in await client.list_tools()}
        assert {"authenticate_agent", "refresh_token"} <= names
        minted = await client.call_tool(
            "authenticate_agent", {"agent_id": "proc", "agent_type": "claude"}
        )
        assert minted.structured_content["agent_id"] == "proc"
    assert server.stop(signal.SIGTERM) == 0
    with sqlite3.connect(tmp_path / "scs.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        audit = conn.execute("SELECT action, result FROM scs_audit").fetchall()
    assert ("authenticate", "success") in audit


async def test_stdio_transport(tmp_path: Path) -> None:
    transport = StdioTransport(
        command=sys.executable,
        args=["-m", "scs_server.cli", "serve", "--transport", "stdio"],
        env=server_env(tmp_path),
        cwd=str(tmp_path),
    )
    async with Client(transport) as client:
        names = {tool.name for tool in await client.list_tools()}
        assert "authenticate_agent" in names
        minted = await client.call_tool(
            "authenticate_agent", {"agent_id": "stdio-agent", "api_key": API_KEY}
        )
        assert minted.structured_content["token"]
        denied = await client.call_tool(
            "authenticate_agent", {"agent_id": "x", "api_key": "wrong"}, raise_on_error=False
        )
        assert denied.is_error
        assert json.loads(denied.content[0].text)["code"] == "AUTH_006"


def test_bad_setting_stops_startup_with_one_line(scs_process: Any, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError) as caught:
        scs_process(env=server_env(tmp_path, SCS_DB_POOL_SIZE="zero"))
    assert "SCS_DB_POOL_SIZE" in str(caught.value)
    assert "Traceback" not in str(caught.value)


def test_non_loopback_without_explicit_secrets_is_refused(tmp_path: Path) -> None:
    import subprocess

    env = {
        k: v
        for k, v in server_env(tmp_path).items()
        if k not in ("SCS_API_KEY", "SCS_JWT_SECRET_KEY")
    }
    done = subprocess.run(
        [sys.executable, "-m", "scs_server.cli", "serve", "--host", "0.0.0.0", "--port", "0"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "refusing to listen on 0.0.0.0" in done.stderr
    assert "SCS_API_KEY" in done.stderr
