"""The official MCP Inspector CLI (``@modelcontextprotocol/inspector --cli``, pinned in
tests/node-clients.txt) drives a real ``scs serve``: over streamable HTTP it lists the
tools and calls every one of them with valid minimal arguments (``STEPS``; a tool the
server lists without a step fails the test), and through ``scs connect`` over stdio it
lists the tools and calls a representative set (each stdio call starts its own
``scs connect``: every tool there would cost CI a minute).

Needs Node 22 and the Inspector in .cache/ (``.ci/install-clients``); skipped without
them unless SCS_TEST_REQUIRE_CONFORMANCE=1 (CI), then it fails.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import node_clients as nc
import pytest
from scs_server.testing import API_KEY, server_env

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow


AGENT = "inspector"
FILE = "file:src/inspected.py"


@dataclass
class Scene:
    """What earlier calls returned, for later calls' arguments."""

    values: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        return self.values[name]


Arguments = dict[str, Any] | Callable[[Scene], dict[str, Any]]
# (tool, arguments, what to keep from the result: name -> key of the result)
STEPS: list[tuple[str, Arguments, dict[str, str]]] = [
    (
        "authenticate_agent",
        {"agent_id": "inspector-helper", "api_key": API_KEY},
        {"helper": "token"},
    ),
    ("register_agent", {"agent_id": "inspector-registered", "api_key": API_KEY}, {}),
    ("get_usage_guidance", {}, {}),
    ("create_session", {"purpose": "inspected"}, {"sid": "session_id"}),
    ("get_session", lambda s: {"session_id": s["sid"]}, {}),
    ("list_sessions", {}, {}),
    (
        "add_message",
        lambda s: {"session_id": s["sid"], "content": "the inspector was here"},
        {"mid": "message_id"},
    ),
    ("get_messages", lambda s: {"session_id": s["sid"]}, {}),
    ("get_thread", lambda s: {"message_id": s["mid"]}, {}),
    ("wait_for_messages", lambda s: {"session_id": s["sid"], "after_id": 0, "timeout_s": 1}, {}),
    ("mark_read", lambda s: {"session_id": s["sid"], "up_to_message_id": s["mid"]}, {}),
    ("get_unread", {}, {}),
    (
        "send_direct_message",
        {"to": AGENT, "content": "a note to self", "ack_required": True},
        {"dm": "message_id"},
    ),
    ("fetch_inbox", {}, {}),
    ("acknowledge_message", lambda s: {"message_ids": [s["dm"]]}, {}),
    ("get_message_receipts", lambda s: {"message_id": s["dm"]}, {}),
    ("set_memory", {"key": "inspected", "value": {"n": 1}}, {}),
    ("get_memory", {"key": "inspected"}, {}),
    ("list_memory", {}, {}),
    ("delete_memory", {"key": "inspected"}, {}),
    ("search_context", lambda s: {"query": "inspector", "session_id": s["sid"]}, {}),
    ("search_by_sender", lambda s: {"session_id": s["sid"], "sender": AGENT}, {}),
    (
        "search_by_timerange",
        lambda s: {
            "session_id": s["sid"],
            "start_time": "2000-01-01T00:00:00Z",
            "end_time": "2100-01-01T00:00:00Z",
        },
        {},
    ),
    ("get_performance_metrics", {}, {}),
    ("acquire_lease", {"resources": [FILE], "ttl_s": 60}, {"lease": "lease_id"}),
    ("renew_lease", lambda s: {"lease_id": s["lease"]}, {}),
    ("list_leases", {}, {}),
    ("check_leases", {"resources": [FILE]}, {}),
    ("release_lease", lambda s: {"lease_id": s["lease"]}, {}),
    ("acquire_lease", {"resources": [FILE], "ttl_s": 60}, {"lease2": "lease_id"}),
    ("force_release_lease", lambda s: {"lease_id": s["lease2"]}, {}),
    ("export_session", lambda s: {"session_id": s["sid"]}, {}),
    ("set_retention", lambda s: {"session_id": s["sid"], "days": 30}, {}),
    ("hold_session", lambda s: {"session_id": s["sid"], "reason": "inspected"}, {}),
    ("release_hold", lambda s: {"session_id": s["sid"]}, {}),
    ("run_retention", {}, {}),
    ("close_session", lambda s: {"session_id": s["sid"]}, {}),
    ("revoke_token", lambda s: {"token": s["helper"]}, {}),
    ("refresh_token", {}, {}),
]
# one JSON answer on stdout; a generous connect timeout (each stdio call starts a Python)
QUIET_JSON = ["--format", "json", "-q", "--connect-timeout", "120000"]
STDIO_STEPS = ["create_session", "add_message", "get_messages", "search_context", "set_memory"]


