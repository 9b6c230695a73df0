"""Bad input: hypothesis throws hostile arguments at every registered tool.

Every answer is a success or a typed error (a known code, never INTERNAL_001), and a
refused call changes nothing in the database. Over real HTTP, malformed JSON-RPC bodies
and oversized bodies get a 4xx and the server stays healthy.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import sqlite3
import threading
from typing import TYPE_CHECKING, Any

import httpx2
import pytest
from fastmcp import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scs_server.app import create_app
from scs_server.errors import ErrorCode
from scs_server.testing import ADMIN_API_KEY, API_KEY, make_settings

from .conftest import GENEROUS_LIMITS, client_for, mint, process_env

if TYPE_CHECKING:
    from collections.abc import Coroutine
    from pathlib import Path

    from scs_server.app import App

pytestmark = pytest.mark.slow

EXAMPLES_PER_TOOL = 40
KNOWN_CODES = {code.value for code in ErrorCode} - {ErrorCode.INTERNAL.value}
AUDIT_TABLES = {"scs_audit"}  # refusals are audited on purpose: not "a change"

SPECIAL_TEXT = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfffy",
    "\ufeff\u202e\u200b",
    "🙂" * 500,
    "' OR 1=1 --",
    "'; DROP TABLE messages; --",
    '" OR ""="',
    "%_\\%",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "../../etc/passwd",
    "session_0000000000000000",
    "null",
    "NaN",
    "1e309",
    "x" * 200_000,
    "é" * 70_000,
    "{" * 5000,
]


def deep(depth: int, kind: str) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value] if kind == "list" else {"k": value}
    return value


texts = st.one_of(
    st.sampled_from(SPECIAL_TEXT),
    st.text(max_size=40),
    st.text(st.characters(categories=["Cs", "Cc", "Zs", "So"]), max_size=20),
)
numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 1, 2**31, 2**63, -(2**63) - 1, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
nested = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12,
)


def deep_text(depth: int, kind: str) -> str:
    """JSON text nested ``depth`` deep: metadata may be sent as its text, and text is always
    sendable (the MCP client refuses to encode objects nested past its own limit)."""
    if kind == "list":
        return "[" * depth + "]" * depth
    return '{"k":' * depth + "1" + "}" * depth


def wide(size: int, kind: str) -> Any:
    return list(range(size)) if kind == "list" else {f"k{n}": n for n in range(size)}


def cursor_of(value: Any) -> str:
    """A cursor-shaped argument: base64url of any JSON text (lone surrogates included)."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    raw = text.encode("utf-8", "surrogatepass")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


kinds = st.sampled_from(["list", "dict"])
# around the depth limit (32), past what a reader can show (254), past the parser (~1000)
depths = st.sampled_from([31, 32, 33, 300, 5000])
json_values = st.one_of(
    nested,
    st.builds(deep, st.sampled_from([31, 32, 33, 50, 500, 3000]), kinds),
    st.builds(wide, st.sampled_from([200, 5000]), kinds),
    st.builds(deep_text, depths, kinds),
)
cursors = st.one_of(
    st.builds(cursor_of, nested),
    st.builds(cursor_of, st.lists(texts, min_size=1, max_size=3)),
    st.builds(cursor_of, st.builds(deep_text, depths, kinds)),
    st.builds(cursor_of, st.sampled_from(['["\\ud800", "k"]', '["a", 1]', '{"a":', "null"])),
)
hostile = st.one_of(scalars, json_values, cursors)


