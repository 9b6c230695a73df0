"""Running an App over HTTP (uvicorn) or stdio, with clean start-up errors and shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import logging
import signal
import socket
import sys
from typing import TYPE_CHECKING, Any

import uvicorn

from scs_server.app import create_app
from scs_server.cpu import prefer_event_loop
from scs_server.envcheck import env_warnings
from scs_server.http_options import uvicorn_options
from scs_server.request import use_process_token

if TYPE_CHECKING:
    from collections.abc import Iterator

    from starlette.types import Receive, Scope, Send

    from scs_server.app import App
    from scs_server.settings import Settings

log = logging.getLogger("scs")


def configure_logging(level: str) -> None:
    logging.basicConfig(
        stream=sys.stderr,
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    # `scs serve --reload`: watchfiles logs every change it sees at INFO, a line each time
    # the database or a log file in the watched directory is written
    logging.getLogger("watchfiles").setLevel(logging.WARNING)


class _Server(uvicorn.Server):
    """uvicorn re-raises SIGTERM after its graceful shutdown, which would kill the
    process before the pool is closed and ``PRAGMA optimize`` runs; we exit normally.

    Its shutdown first tells the app (``App.begin_stopping``), so that event streams end
    instead of holding the graceful-shutdown timeout."""

    def __init__(self, config: uvicorn.Config, app: App) -> None:
        super().__init__(config)
        self.scs_app = app

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.scs_app.begin_stopping()
        await super().shutdown(sockets)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            yield
            self._captured_signals.clear()


async def serve_http(app: App) -> None:
    settings = app.settings
    config = uvicorn.Config(
        app.http_app(),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        lifespan="on",
        **uvicorn_options(),
    )
    server = _Server(config, app)
    announcer = asyncio.create_task(_announce(server, app))
    try:
        await server.serve()
    finally:
        announcer.cancel()


async def _announce(server: uvicorn.Server, app: App) -> None:
    """Once uvicorn listens: say where, and start the app's ``when_serving`` warm-ups."""
    for _ in range(6000):
        if server.started:
            break
        await asyncio.sleep(0.01)
    if server.started:
        app.begin_serving()
    for listener in server.servers:
        for sock in listener.sockets:
            host, port = sock.getsockname()[:2]
            print(f"scs: listening on http://{host}:{port}/mcp", file=sys.stderr, flush=True)


def tune_gc() -> None:
    """Keep the garbage collector off what start-up built (modules, schemas, the app),
    and turn it on (``scs serve`` starts with it off).

    Those objects live as long as the process; without ``freeze`` every full collection
    walks them again, and with many calls in flight full collections come often. In
    bench/load.py (100 agents) this cut the server's CPU per call by about 15-20%.
    There is no ``gc.collect()`` first: it costs 0.15-0.25 s of CPU before the first
    answer (it walks the ~190k objects start-up left), to free the start-up's cyclic
    garbage (~65k small objects, a few MB), which instead stays frozen for good.
    """
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)
    gc.enable()


def port_in_use(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be bound (another listener), or None when it can.

    Checked before start-up so that a busy port is one line and its own exit status,
    not a traceback after the database was opened and migrated.
    """
    if port == 0:
        return None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return f"something already listens on {host}:{port}"
            return None  # other errors (no such address...) are uvicorn's to report
    return None


async def run(settings: Settings) -> None:
    """Build the app, serve it on the configured transport, then close it."""
    app = await create_app(settings)
    for warning in env_warnings(app.plugin_settings.values(), app.host.infos):
        log.warning("%s", warning)
    tune_gc()
    prefer_event_loop()
    try:
        if settings.transport == "stdio":
            await _serve_stdio(app)
        else:
            await serve_http(app)
    finally:
        await app.close()
        log.info("scs stopped; database closed")


async def _serve_stdio(app: App) -> None:
    token = app.settings.token
    use_process_token(token.get_secret_value() if token is not None else None)
    task = asyncio.ensure_future(app.server.run_stdio_async(show_banner=False))
    app.begin_serving()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        log.info("stdio server stopped by signal")
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


class LazyApp:
    """ASGI app that builds the scs App inside the server's lifespan (for ``--reload``)."""

    def __init__(self) -> None:
        self.app: App | None = None
        self.asgi: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            first = await receive()
            from scs_server.settings import load_settings

            self.app = await create_app(load_settings())
            self.asgi = self.app.http_app()
            replayed = False

            async def replay() -> Any:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return first
                return await receive()

            try:
                await self.asgi(scope, replay, send)
            finally:
                await self.app.close()
            return
        await self.asgi(scope, receive, send)


def reload_factory() -> LazyApp:
    return LazyApp()
