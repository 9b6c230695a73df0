"""Test fixtures for scs and its plugins (the built-in ones use them too).

Enable with ``pytest_plugins = ["scs_server.testing"]`` in your root ``conftest.py``. Then::

    async def test_hello(scs_factory):
        server = await scs_factory(plugins="sessions,hello")
        agent = await server.agent("alice")
        result = await agent.call("hello", name="x")

Every server is a real App (real plugin selection, real SQLite file under
``tmp_path``); ``agent.call`` goes through a real ``fastmcp.Client``.
``scs_factory(..., http=True)`` also serves it over real HTTP on 127.0.0.1 with an
ephemeral port, for header auth, resources and routes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest
import uvicorn
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

from scs_server.app import App, create_app
from scs_server.http_options import uvicorn_options
from scs_server.http_parser import HEAD_LIMIT
from scs_server.plugins import PluginInfo, discover
from scs_server.settings import Settings
from scs_server.storage import Database, open_database
from scs_server.storage.cluster import PostgresCluster, find_binaries
from scs_server.storage.cluster import free_port as free_port  # for tests: a port to listen on

if TYPE_CHECKING:
    from pathlib import Path

API_KEY = "test-api-key-" + secrets.token_hex(16)
ADMIN_API_KEY = "test-admin-key-" + secrets.token_hex(16)
JWT_SECRET = "test-jwt-secret-" + secrets.token_hex(24)


def make_settings(tmp_path: Path, plugins: str = "default", **overrides: Any) -> Settings:
    """Settings for a throw-away server under ``tmp_path`` with known secrets."""
    values: dict[str, Any] = {
        "plugins": plugins,
        "data_dir": tmp_path,
        "database_path": tmp_path / "scs.db",
        "api_key": API_KEY,
        "admin_api_key": ADMIN_API_KEY,
        "jwt_secret_key": JWT_SECRET,
        "transport": "http",
        "port": 0,
    }
    values.update(overrides)
    return Settings(**values)


class ToolCallError(Exception):
    """A tool answered with an error; ``code``, ``message``, ``hint`` and ``body`` as sent."""

    def __init__(self, body: dict[str, Any], raw: str) -> None:
        self.body = body
        self.code = str(body.get("code", ""))
        self.message = str(body.get("error", raw))
        self.hint = body.get("hint")
        super().__init__(f"{self.code}: {self.message}")


def parse_result(result: Any) -> Any:
    """The JSON object a tool returned (structured content, or its text parsed)."""
    if result.structured_content is not None:
        content = result.structured_content
        if isinstance(content, dict) and set(content) == {"result"}:
            return content["result"]
        return content
    texts = [getattr(block, "text", "") for block in result.content]
    text = "".join(texts)
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_error(result: Any) -> ToolCallError:
    text = "".join(getattr(block, "text", "") for block in result.content)
    try:
        body = json.loads(text)
    except ValueError:
        body = {"error": text}
    if not isinstance(body, dict):
        body = {"error": text}
    return ToolCallError(body, text)


@dataclass
class Agent:
    """An authenticated agent talking to the server through a real MCP client."""

    client: Client[Any]
    agent_id: str
    agent_type: str
    token: str
    permissions: list[str] = field(default_factory=list)

    async def call(self, tool: str, **arguments: Any) -> Any:
        """Call a tool with this agent's token; return its JSON or raise ToolCallError."""
        arguments.setdefault("auth_token", self.token)
        result = await self.client.call_tool(tool, arguments, raise_on_error=False)
        if result.is_error:
            raise parse_error(result)
        return parse_result(result)

    async def fails(self, tool: str, **arguments: Any) -> ToolCallError:
        """Call a tool that must fail; return the typed error."""
        try:
            result = await self.call(tool, **arguments)
        except ToolCallError as error:
            return error
        raise AssertionError(f"{tool} succeeded unexpectedly: {result!r}")