class LoopThread:
    """An event loop in a thread: hypothesis runs synchronously, the server asynchronously."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def digest(db_path: Path) -> dict[str, str]:
    """A hash of every row of each table but the audit log."""
    hashes = {}
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        for table in tables:
            if table in AUDIT_TABLES:
                continue
            sha = hashlib.sha256()
            rows = conn.execute(f'SELECT * FROM "{table}" ORDER BY rowid').fetchall()
            if table == "sqlite_sequence":  # the audit log's counter moves with it
                rows = [r for r in rows if r[0] not in AUDIT_TABLES]
            for row in rows:
                sha.update(repr(row).encode("utf-8", "surrogatepass"))
            hashes[table] = sha.hexdigest()[:16]
    return hashes


def plausible(name: str, schema: dict[str, Any], context: dict[str, Any]) -> Any:
    """A value that passes validation for a parameter, so that fuzzing reaches deeper code."""
    if name in context:
        return context[name]
    kind = schema.get("type")
    if kind == "integer":
        return max(1, int(schema.get("minimum", 1)))
    if kind == "number":
        return 50
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if kind == "object":
        return {}
    if "enum" in schema:
        return schema["enum"][0]
    return "fuzz"


def check_answer(tool: str, arguments: dict[str, Any], result: Any) -> bool:
    """Assert the answer is a success or a typed error; return True if it was an error."""
    if not result.is_error:
        return False
    text = "".join(getattr(block, "text", "") for block in result.content)
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    shown = {k: repr(v)[:80] for k, v in arguments.items() if k != "auth_token"}
    assert isinstance(body, dict), f"{tool}({shown}) gave an untyped error: {text[:300]}"
    assert body.get("code") in KNOWN_CODES, f"{tool}({shown}) gave {body}"
    assert body.get("success") is False and body.get("error"), body
    return True


@pytest.fixture
def hosted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.chdir(tmp_path)
    # waits longer than 1 s are refused: wait_for_messages must answer, not block the fuzzing
    quick = {"SCS_MEMORY_SWEEP_INTERVAL_S": "86400", "SCS_MESSAGING_MAX_WAIT_S": "1"}
    for name, value in {**GENEROUS_LIMITS, **quick}.items():
        monkeypatch.setenv(name, value)
    runner = LoopThread()
    app: App = runner.run(create_app(make_settings(tmp_path)))
    client: Client[Any] = Client(app.server)
    done = asyncio.Event()
    entered = threading.Event()

    async def hold() -> None:
        async with client:
            entered.set()
            await done.wait()

    holder = asyncio.run_coroutine_threadsafe(hold(), runner.loop)
    assert entered.wait(30)
    yield runner, app, client, tmp_path / "scs.db"
    runner.loop.call_soon_threadsafe(done.set)
    holder.result(30)
    runner.run(app.close())
    runner.close()


async def mint_in(client: Client[Any], agent_id: str, agent_type: str) -> str:
    key = ADMIN_API_KEY if agent_type == "admin" else API_KEY
    result = await client.call_tool(
        "authenticate_agent", {"agent_id": agent_id, "agent_type": agent_type, "api_key": key}
    )
    token: str = result.structured_content["token"]
    return token


class Fuzzer:
    """Calls tools in memory and checks each answer, and that refusals change nothing."""

    def __init__(self, hosted: Any) -> None:
        self.runner, _app, self.client, self.db_path = hosted
        self.user = self.runner.run(mint_in(self.client, "fuzzer", "claude"))
        self.admin = self.runner.run(mint_in(self.client, "fuzz-admin", "admin"))
        self.context = self.runner.run(self._setup())
        self.tools = self.runner.run(self.client.list_tools())
        self.digest = digest(self.db_path)
        self.calls = self.errors = self.unsendable = 0

    async def _setup(self) -> dict[str, Any]:
        token = {"auth_token": self.user}
        made = await self.client.call_tool("create_session", {"purpose": "fuzz", **token})
        session_id = made.structured_content["session_id"]
        added = await self.client.call_tool(
            "add_message", {"session_id": session_id, "content": "hello", **token}
        )
        message_id = added.structured_content["message_id"]
        return {
            "session_id": session_id,
            "message_id": message_id,
            "parent_message_id": message_id,
            "content": "fuzz content",
            "purpose": "fuzz purpose",
            "query": "hello",
            "key": "fuzz-key",
            "value": {"a": 1},
            "agent_id": "fuzzer",
            "sender": "fuzzer",
            "start_time": "2020-01-01T00:00:00Z",
            "end_time": "2099-01-01T00:00:00Z",
            "token": "not-a-token",
            "current_token": "not-a-token",
        }

    @staticmethod
    def schema(tool: Any) -> tuple[dict[str, Any], list[str]]:
        properties: dict[str, Any] = dict(tool.input_schema.get("properties") or {})
        properties.pop("auth_token", None)
        required = [p for p in tool.input_schema.get("required") or [] if p != "auth_token"]
        return properties, required

    def base(self, tool: Any) -> dict[str, Any]:
        """Valid values for the required parameters (closing the shared session would starve
        the other tools of a live one, so close_session gets an unknown id)."""
        properties, required = self.schema(tool)
        own = self.context
        if tool.name == "close_session":
            own = {**own, "session_id": "session_" + "f" * 16}
        return {name: plausible(name, properties[name], own) for name in required}

    def call(self, tool: str, arguments: dict[str, Any], as_admin: bool = False) -> None:
        arguments = {**arguments, "auth_token": self.admin if as_admin else self.user}
        before = self.digest
        try:
            result = self.runner.run(self.client.call_tool(tool, arguments, raise_on_error=False))
        except (UnicodeEncodeError, ValueError) as error:
            # the MCP client refuses to encode it (lone surrogate in a key, depth): never
            # sent; test_raw_tool_calls_with_unencodable_arguments sends such JSON itself
            assert "surrogates" in str(error) or "depth" in str(error), error
            self.unsendable += 1
            return
        failed = check_answer(tool, arguments, result)
        after = digest(self.db_path)
        self.calls += 1
        if failed:
            self.errors += 1
            changed = sorted(t for t in after if after[t] != before.get(t))
            assert after == before, f"refused {tool} changed table(s) {changed}"
        self.digest = after


def fuzz_tool(fuzzer: Fuzzer, tool: Any) -> None:
    """Hypothesis examples for one tool: mutated valid calls, random and extra arguments."""
    properties, _ = fuzzer.schema(tool)
    names = sorted(properties) or ["unused"]
    base = fuzzer.base(tool)

    @settings(
        max_examples=EXAMPLES_PER_TOOL,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        data=st.data(),
        mode=st.sampled_from(["mutate", "mutate", "random", "extra"]),
        as_admin=st.booleans(),
    )
    def fuzz(data: st.DataObject, mode: str, as_admin: bool) -> None:
        if mode == "mutate":
            fields = data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=3))
            arguments = {**base, **{f: data.draw(hostile) for f in fields}}
        elif mode == "random":
            arguments = data.draw(st.dictionaries(st.sampled_from(names), hostile, max_size=4))
        else:
            extra = data.draw(st.dictionaries(texts, hostile, min_size=1, max_size=3))
            arguments = {**base, **extra}
        fuzzer.call(tool.name, arguments, as_admin)

    fuzz()


def test_every_tool_answers_hostile_arguments_with_typed_errors(hosted: Any) -> None:
    fuzzer = Fuzzer(hosted)
    assert len(fuzzer.tools) >= 10
    for tool in fuzzer.tools:
        fuzz_tool(fuzzer, tool)
    assert fuzzer.calls + fuzzer.unsendable == EXAMPLES_PER_TOOL * len(fuzzer.tools)
    assert fuzzer.errors > fuzzer.calls // 2  # the inputs really were hostile


SWEEP_VALUES: list[Any] = [
    "\ud800",
    "a\x00b",
    "x" * 200_000,
    "'; DROP TABLE messages; --",
    "<script>alert(1)</script>",
    -1,
    2**64,
    [],
    {"$": None},
    deep(50, "dict"),
    deep_text(300, "dict"),  # once poisoned a session for every reader
    wide(5000, "dict"),
    cursor_of(["\ud800", "k"]),
]


def test_each_parameter_of_each_tool_with_each_nasty_value(hosted: Any) -> None:
    """The same checks, systematically: every parameter gets every value above once."""
    fuzzer = Fuzzer(hosted)
    for tool in fuzzer.tools:
        properties, _ = fuzzer.schema(tool)
        base = fuzzer.base(tool)
        for name in properties:
            for value in SWEEP_VALUES:
                fuzzer.call(tool.name, {**base, name: value})
    assert fuzzer.errors > 0
    assert fuzzer.calls + fuzzer.unsendable == len(SWEEP_VALUES) * sum(
        len(fuzzer.schema(tool)[0]) for tool in fuzzer.tools
    )


@pytest.mark.parametrize(
    "uri",
    [
        "session://%00",
        "session://' OR 1=1 --",
        "session://" + "x" * 5000,
        "session://x/messages/-1",
        "session://x/messages/99999999999999999999",
        "session://x/messages/abc",
        "agent://%2e%2e/memory",
        "agent://<script>/memory",
        "nope://x",
    ],
)
def test_hostile_resource_uris_get_typed_errors(hosted: Any, uri: str) -> None:
    runner, _app, client, db_path = hosted
    before = digest(db_path)
    with pytest.raises(Exception) as caught:  # noqa: PT011 - the MCP client raises its own type
        runner.run(client.read_resource(uri))
    assert "INTERNAL_001" not in str(caught.value)
    assert digest(db_path) == before


# -- over real HTTP -----------------------------------------------------------------------

MCP_HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
BAD_BODIES: list[bytes] = [
    b"",
    b"{",
    b"[]",
    b"null",
    b"42",
    b'"text"',
    b"\xff\xfe\xfa",
    b'{"jsonrpc": "2.0"}',
    b'{"jsonrpc": "1.0", "id": 1, "method": "initialize"}',
    b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": "x"}',
    b'{"jsonrpc": "2.0", "id": {"a": 1}, "method": "tools/list"}',
    b'{"jsonrpc": "2.0", "id": 1, "method": "' + b"m" * 10_000 + b'"}',
    b"[" * 20_000 + b"]" * 20_000,
    b'{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": '
    + b'{"k": ' * 3000
    + b"1"
    + b"}" * 3001,
]


async def test_malformed_and_oversized_http_bodies_get_4xx(
    scs_process: Any, tmp_path: Path
) -> None:
    server = scs_process(env=process_env(tmp_path, SCS_MAX_BODY_BYTES="100000"))
    url = server.url
    async with httpx2.AsyncClient(timeout=20) as http:
        for body in BAD_BODIES:
            response = await http.post(url, content=body, headers=MCP_HEADERS)
            assert 400 <= response.status_code < 500, (
                body[:60],
                response.status_code,
                response.text[:200],
            )
        too_big = json.dumps(
            {"jsonrpc": "2.0", "id": 1, "method": "x", "params": {"p": "y" * 200_000}}
        )
        response = await http.post(url, content=too_big, headers=MCP_HEADERS)
        assert response.status_code == 413

        async def chunks() -> Any:  # no content-length: the limit must hold while reading
            for _ in range(30):
                yield b"z" * 10_000

        with contextlib.suppress(httpx2.HTTPError):  # the server may cut the upload short
            response = await http.post(url, content=chunks(), headers=MCP_HEADERS)
            assert 400 <= response.status_code < 500
        health = await http.get(url.removesuffix("/mcp") + "/health")
        assert health.status_code == 200 and health.json()["status"] == "ok"

    token = await mint(url, "after-fuzz")
    async with client_for(url, token) as client:
        made = await client.call_tool("create_session", {"purpose": "still healthy"})
        assert made.structured_content["session_id"]
    assert server.process.poll() is None


INIT = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "0"},
    },
}
# JSON text the MCP client refuses to produce: lone surrogates as escapes, deep nesting
RAW_CALLS: list[tuple[str, str]] = [
    ("add_message", '{"session_id": "SID", "content": "\\ud800"}'),
    ("add_message", '{"session_id": "SID", "content": "ok", "metadata": {"\\udfff": 1}}'),
    ("create_session", '{"purpose": "x\\udc00y"}'),
    ("set_memory", '{"key": "\\ud800", "value": 1}'),
    ("set_memory", '{"key": "k", "value": ' + "[" * 3000 + "]" * 3000 + "}"),
    ("set_memory", '{"key": "k", "value": ' + '{"a": ' * 900 + "1" + "}" * 900 + "}"),
    ("search_context", '{"query": "\\ud800\\udfff\\ud800", "session_id": "SID"}'),
    ("get_messages", '{"session_id": "\\ud800"}'),
    ("get_messages", '{"session_id": "SID", "limit": 1e400}'),
    ("get_messages", '{"session_id": "SID", "after_id": 123456789012345678901234567890}'),
    ("authenticate_agent", '{"agent_id": "\\ud800", "api_key": "\\udfff"}'),
]


def rpc_results(response: Any) -> list[dict[str, Any]]:
    """JSON-RPC messages of a response, whether plain JSON or server-sent events."""
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        return [
            json.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:")
        ]
    return [response.json()]


async def test_raw_tool_calls_with_unencodable_arguments(scs_process: Any, tmp_path: Path) -> None:
    server = scs_process(env=process_env(tmp_path))
    url = server.url
    token = await mint(url, "raw")
    async with client_for(url, token) as client:
        made = await client.call_tool("create_session", {"purpose": "raw"})
        session_id = made.structured_content["session_id"]
    db_path = tmp_path / "scs.db"
    headers = {**MCP_HEADERS, "authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient(timeout=30) as http:
        opened = await http.post(url, json=INIT, headers=headers)
        assert opened.status_code == 200
        headers["mcp-session-id"] = opened.headers["mcp-session-id"]
        headers["mcp-protocol-version"] = "2025-06-18"
        note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        assert (await http.post(url, json=note, headers=headers)).status_code == 202
        for n, (tool, arguments) in enumerate(RAW_CALLS, start=1):
            before = digest(db_path)
            body = (
                f'{{"jsonrpc": "2.0", "id": {n}, "method": "tools/call", '
                f'"params": {{"name": "{tool}", "arguments": {arguments.replace("SID", session_id)}}}}}'
            )
            response = await http.post(url, content=body.encode(), headers=headers)
            assert response.status_code < 500, (tool, response.status_code, response.text[:300])
            if response.status_code >= 400:
                continue  # refused as a malformed body
            (answer,) = [m for m in rpc_results(response) if m.get("id") == n]
            if "error" in answer:  # a JSON-RPC level refusal (e.g. invalid params)
                assert answer["error"]["code"] != -32603, answer  # not an internal error
                assert digest(db_path) == before
                continue
            result = answer["result"]
            if result.get("isError"):
                text = "".join(block.get("text", "") for block in result["content"])
                code = json.loads(text)["code"]
                assert code in KNOWN_CODES, (tool, arguments[:80], text[:300])
                assert digest(db_path) == before, f"refused {tool} changed the database"
        health = await http.get(url.removesuffix("/mcp") + "/health")
        assert health.status_code == 200
