"""One background ``scs serve`` per data dir, and ``scs connect``: stdio onto it.

``scs daemon start`` spawns ``scs serve`` detached (its own session, logging into
``<data dir>/daemon.log``), records it in ``daemon.json`` and waits for ``/health``.
Starting is serialised by an exclusive lock on ``daemon.lock``: of several clients
that find nothing answering at once, one starts the server and the others wait for
it. ``scs connect`` does the same when nothing answers at a local URL, then serves
stdio and forwards every request to the shared server over streamable HTTP.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import click

from scs_server.clikit import EXIT_FAILED, fail, note, settings_from

if TYPE_CHECKING:
    from collections.abc import Iterator

    from scs_server.settings import Settings

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0  # uvicorn's graceful shutdown (10 s) plus closing the database
POLL_S = 0.05
CONNECT_TOKEN_TTL = 86400  # a token minted by `scs connect --agent-id`: one day


def pid_path(settings: Settings) -> Path:
    return settings.data_dir / "daemon.json"


def log_path(settings: Settings) -> Path:
    return settings.data_dir / "daemon.log"


def health(url: str, timeout: float = 2.0) -> dict[str, Any] | None:
    """The ``/health`` answer of the server whose MCP endpoint is ``url``, or None."""
    import http.client  # here: `scs --help` and `scs token` do not need it (nor ssl, email)

    parts = urlsplit(url)
    if parts.hostname is None:
        return None
    connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        connection.request("GET", "/health")
        response = connection.getresponse()
        body = json.loads(response.read() or b"{}")
    except (OSError, ValueError, http.client.HTTPException):
        return None
    finally:
        connection.close()
    return body if isinstance(body, dict) and "version" in body else None


def is_local(url: str) -> bool:
    return urlsplit(url).hostname in ("127.0.0.1", "localhost", "::1")


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, exited but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def read_record(settings: Settings) -> dict[str, Any] | None:
    """The running daemon's record (pid, url, started...), or None if there is none."""
    try:
        record = json.loads(pid_path(settings).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not alive(int(record.get("pid", 0))):
        return None
    return record


@contextlib.contextmanager
def start_lock(settings: Settings) -> Iterator[None]:
    """Hold ``daemon.lock`` (exclusive; waits at most START_TIMEOUT_S for another starter)."""
    from scs_server.files import make_private_dir

    make_private_dir(settings.data_dir)
    with (settings.data_dir / "daemon.lock").open("a+") as handle:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    fail("another `scs daemon start` holds the lock for too long", EXIT_FAILED)
                time.sleep(POLL_S)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def local_url(settings: Settings) -> str:
    from scs_server.cli_tokens import local_url as url_of

    return url_of(settings)


def ensure_daemon(settings: Settings) -> tuple[dict[str, Any], bool]:
    """The local server's /health, starting the daemon first if nothing answers.

    Returns the health and whether this call started it.
    """
    if settings.port == 0:
        fail("the shared server needs a fixed port: set SCS_PORT (default 23456), not 0")
    url = local_url(settings)
    answer = health(url)
    if answer is not None:
        return answer, False
    with start_lock(settings):
        answer = health(url)  # another client may have started it while we waited
        if answer is not None:
            return answer, False
        return _spawn(settings, url), True


def _spawn(settings: Settings, url: str) -> dict[str, Any]:
    from scs_server.files import make_private_dir
    from scs_server.runner import port_in_use

    busy = port_in_use(settings.host, settings.port)
    if busy is not None:
        fail(f"port {settings.port} is in use ({busy}) but no scs answers there", 3)
    make_private_dir(settings.data_dir)
    log = log_path(settings)
    with log.open("ab") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "scs_server.cli", "serve", "--transport", "http"],
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=handle,
            start_new_session=True,  # survives the terminal or client that started it
            close_fds=True,
        )
    record = {
        "pid": process.pid,
        "url": url,
        "started_at": time.time(),
        "database": str(settings.db_path),
        "log": str(log),
    }
    pid_path(settings).write_text(json.dumps(record), encoding="utf-8")
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        answer = health(url)
        if answer is not None:
            return answer
        if process.poll() is not None:
            pid_path(settings).unlink(missing_ok=True)
            tail = log.read_text(errors="replace").splitlines()[-5:]
            fail(f"the daemon exited with {process.returncode}: " + " | ".join(tail), EXIT_FAILED)
        time.sleep(POLL_S)
    return fail(f"the daemon did not answer at {url} within {START_TIMEOUT_S:g} s (see {log})", 1)