@dataclass
class ScsServer:
    """A running test server: the App, its clients and (with http=True) its URL."""

    app: App
    tmp_path: Path
    url: str | None = None
    _stack: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)

    def client(
        self, token: str | None = None, headers: dict[str, str] | None = None, **options: Any
    ) -> Client[Any]:
        """A new, unopened MCP client: over HTTP when served, in memory otherwise.

        ``options`` go to ``fastmcp.Client``: ``mode="legacy"`` for a handshake-era
        protocol version, ``log_handler``, ``progress_handler``, ``sampling_handler``,
        ``elicitation_handler``, ``message_handler``...
        """
        if self.url is None:
            return Client(self.app.server, **options)
        sent = dict(headers or {})
        if token:
            sent["Authorization"] = f"Bearer {token}"
        return Client(StreamableHttpTransport(self.url, headers=sent), **options)

    async def open_client(
        self, token: str | None = None, headers: dict[str, str] | None = None, **options: Any
    ) -> Client[Any]:
        """``client(...)``, opened; it is closed with the server."""
        client = self.client(token, headers, **options)
        await self._stack.enter_async_context(client)
        return client

    async def agent(
        self,
        agent_id: str,
        agent_type: str = "claude",
        permissions: list[str] | None = None,
        *,
        client: Client[Any] | None = None,
        agent_secret: str | None = None,
    ) -> Agent:
        """Mint a token through ``authenticate_agent`` and return an agent using it.

        Admin agents (type ``admin`` or admin/debug permissions) use the admin key.
        A registered id (``register``) needs its ``agent_secret``.
        Over HTTP the agent's client also sends the token as a Bearer header.
        """
        wants_admin = agent_type == "admin" or bool(set(permissions or ()) & {"admin", "debug"})
        if permissions is None and agent_type == "admin":
            permissions = ["read", "write", "admin", "debug"]
        key = ADMIN_API_KEY if wants_admin else API_KEY
        bootstrap = client or await self.open_client()
        arguments: dict[str, Any] = {"agent_id": agent_id, "agent_type": agent_type, "api_key": key}
        if permissions is not None:
            arguments["requested_permissions"] = permissions
        if agent_secret is not None:
            arguments["agent_secret"] = agent_secret
        result = await bootstrap.call_tool("authenticate_agent", arguments, raise_on_error=False)
        if result.is_error:
            raise parse_error(result)
        minted = parse_result(result)
        token = minted["token"]
        own = client or (await self.open_client(token) if self.url else bootstrap)
        return Agent(own, agent_id, agent_type, token, minted["permissions"])

    async def register(self, agent_id: str, agent_type: str = "claude") -> str:
        """Register an id through ``register_agent`` with the API key; return its secret."""
        client = await self.open_client()
        arguments = {"agent_id": agent_id, "agent_type": agent_type, "api_key": API_KEY}
        result = await client.call_tool("register_agent", arguments, raise_on_error=False)
        if result.is_error:
            raise parse_error(result)
        secret: str = parse_result(result)["agent_secret"]
        return secret

    async def close(self) -> None:
        await self._stack.aclose()
        await self.app.close()


@contextlib.asynccontextmanager
async def serve_http(app: App) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1 and an ephemeral port; yield the MCP URL."""
    config = uvicorn.Config(
        app.http_app(),
        host="127.0.0.1",
        port=0,
        lifespan="on",
        log_level="warning",
        **uvicorn_options(),  # as scs serve
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 20
    while not server.started:
        if task.done() or time.monotonic() > deadline:
            raise RuntimeError("the test HTTP server did not start")
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        app.begin_stopping()  # as scs serve: open event streams end first
        server.should_exit = True
        await asyncio.wait_for(task, timeout=20)


async def raw_http(url: str, *requests: bytes, timeout_s: float = 10) -> bytes:
    """Send raw HTTP/1.1 ``requests`` on one connection to ``url``'s host and port; return
    everything the server sent until it closed the connection."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        for request in requests:
            writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout=timeout_s)  # read(): to EOF
    finally:
        writer.close()


def endless_head() -> bytes:
    """The start of a request head past ``HEAD_LIMIT`` that never ends (for ``raw_http``):
    scs serve answers it with 431 and closes the connection."""
    return b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\nx-pad: " + b"x" * (HEAD_LIMIT + 8192)


ServerFactory = Callable[..., Awaitable[ScsServer]]


