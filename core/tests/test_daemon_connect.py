"""`scs daemon start|status|stop` and `scs connect` (stdio onto one shared server)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport
from scs_server.testing import free_port, parse_error, parse_result, server_env

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.slow


def scs(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scs_server.cli", *args],
        env=env,
        cwd=env["SCS_DATA_DIR"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def daemon_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A data dir and a fixed free port; whatever daemon the test started is stopped."""
    env = server_env(tmp_path, SCS_PORT=str(free_port()))
    yield env
    record = tmp_path / "daemon.json"
    if record.exists():
        pid = int(json.loads(record.read_text())["pid"])
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)  # the daemon this test started, by its pid


def token_for(env: dict[str, str], agent_id: str) -> str:
    minted = scs(env, "token", "--agent-id", agent_id, "--ttl", "1d", "--name", agent_id)
    assert minted.returncode == 0, minted.stderr
    return minted.stdout.strip()


def connect_client(env: dict[str, str], token: str, *args: str) -> Client[Any]:
    transport = StdioTransport(
        command=sys.executable,
        args=["-m", "scs_server.cli", "connect", *args],
        env={**env, "SCS_TOKEN": token},
        cwd=env["SCS_DATA_DIR"],
    )
    return Client(transport)


async def call(client: Client[Any], tool: str, **arguments: Any) -> Any:
    result = await client.call_tool(tool, arguments, raise_on_error=False)
    if result.is_error:
        raise parse_error(result)
    return parse_result(result)


def test_daemon_start_status_stop(daemon_env: dict[str, str]) -> None:
    started = scs(daemon_env, "daemon", "start")
    assert started.returncode == 0, started.stderr
    assert "started scs" in started.stdout
    again = scs(daemon_env, "daemon", "start")
    assert again.returncode == 0 and "already" in again.stdout
    status = scs(daemon_env, "daemon", "status", "--json")
    assert status.returncode == 0, status.stderr
    shown = json.loads(status.stdout)
    port = daemon_env["SCS_PORT"]
    assert shown["running"] is True and shown["url"] == f"http://127.0.0.1:{port}/mcp"
    assert shown["version"] and "sessions" in shown["plugins"]
    assert shown["database"] == daemon_env["SCS_DATABASE_PATH"]
    assert isinstance(shown["uptime_s"], int) and isinstance(shown["pid"], int)

    busy = scs(daemon_env, "serve")  # the same port: one line, its own exit status
    assert busy.returncode == 3
    assert f"scs: error: port {port} is in use" in busy.stderr
    assert busy.stderr.strip().count("\n") == 0 or "Traceback" not in busy.stderr

    stopped = scs(daemon_env, "daemon", "stop")
    assert stopped.returncode == 0, stopped.stderr
    after = scs(daemon_env, "daemon", "status")
    assert after.returncode == 1 and "running   False" in after.stdout
    assert scs(daemon_env, "daemon", "stop").returncode == 1


async def test_two_connect_clients_share_one_daemon(daemon_env: dict[str, str]) -> None:
    alice, bob = token_for(daemon_env, "alice"), token_for(daemon_env, "bob")
    async with contextlib.AsyncExitStack() as stack:
        # both start at once with nothing answering: the lock lets one daemon start
        first, second = await asyncio.gather(
            stack.enter_async_context(connect_client(daemon_env, alice)),
            stack.enter_async_context(connect_client(daemon_env, bob)),
        )
        session = await call(first, "create_session", purpose="shared through the daemon")
        await call(first, "add_message", session_id=session["session_id"], content="hello bob")
        seen = await call(second, "get_messages", session_id=session["session_id"])
        assert [m["content"] for m in seen["messages"]] == ["hello bob"]
        assert seen["messages"][0]["sender"] == "alice"
        resource = await second.read_resource(f"session://{session['session_id']}")
        assert "hello bob" in resource[0].text  # resources carry SCS_TOKEN too
    log = (Path(daemon_env["SCS_DATA_DIR"]) / "daemon.log").read_text()
    assert log.count("listening on") == 1  # one server for both clients
    stopped = scs(daemon_env, "daemon", "stop")
    assert stopped.returncode == 0, stopped.stderr + log[-3000:]


async def test_connect_onto_a_running_server(scs_process: Any, tmp_path: Path) -> None:
    server = scs_process()
    env = server_env(tmp_path)
    token = token_for(env, "proxied")
    async with connect_client(env, token, "--url", server.url, "--no-start") as client:
        names = {tool.name for tool in await client.list_tools()}
        assert {"create_session", "refresh_token"} <= names
        created = await call(client, "create_session", purpose="via connect")
        view = await client.read_resource(f"session://{created['session_id']}")
        assert json.loads(view[0].text)["session"]["created_by"] == "proxied"


async def test_connect_mints_for_agent_id_from_the_data_dir(
    scs_process: Any, tmp_path: Path
) -> None:
    server = scs_process()
    env = {k: v for k, v in server_env(tmp_path).items() if k != "SCS_TOKEN"}
    transport = StdioTransport(
        command=sys.executable,
        args=[
            "-m",
            "scs_server.cli",
            "connect",
            "--url",
            server.url,
            "--no-start",
            "--agent-id",
            "minted",
        ],
        env=env,
        cwd=str(tmp_path),
    )
    async with Client(transport) as client:
        created = await call(client, "create_session", purpose="via connect")
        shown = await call(client, "get_session", session_id=created["session_id"])
        assert '"created_by": "minted"' in json.dumps(shown)  # the id --agent-id minted for