def admin_token(tmp_path: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "scs_server.cli", "token", "--agent-id", AGENT, "--agent-type", "admin",
         "--permissions", "read,write,admin,debug", "--ttl", "1d", "--name", AGENT],
        env=server_env(tmp_path), cwd=tmp_path, capture_output=True, text=True, timeout=120,
        check=True,
    )  # fmt: skip
    return done.stdout.strip()


class Inspector:
    """``mcp-inspector --cli`` against one server: ``options`` say how to reach it (URL,
    headers; or stdio), ``command`` is the stdio server's command line."""

    def __init__(self, options: list[str], home: Path, command: list[str] | None = None) -> None:
        self.options = options
        self.command = ["--", *command] if command else []
        self.env = nc.node_env(home)
        self.launcher = str(nc.bin_path(nc.INSPECTOR, "mcp-inspector"))

    def run(self, *args: str) -> dict[str, Any]:
        done = nc.run_node(
            [self.launcher, "--cli", *self.options, *args, *QUIET_JSON, *self.command],
            self.env,
        )
        assert done.returncode == 0, f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
        answer: dict[str, Any] = json.loads(done.stdout)
        return answer["result"]

    def tools(self) -> list[str]:
        return [tool["name"] for tool in self.run("--method", "tools/list")["tools"]]

    def call(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        result = self.run(
            "--method", "tools/call", "--tool-name", tool, "--tool-args-json", json.dumps(arguments)
        )
        assert result.get("isError") is not True, (tool, result)
        body = result.get("structuredContent")
        if body is None:
            body = json.loads(result["content"][0]["text"])
        assert isinstance(body, dict) and body.get("success", True) is not False, (tool, body)
        return body


def play(inspector: Inspector, steps: list[tuple[str, Arguments, dict[str, str]]]) -> list[str]:
    """Call each step's tool, keeping what later steps need; the tools called, in order."""
    scene = Scene()
    called = []
    for tool, arguments, keep in steps:
        body = inspector.call(tool, arguments(scene) if callable(arguments) else arguments)
        for name, key in keep.items():
            scene.values[name] = body[key]
        called.append(tool)
    return called


def test_inspector_calls_every_tool_over_http(scs_process: Any, tmp_path: Path) -> None:
    nc.require(nc.INSPECTOR)
    server = scs_process()
    token = admin_token(tmp_path)
    inspector = Inspector(
        [server.url, "--transport", "http", "--header", f"Authorization: Bearer {token}"], tmp_path
    )
    listed = inspector.tools()
    assert {"create_session", "add_message", "acquire_lease", "export_session"} <= set(listed)
    called = play(inspector, STEPS)
    assert sorted(set(called)) == sorted(listed), "a tool without a step (add one to STEPS)"
    # the calls did what they say: the session exists, closed, with the inspector's message
    found = inspector.call("get_messages", {"session_id": "x"} | _last_session(inspector))
    assert [m["content"] for m in found["messages"]] == ["the inspector was here"]


def _last_session(inspector: Inspector) -> dict[str, Any]:
    sessions = inspector.call("list_sessions", {"include_closed": True})["sessions"]
    return {"session_id": sessions[0]["session_id"]}


def test_inspector_through_scs_connect_over_stdio(scs_process: Any, tmp_path: Path) -> None:
    nc.require(nc.INSPECTOR)
    server = scs_process()
    token = admin_token(tmp_path)
    connect = [sys.executable, "-m", "scs_server.cli", "connect", "--url", server.url, "--no-start"]
    target = ["--transport", "stdio", "-e", f"SCS_TOKEN={token}", "--cwd", str(tmp_path)]
    for name, value in server_env(tmp_path).items():
        if name.startswith("SCS_"):
            target += ["-e", f"{name}={value}"]
    inspector = Inspector(target, tmp_path, connect)
    listed = inspector.tools()
    assert set(STDIO_STEPS) <= set(listed) and len(listed) >= 30
    steps = [step for step in STEPS if step[0] in STDIO_STEPS]
    assert sorted(play(inspector, steps)) == sorted(STDIO_STEPS)
    found = inspector.call("search_context", {"query": "inspector was here"})
    assert found["results"], found