@pytest.fixture
async def scs_factory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_engine: str, request: pytest.FixtureRequest
) -> AsyncIterator[ServerFactory]:
    """Build test servers: ``await scs_factory(plugins="default,-cache", http=False, env={...}, **settings)``.

    Every test that uses it runs once per database engine (``db_engine``: a SQLite file,
    then a fresh database of a throwaway PostgreSQL cluster); ``@sqlite_only`` keeps a
    test to SQLite (for what only SQLite has: its files, WAL, locks).

    ``extra_plugins={"probe": module}`` makes test-only plugin modules (or objects
    with ``@hookimpl`` methods) installable for this server; select them by name.

    ``env`` sets environment variables (plugin settings such as
    ``SCS_MEMORY_MAX_VALUE_KB``) before the server is built. Each server gets its
    own folder and database under ``tmp_path``; ``same_database_as=server`` builds one
    on another server's database (two processes or replicas on one database).
    """
    monkeypatch.chdir(tmp_path)  # no stray .env from the developer's working copy
    servers: list[ScsServer] = []

    async def build(
        plugins: str = "default",
        *,
        http: bool = False,
        env: dict[str, str] | None = None,
        extra_plugins: dict[str, object] | None = None,
        same_database_as: ScsServer | None = None,
        **overrides: Any,
    ) -> ScsServer:
        for name, value in (env or {}).items():
            monkeypatch.setenv(name, value)
        folder = tmp_path / f"server{len(servers)}"
        folder.mkdir()
        if same_database_as is not None:
            shared = same_database_as.app.settings
            overrides.setdefault("database_path", shared.db_path)
            overrides.setdefault("database_url", shared.database_url)
        overrides.setdefault("database_path", folder / "scs.db")
        if db_engine == "postgresql" and "database_url" not in overrides:
            cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
            overrides["database_url"] = cluster.create_database()
        installed = None
        if extra_plugins:
            installed = discover()
            for name, module in extra_plugins.items():
                installed[name] = PluginInfo(name, f"scs-plugin-{name}", "0.0.0", module)
        app = await create_app(make_settings(folder, plugins, **overrides), installed=installed)
        server = ScsServer(app, folder)
        servers.append(server)
        if http:
            server.url = await server._stack.enter_async_context(serve_http(app))
        app.begin_serving()  # as scs serve once it listens
        return server

    yield build
    for server in reversed(servers):
        await server.close()


@pytest.fixture
async def scs_server(scs_factory: ServerFactory) -> ScsServer:
    """A server with the default plugins, in memory."""
    return await scs_factory()


@pytest.fixture
async def scs_http_server(scs_factory: ServerFactory) -> ScsServer:
    """A server with the default plugins, served over real HTTP."""
    return await scs_factory(http=True)


# -- real server processes ----------------------------------------------------


@dataclass
class ServerProcess:
    """``scs serve`` running as a subprocess; ``url`` is its MCP endpoint (HTTP)."""

    process: subprocess.Popen[bytes]
    url: str | None
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        return self.process.returncode


def server_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Environment for a server subprocess with the test secrets and a private data dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCS_")}
    env.update(
        SCS_DATA_DIR=str(tmp_path),
        SCS_DATABASE_PATH=str(tmp_path / "scs.db"),
        SCS_API_KEY=API_KEY,
        SCS_ADMIN_API_KEY=ADMIN_API_KEY,
        SCS_JWT_SECRET_KEY=JWT_SECRET,
        SCS_LOG_LEVEL="INFO",
    )
    env.update(extra)
    return env


def start_server_process(
    tmp_path: Path,
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 60,
    python: str | os.PathLike[str] | None = None,
) -> ServerProcess:
    """Start ``scs serve --port 0 ARGS`` in ``tmp_path`` and wait (bounded) until it listens.

    ``python`` is the interpreter to run it with (default: this one), e.g. a
    virtual environment's ``bin/python`` to test an installed plugin.
    """
    log_path = tmp_path / f"server-{time.monotonic_ns()}.log"
    command = [
        os.fspath(python) if python is not None else sys.executable,
        "-m",
        "scs_server.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        *args,
    ]
    return launch(
        command, env=env or server_env(tmp_path), cwd=tmp_path, log_path=log_path, timeout=timeout
    )