@click.group()
def daemon() -> None:
    """Run one shared scs server in the background (for `scs connect` and every client)."""


@daemon.command("start")
def daemon_start() -> None:
    """Start the background server unless one answers already; wait until it answers."""
    settings = settings_from(transport="http")
    answer, started = ensure_daemon(settings)
    url = local_url(settings)
    if started:
        click.echo(f"started scs {answer['version']} at {url} (log: {log_path(settings)})")
    else:
        click.echo(f"scs {answer['version']} answers at {url} already")


@daemon.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def daemon_status(as_json: bool) -> None:
    """URL, version, uptime, database and plugins of the background server.

    Exits with 1 when nothing answers.
    """
    settings = settings_from(transport="http")
    url = local_url(settings)
    record = read_record(settings) or {}
    answer = health(url)
    status: dict[str, Any] = {
        "running": answer is not None,
        "url": url,
        "pid": record.get("pid"),
        "version": (answer or {}).get("version"),
        "status": (answer or {}).get("status"),
        "uptime_s": round(time.time() - record["started_at"]) if record else None,
        "database": record.get("database", str(settings.db_path)),
        "plugins": (answer or {}).get("plugins"),
        "log": record.get("log"),
    }
    if as_json:
        click.echo(json.dumps(status, indent=2))
    else:
        for key, value in status.items():
            shown = ", ".join(value) if isinstance(value, list) else value
            click.echo(f"{key:<9} {'-' if shown is None else shown}")
    if answer is None:
        sys.exit(EXIT_FAILED)


@daemon.command("stop")
def daemon_stop() -> None:
    """Stop the background server this data dir started (SIGTERM; it closes cleanly)."""
    settings = settings_from(transport="http")
    record = read_record(settings)
    if record is None:
        pid_path(settings).unlink(missing_ok=True)
        fail("no scs daemon is running for this data dir", EXIT_FAILED)
    pid = int(record["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while alive(pid) and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reaps it when this process started it
        time.sleep(POLL_S)
    if alive(pid):
        fail(f"the daemon (pid {pid}) did not stop within {STOP_TIMEOUT_S:g} s", EXIT_FAILED)
    pid_path(settings).unlink(missing_ok=True)
    click.echo(f"stopped scs daemon (pid {pid})")


@click.command()
@click.option("--url", help="The shared server's MCP URL (default: the local one, SCS_PORT).")
@click.option("--token", help="Bearer token (default: SCS_TOKEN).")
@click.option(
    "--agent-id", help="Mint a one-day token for this id from the data dir's secrets instead."
)
@click.option("--no-start", is_flag=True, help="Never start the daemon; fail if nothing answers.")
def connect(url: str | None, token: str | None, agent_id: str | None, no_start: bool) -> None:
    """Serve MCP over stdio and forward it to one shared scs server (streamable HTTP).

    The identity is SCS_TOKEN (or --token, or --agent-id). When nothing answers at a
    local URL the daemon is started first (one, however many clients start at once).
    """
    settings = settings_from(transport="http")
    target = url or local_url(settings)
    if health(target) is None:
        if no_start or not is_local(target) or (url is not None and url != local_url(settings)):
            fail(f"no scs server answers at {target}", EXIT_FAILED)
        ensure_daemon(settings)
    bearer = token or (settings.token.get_secret_value() if settings.token else None)
    if bearer is None and agent_id is not None:
        bearer = _mint_for(settings, agent_id)
    if bearer is None:
        note("no SCS_TOKEN, --token or --agent-id: calls must pass auth_token themselves")
    _proxy_stdio(target, bearer)


def _mint_for(settings: Settings, agent_id: str) -> str:
    from scs_server.cli_tokens import ensure_agent
    from scs_server.clikit import CLI_CLIENT, with_auth

    async def mint(app: Any) -> str:
        agent_type, _ = await ensure_agent(app, agent_id, "generic")
        allowed = sorted(app.auth.tokens.allowed_permissions(agent_type))
        minted = await app.auth.issue(
            "admin", agent_id, agent_type, allowed, CLI_CLIENT, ttl=CONNECT_TOKEN_TTL
        )
        return str(minted.token)

    return with_auth(settings, mint)


def _proxy_stdio(url: str, bearer: str | None) -> None:
    import asyncio

    from fastmcp.client.transports import StreamableHttpTransport
    from fastmcp.server import create_proxy
    from fastmcp.server.providers.proxy import ProxyClient

    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    backend = ProxyClient(StreamableHttpTransport(url, headers=headers))
    proxy = create_proxy(backend, name="scs-connect")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(proxy.run_stdio_async(show_banner=False))
