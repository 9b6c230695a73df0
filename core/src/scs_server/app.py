"""Server assembly: from settings to an ``App`` with every enabled plugin wired in."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, get_type_hints

import jwt  # noqa: F401  # verifies tokens (scs_server.auth.tokens): loaded now, not on a first call
from fastmcp import FastMCP
from mcp.server.lowlevel import NotificationOptions
from pydantic import SecretStr
from starlette.middleware import Middleware as AsgiMiddleware
from starlette.middleware.cors import CORSMiddleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

import scs_server
from scs_server.auth.early_check import EarlyRevocationCheck
from scs_server.auth.secrets import ensure_secrets, new_secret
from scs_server.auth.service import AuthService
from scs_server.calls import CallHooks, CallMiddleware
from scs_server.completions import CompletionRouter
from scs_server.events import Event
from scs_server.http import BodyDeadlineMiddleware, BodyLimitMiddleware, SecurityHeadersMiddleware
from scs_server.inflight import InFlight, InFlightLimitMiddleware
from scs_server.middleware import AuthMiddleware, ErrorMiddleware, order_of, typed_errors
from scs_server.plugins import CORE, PluginError, PluginHost, discover, select
from scs_server.request import current_call
from scs_server.server import ScsFastMCP
from scs_server.services import Services
from scs_server.settings import ConfigError, ScsSettings, Settings, load_settings
from scs_server.startup import StartupError, check_exposure
from scs_server.storage import Database, MigrationError, open_database
from scs_server.subscriptions import Subscriptions
from scs_server.tools import OPEN_OBJECT_SCHEMA, ToolPolicy, permission_of

if TYPE_CHECKING:
    from collections.abc import Callable

    from fastmcp.resources import ResourceTemplate
    from fastmcp.server.middleware import Middleware
    from pydantic import BaseModel
    from starlette.applications import Starlette
    from starlette.routing import Route

    from scs_server.plugins import PluginInfo
    from scs_server.storage import OneStatement, Transaction

log = logging.getLogger("scs.app")

T = TypeVar("T")

INSTRUCTIONS = (
    "Shared context for teams of AI agents. Call authenticate_agent once for a token, "
    "pass it as auth_token (or a Bearer header), then create_session / add_message / "
    "get_messages / search_context / set_memory. get_usage_guidance explains more."
)


@dataclass
class App:
    """What every hook receives: settings, database, plugins, the FastMCP server."""

    settings: Settings
    host: PluginHost
    db: Database
    auth: AuthService
    server: FastMCP[Any]
    plugin_settings: dict[str, ScsSettings] = field(default_factory=dict)
    tools: dict[str, ToolPolicy] = field(default_factory=dict)
    children: dict[str, FastMCP[Any]] = field(default_factory=dict)
    routes: list[Route] = field(default_factory=list)
    services: Services = field(default_factory=Services)
    calls: CallHooks = field(default_factory=CallHooks)
    completions: CompletionRouter = field(default_factory=CompletionRouter)
    open_resources: set[str] = field(default_factory=set)
    open_templates: list[ResourceTemplate] = field(default_factory=list)
    closed: bool = False
    serving: bool = False
    stopping: bool = False
    subscriptions: Subscriptions = field(init=False)
    in_flight: InFlight | None = field(init=False)
    """The cap on requests in flight per caller over HTTP, with its counts (None: no cap)."""
    _deliveries: set[asyncio.Task[Any]] = field(default_factory=set)
    _on_serving: list[Callable[[], None]] = field(default_factory=list)
    _on_stopping: list[Callable[[], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.subscriptions = Subscriptions(self)
        limit = self.settings.max_calls_in_flight
        self.in_flight = InFlight(limit) if limit else None

    def when_serving(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` (synchronous, quick: start a task or a thread for more) once
        the server answers requests: warm-ups that need not delay the first answer.
        Registered after that moment: called at once."""
        if self.serving:
            callback()
        else:
            self._on_serving.append(callback)

    def begin_serving(self) -> None:
        """Run the ``when_serving`` callbacks (once; the runner calls it when the server
        listens, the test fixtures when their server is up)."""
        if self.serving:
            return
        self.serving = True
        callbacks, self._on_serving = self._on_serving, []
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("a when_serving callback failed")

    def when_stopping(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` (synchronous, quick) once the server begins to stop: when
        ``scs serve`` got SIGTERM/SIGINT, before uvicorn waits for open responses. Long-lived
        responses (event streams) end there, so a stop does not wait for the grace period.
        Registered after the stop began: called at once."""
        if self.stopping:
            callback()
        else:
            self._on_stopping.append(callback)

    def begin_stopping(self) -> None:
        """Tell ``when_stopping`` callbacks that the server stops (once; ``close`` does it too)."""
        if self.stopping:
            return
        self.stopping = True
        callbacks, self._on_stopping = self._on_stopping, []
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("a when_stopping callback failed")

    def config(self, plugin: str) -> Any:
        """The settings model instance of an enabled plugin."""
        return self.plugin_settings[plugin]

    @property
    def plugins(self) -> list[str]:
        return [name for name in self.host.enabled if name != CORE]

    def is_open_resource(self, uri: str) -> bool:
        """Whether a plugin lets callers without a token read ``uri`` (``requires("none")``)."""
        if uri in self.open_resources:
            return True
        return any(template.matches(uri) is not None for template in self.open_templates)

    def announce(
        self, tx: Transaction | OneStatement, name: str, source: str = "", **data: Any
    ) -> None:
        """Deliver event ``name`` (one of ``scs_server.events.EVENT_NAMES``) once ``tx`` commits.

        The delivery starts in the commit path and runs in its own task, so a caller
        cancelled after the commit cannot lose it; a tool call waits for the deliveries it
        started before it returns. Nothing is delivered if ``tx`` rolls back.
        """
        event = Event(name, data, source)

        def deliver() -> None:
            self._start_delivery(event)

        tx.after_commit(deliver)

    async def emit(self, name: str, source: str = "", **data: Any) -> None:
        """Deliver an event now, for facts that are not a write of this process (prefer
        ``announce`` for writes: it cannot be lost between the commit and this call)."""
        await asyncio.shield(self._start_delivery(Event(name, data, source)))

    def _start_delivery(self, event: Event) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(self.host.event(self, event))
        self._deliveries.add(task)
        task.add_done_callback(_forget_delivery(self._deliveries))
        call = current_call()
        if call is not None:
            call.deliveries.append(task)
        return task

    def http_app(self) -> Starlette:
        """The ASGI app: ``/mcp`` with Host/Origin protection, hardening, plugin routes."""
        middleware = [
            AsgiMiddleware(BodyDeadlineMiddleware, timeout_s=self.settings.body_read_timeout_s),
            AsgiMiddleware(BodyLimitMiddleware, max_bytes=self.settings.max_body_bytes),
        ]
        if self.in_flight is not None:
            middleware.append(AsgiMiddleware(InFlightLimitMiddleware, counts=self.in_flight))
        if self.db.dialect == "postgresql":  # a read is a round trip there (early_check.py)
            middleware.append(
                AsgiMiddleware(
                    EarlyRevocationCheck,
                    tokens=self.auth.tokens,
                    revocations=self.auth.revocations,
                    path="/mcp",
                )
            )
        if self.settings.cors_origins:
            middleware.insert(
                0,
                AsgiMiddleware(
                    CORSMiddleware,
                    allow_origins=self.settings.cors_origins,
                    allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
                    allow_headers=[
                        "authorization",
                        "content-type",
                        "mcp-session-id",
                        "mcp-protocol-version",
                        "x-api-key",
                        "last-event-id",
                    ],
                    expose_headers=["mcp-session-id"],
                ),
            )
        if self.settings.trusted_proxies:
            # outermost: every layer and route then sees the forwarded client, and only
            # when the immediate peer is one of the listed proxies
            middleware.insert(
                0,
                AsgiMiddleware(
                    ProxyHeadersMiddleware, trusted_hosts=list(self.settings.trusted_proxies)
                ),
            )
        app = self.server.http_app(
            path="/mcp",
            middleware=middleware,
            host_origin_protection=True,
            allowed_hosts=self.settings.allowed_hosts or None,
            allowed_origins=self.settings.cors_origins or None,
        )
        # outermost, around FastMCP's Host/Origin guard too, so its 421 and 403 answers
        # carry the headers (Starlette builds the stack on the first request)
        app.user_middleware.insert(0, AsgiMiddleware(SecurityHeadersMiddleware))
        return app

    async def close(self) -> None:
        """Run shutdown hooks (reverse order) and close the pool."""
        if self.closed:
            return
        self.closed = True
        self.begin_stopping()
        self.subscriptions.close()  # listen streams end with their final result
        if self._deliveries:  # events of writes whose callers were cancelled: deliver them first
            await asyncio.wait(list(self._deliveries), timeout=DELIVERY_GRACE_S)
        await self.host.shutdown(self)
        await self.db.close()


DELIVERY_GRACE_S = 10.0


def _forget_delivery(pending: set[asyncio.Task[Any]]) -> Callable[[asyncio.Task[Any]], None]:
    def forget(task: asyncio.Task[Any]) -> None:
        pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # the caller may be gone (cancelled): its error still belongs in the log
            log.debug("event delivery failed: %r", task.exception())

    return forget


def plugin_settings_of(host: PluginHost) -> dict[str, ScsSettings]:
    loaded: dict[str, ScsSettings] = {}
    for name in host.enabled:
        model = host.settings_model(name)
        if model is not None:
            loaded[name] = load_settings(model)
    return loaded


async def _register(app: App, strict: bool) -> None:
    host = app.host
    owners: dict[str, str] = {}
    # Every enabled plugin, in dependency order: a dependent of a plugin refused here is
    # refused too, whether or not it registers anything itself.
    for name in list(host.enabled):
        lost = [need for need in host.requirements(name) if need in host.refused]
        if lost:
            host.refuse(
                PluginError(name, f"requires plugin {lost[0]!r}, which was refused"), strict
            )
            continue
        if not host.registers(name):
            continue
        child: FastMCP[Any] = FastMCP(name=f"scs-{name}", mask_error_details=True)
        _evaluate_annotations_once(child)
        try:
            await host.register(name, app, child)
        except PluginError as error:
            host.refuse(error, strict)
            continue
        for tool in await child.list_tools():
            if tool.name in owners:
                raise StartupError(
                    f"tool {tool.name!r} is registered by both plugin {owners[tool.name]!r} "
                    f"and plugin {name!r}; disable one of them"
                )
            owners[tool.name] = name
            text_only = (
                not app.settings.structured_content and tool.output_schema == OPEN_OBJECT_SCHEMA
            )
            app.tools[tool.name] = ToolPolicy.from_tags(
                tool.name, name, set(tool.tags or ()), text_only=text_only
            )
        for resource in await child.list_resources():
            if permission_of(set(resource.tags or ())) == "none":
                app.open_resources.add(str(resource.uri))
        for template in await child.list_resource_templates():
            if permission_of(set(template.tags or ())) == "none":
                app.open_templates.append(template)
        await app.completions.adopt(child)
        app.children[name] = child
        await _adopt(app.server, child, name, app.tools)


def _evaluate_annotations_once(child: FastMCP[Any]) -> None:
    """Evaluate each tool function's annotations before FastMCP builds the tool.

    Plugin modules use ``from __future__ import annotations``, so annotations are
    strings, and FastMCP evaluates them five times per tool while building it (context
    and dependency injection, session ids, the arguments' and the result's schemas);
    every ``Annotated[..., Field(...)]`` is rebuilt each time. Evaluated once here, the
    ~38 tools build about 30% faster (~0.08 s of CPU at start-up, bench/startup.py),
    with the same schemas. A function whose hints cannot be evaluated is left as it is
    (FastMCP falls back as before).
    """
    provider = child.local_provider
    add_tool = provider.add_tool

    def add_evaluated(tool: Any) -> Any:
        if inspect.isfunction(tool):
            with contextlib.suppress(Exception):
                tool.__annotations__ = get_type_hints(tool, include_extras=True)
        return add_tool(tool)

    provider.add_tool = add_evaluated  # type: ignore[method-assign]


async def _adopt(
    server: FastMCP[Any], child: FastMCP[Any], plugin: str, policies: dict[str, ToolPolicy]
) -> None:
    """Copy a plugin's components onto the root server (a text-only tool without its
    output schema: ``ToolPolicy.text_only``).

    Plugins register on their own child server (so the host knows who owns what),
    but mounting would route every call through a provider lookup: about 0.25 ms a
    call, a third of a no-op tool call. Adopting the components keeps calls direct.
    Each body raises its refusals in FastMCP's form (``typed_errors``).
    """
    try:
        for tool in await child.list_tools():
            if policies[tool.name].text_only:
                tool = tool.model_copy(update={"output_schema": None})
            server.add_tool(_typed(tool))
        for resource in await child.list_resources():
            server.add_resource(_typed(resource))
        for template in await child.list_resource_templates():
            server.add_template(_typed(template))
        for prompt in await child.list_prompts():
            server.add_prompt(_typed(prompt))
    except Exception as error:
        raise StartupError(f"plugin {plugin!r}: cannot add its components: {error}") from None


C = TypeVar("C", bound="BaseModel")


def _typed(component: C) -> C:
    """A copy of a function component whose body raises ``ScsError`` as FastMCP's
    ``ToolError`` (``scs_server.middleware.WireError``); other components as they are."""
    fn = getattr(component, "fn", None)
    if fn is None:
        return component
    return component.model_copy(update={"fn": typed_errors(fn)})


def _advertise_fixed_lists(server: FastMCP[Any]) -> None:
    """Advertise ``listChanged: false`` for tools, resources and prompts.

    FastMCP advertises ``true`` by default, but the plugins' components are copied onto
    the root server once, at start-up (``_adopt``), and never change while it runs, so
    no list-changed notification is ever sent. (At protocol 2026-07-28 the SDK derives
    these flags from ``subscriptions/listen`` being served: true there, and a listen
    stream acknowledges those kinds, which simply never fire.)
    """
    server._mcp_server.notification_options = NotificationOptions(
        prompts_changed=False, resources_changed=False, tools_changed=False
    )


async def create_app(
    settings: Settings | None = None, *, installed: dict[str, PluginInfo] | None = None
) -> App:
    """Build a ready server: secrets, plugins, database, migrations, tools, middleware."""
    settings = settings or load_settings()
    check_exposure(settings)
    settings = ensure_secrets(settings)
    infos = installed if installed is not None else discover()
    try:
        selection = select(settings.plugins, infos)
        host = PluginHost.create(selection, infos, strict=settings.plugins_strict)
    except PluginError as error:
        raise StartupError(str(error)) from None
    except Exception as error:
        raise StartupError(str(error)) from None
    plugin_settings = plugin_settings_of(host)

    db = open_database(settings)
    await db.open()
    app: App | None = None
    try:
        for name in host.enabled:
            await db.migrate(name, host.migrations(name))
        server: FastMCP[Any] = ScsFastMCP(
            name="scs",
            instructions=INSTRUCTIONS,
            version=scs_server.__version__,
            mask_error_details=True,
            on_duplicate="error",
        )
        app = App(settings, host, db, AuthService(settings, db), server, plugin_settings)
        await _register(app, settings.plugins_strict)
        app.calls = CallHooks(app)  # after registration: refused plugins are out
        if app.completions:
            app.completions.install(app)
        app.subscriptions.install()
        _advertise_fixed_lists(server)

        middleware: list[Middleware] = [CallMiddleware(app), ErrorMiddleware(), AuthMiddleware(app)]
        middleware.extend(host.middleware(app))
        for item in sorted(middleware, key=order_of):
            server.add_middleware(item)

        for route in host.http_routes(app):
            app.routes.append(route)
            server.custom_route(route.path, methods=sorted(route.methods or ["GET"]))(
                route.endpoint
            )
        await host.startup(app)
        await app.subscriptions.start()
    except BaseException as error:
        if app is not None:
            await app.close()  # stops what earlier plugins started, then the pool
        else:
            await db.close()
        if isinstance(error, MigrationError | PluginError):
            raise StartupError(str(error)) from None
        raise
    return app


async def plugin_tools(
    settings: Settings, installed: dict[str, PluginInfo]
) -> tuple[dict[str, list[str]], dict[str, str]]:
    """The tools of every installed plugin, by plugin, and the plugins that could not be
    built (name -> reason).

    Only ``scs_settings`` and ``scs_register`` run, each plugin on its own FastMCP
    server: no database is opened or created, no migrations or start-up hooks run, no
    secrets are written (a plugin that touches the database while registering is
    reported as refused).
    """
    host = PluginHost.create([n for n in installed if n != CORE], installed, strict=False)
    loaded: dict[str, ScsSettings] = {}
    for name in list(host.enabled):
        try:
            model = host.settings_model(name)
            if model is not None:
                loaded[name] = load_settings(model)
        except Exception as error:
            host.refuse(PluginError(name, f"settings: {error}"), strict=False)
    # secrets only so that the auth service can be built; never written anywhere
    settings = settings.model_copy(
        update={
            name: SecretStr(new_secret())
            for name in ("api_key", "admin_api_key", "jwt_secret_key")
            if getattr(settings, name) is None
        }
    )
    db = open_database(settings)  # never opened
    server: FastMCP[Any] = FastMCP(name="scs-plugins")
    app = App(settings, host, db, AuthService(settings, db), server, loaded)
    await _register(app, strict=False)
    tools: dict[str, list[str]] = {}
    for policy in app.tools.values():
        tools.setdefault(policy.plugin, []).append(policy.name)
    return {name: sorted(names) for name, names in tools.items()}, dict(host.refused)


__all__ = [
    "App",
    "ConfigError",
    "StartupError",
    "check_exposure",
    "create_app",
    "plugin_tools",
]