def launch(
    command: list[str], *, env: dict[str, str], cwd: Path, log_path: Path, timeout: float = 60
) -> ServerProcess:
    """Start a server process that prints ``listening on URL``; wait (bounded) for that line.

    Works for ``scs serve`` and for any server that announces itself the same way (the
    bench's no-op floor server).
    """
    with log_path.open("wb") as handle:  # the child keeps its own descriptor
        process = subprocess.Popen(
            command, env=env, stdout=handle, stderr=subprocess.STDOUT, cwd=cwd
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log_path.read_text(errors="replace")
        for line in text.splitlines():
            if "listening on " in line:
                url = line.split("listening on ", 1)[1].strip()
                return ServerProcess(process, url, log_path)
        if process.poll() is not None:
            raise RuntimeError(f"{' '.join(command[:4])} exited with {process.returncode}:\n{text}")
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(
        f"{' '.join(command[:4])} did not start within {timeout}s:\n{log_path.read_text()}"
    )


@pytest.fixture
def scs_process(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start real ``scs serve`` subprocesses; all are stopped after the test."""
    started: list[ServerProcess] = []

    def start(*args: str, env: dict[str, str] | None = None) -> ServerProcess:
        server = start_server_process(tmp_path, *args, env=env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop(signal.SIGKILL if server.process.poll() is None else signal.SIGTERM)


# --- both database engines -------------------------------------------------------------
# ``db_engine`` is parametrized over "sqlite" and "postgresql": a test (or fixture) that
# uses it, or ``database_url`` / ``storage_db``, runs once per engine. PostgreSQL comes from
# a throwaway cluster of the system's binaries, one per test session, with a fresh
# database per test. No binaries: the PostgreSQL runs are skipped, or fail when
# SCS_TEST_REQUIRE_POSTGRES=1 (CI sets it, so they never skip silently there).

REQUIRE_POSTGRES = "SCS_TEST_REQUIRE_POSTGRES"
ENGINES = ("sqlite", "postgresql")


def no_postgres(reason: str) -> None:
    """Skip, or fail when PostgreSQL is required."""
    if os.environ.get(REQUIRE_POSTGRES) == "1":
        pytest.fail(f"{reason} (and {REQUIRE_POSTGRES}=1)")
    pytest.skip(reason)


def start_cluster() -> PostgresCluster:
    """A running throwaway cluster (skips or fails the test when that is impossible)."""
    binaries = find_binaries()
    if binaries is None:
        no_postgres("no PostgreSQL binaries (initdb): install Debian's postgresql package")
        raise AssertionError("unreachable")
    cluster = PostgresCluster(binaries)
    try:
        cluster.start()
    except (OSError, subprocess.SubprocessError) as error:
        cluster.destroy()
        no_postgres(f"could not start a throwaway PostgreSQL: {error}")
    return cluster


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """One throwaway PostgreSQL cluster for the whole test session."""
    cluster = start_cluster()
    yield cluster
    cluster.destroy()


@pytest.fixture(params=ENGINES)
def db_engine(request: pytest.FixtureRequest) -> str:
    """The database engine of this run of the test: "sqlite" or "postgresql"."""
    return str(request.param)


sqlite_only = pytest.mark.parametrize("db_engine", ["sqlite"])
"""Keep a test that uses ``scs_factory`` (or ``db_engine``) to SQLite: for what only
SQLite has (its files, WAL, file locks, several processes on one file)."""


@pytest.fixture
def database_url(db_engine: str, request: pytest.FixtureRequest) -> str | None:
    """A fresh PostgreSQL database's URL on the postgresql run; None (SQLite) otherwise."""
    if db_engine != "postgresql":
        return None
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    return cluster.create_database()


def engine_settings(tmp_path: Path, database_url: str | None, **overrides: Any) -> Settings:
    """``make_settings`` for either engine (``database_url`` None: the SQLite file)."""
    if database_url is not None:
        overrides.setdefault("database_url", database_url)
    return make_settings(tmp_path, **overrides)


async def until_a_backend_waits_for_a_lock(db: Database, what: str = "the statement") -> None:
    """PostgreSQL only: poll (every 10 ms, 30 s at most) until exactly one backend of
    ``db``'s database waits for a lock, e.g. a statement under test blocked behind a
    holder; fail, naming ``what``, if none ever does."""
    deadline = time.monotonic() + 30
    for _ in range(3000):
        waiting = await db.fetch_value(
            "SELECT COUNT(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        if waiting == 1:
            return
        if time.monotonic() >= deadline:
            break
        await asyncio.sleep(0.01)
    raise AssertionError(f"{what} never waited for the lock")


@contextlib.asynccontextmanager
async def listeners_cut_off(cluster: PostgresCluster, server: ScsServer) -> AsyncIterator[int]:
    """PostgreSQL only: end the change listeners on ``server``'s database (every
    replica's) and keep them from reconnecting while inside; enter once ``server``'s
    feed is no longer live (10 s at most). Yields how many listeners were ended."""
    url = server.app.settings.database_url
    assert url is not None, "listeners_cut_off needs a PostgreSQL server"
    database = url.get_secret_value()
    with cluster.connections_refused(database):
        ended = cluster.terminate("LISTEN%", database)
        deadline = time.monotonic() + 10
        while server.app.db.changes.live:
            assert time.monotonic() < deadline, "the change listener never noticed"
            await asyncio.sleep(0.01)
        yield ended


@pytest.fixture
async def storage_db(tmp_path: Path, database_url: str | None) -> AsyncIterator[Database]:
    """An open data-API database of the engine under test, closed afterwards."""
    db = open_database(engine_settings(tmp_path, database_url))
    await db.open()
    yield db
    await db.close()
