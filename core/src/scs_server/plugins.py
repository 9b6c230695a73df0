"""Finding, selecting and validating plugins; a typed wrapper around pluggy.

Built-in plugins are found exactly like third-party ones: through entry points
in the ``scs`` group. Only the selected ones are registered with pluggy.
"""

from __future__ import annotations

import difflib
import inspect
import logging
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

import pluggy

from scs_server import hookspecs
from scs_server.migrations import CORE as CORE  # re-exported: scs_server.plugins.CORE

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence

    import click
    from fastmcp import FastMCP
    from fastmcp.server.middleware import Middleware
    from pluggy import HookCaller
    from starlette.routing import Route

    from scs_server.app import App
    from scs_server.archiving import ExportRequest, ImportBatch, Record, RetentionPolicy
    from scs_server.events import Event
    from scs_server.migrations import Migration
    from scs_server.request import Call
    from scs_server.settings import ScsSettings
    from scs_server.storage import Executor, Transaction

T = TypeVar("T")

log = logging.getLogger("scs.plugins")

_Direct = tuple[str, "Callable[..., Any]", tuple[str, ...]]
"""A hook implementation called directly: its plugin, function and argument names."""

ENTRY_POINT_GROUP = "scs"
BUILTINS: tuple[str, ...] = (
    "sessions",
    "messaging",
    "inbox",
    "memory",
    "search",
    "cache",
    "ratelimit",
    "monitoring",
    "leases",
    "archive",
    "dashboard",
)


class PluginError(Exception):
    """A plugin cannot be used; the text names the plugin and the reason."""

    def __init__(self, plugin: str, reason: str) -> None:
        self.plugin = plugin
        self.reason = reason
        super().__init__(f"plugin {plugin!r}: {reason}")


class SelectionError(Exception):
    """``SCS_PLUGINS`` / ``--plugins`` names something that is not installed."""


@dataclass
class PluginInfo:
    """An installed plugin, as found through its entry point."""

    name: str
    distribution: str
    version: str
    module: ModuleType | object | None = None
    error: str | None = None

    @property
    def builtin(self) -> bool:
        return self.name in BUILTINS or self.name == CORE

    def hook_names(self) -> list[str]:
        if self.module is None:
            return []
        return sorted(
            name
            for name, value in inspect.getmembers(self.module)
            if name.startswith("scs_") and hasattr(value, f"{hookspecs.PROJECT}_impl")
        )


def _required_arguments(function: Any) -> list[str]:
    """Arguments pluggy passes to an implementation: those without a default (not ``self``)."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return []
    return [
        p.name
        for p in parameters
        if p.default is inspect.Parameter.empty
        and p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]


def normalize(name: str) -> str:
    """``scs-plugin-foo``, ``scs_plugin_foo`` and ``scs_foo`` all name plugin ``foo``."""
    name = name.strip().lower().replace("_", "-")
    for prefix in ("scs-plugin-", "scs-"):
        if name.startswith(prefix) and name != prefix:
            return name.removeprefix(prefix)
    return name


def discover() -> dict[str, PluginInfo]:
    """Every plugin installed in this environment, loaded (load errors are kept, not raised)."""
    from scs_server import core_plugin

    found: dict[str, PluginInfo] = {
        CORE: PluginInfo(CORE, "scs-server", _version("scs-server"), core_plugin)
    }
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        name = normalize(ep.name)
        dist = ep.dist.name if ep.dist else "?"
        version = ep.dist.version if ep.dist else "?"
        info = PluginInfo(name, dist, version)
        try:
            info.module = ep.load()
        except Exception as error:  # a broken third-party package must not hide the others
            info.error = f"cannot be imported: {type(error).__name__}: {error}"
        found.setdefault(name, info)
    return found


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "0.0.0"


def select(spec: str, installed: Iterable[str]) -> list[str]:
    """Resolve ``default,-ratelimit,foo`` into plugin names, in the order given."""
    known = set(installed)
    chosen: list[str] = []
    for raw in (token.strip() for token in spec.split(",")):
        if not raw:
            continue
        drop = raw.startswith("-")
        names = (
            list(BUILTINS)
            if normalize(raw.lstrip("-+")) == "default"
            else [normalize(raw.lstrip("-+"))]
        )
        for name in names:
            if name not in known or name == CORE:
                available = ", ".join(sorted(known - {CORE})) or "none"
                raise SelectionError(
                    f"unknown plugin {name!r} in plugin selection {spec!r}; installed: {available}"
                )
            if drop and name in chosen:
                chosen.remove(name)
            elif not drop and name not in chosen:
                chosen.append(name)
    return chosen


@dataclass
class PluginHost:
    """The enabled plugins, registered with pluggy, and one typed method per hook.

    Every call goes through pluggy (``self.pm.hook.<name>``); hooks called for one
    plugin alone use a subset caller (``pm.subset_hook_caller``). Plugins are
    registered in reverse dependency order so that pluggy's last-registered-first
    order is the dependency order; ``tryfirst``/``trylast`` move an implementation
    from there.
    """

    infos: dict[str, PluginInfo]
    enabled: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    needs: dict[str, list[str]] = field(default_factory=dict)
    pm: pluggy.PluginManager = field(init=False)
    _alone_callers: dict[tuple[str, str], HookCaller] = field(init=False, default_factory=dict)
    _direct: dict[str, tuple[tuple[object, ...], list[_Direct] | None]] = field(
        init=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)

    # -- building ---------------------------------------------------------
    @classmethod
    def create(
        cls, selection: Sequence[str], infos: dict[str, PluginInfo], *, strict: bool = True
    ) -> PluginHost:
        """Register the core and the selected plugins; check hooks and requirements."""
        host = cls(infos)
        for name in [CORE, *selection]:
            try:
                host._register(name)
            except PluginError as error:
                host.refuse(error, strict)
        host._check_requirements(strict)
        host.enabled = host._ordered()
        host._register_in_call_order()
        host.pm.check_pending()
        return host

    def _register(self, name: str) -> None:
        info = self.infos[name]
        if info.error or info.module is None:
            raise PluginError(name, info.error or "has no module")
        self._check_hooks(name, info.module)
        try:
            self.pm.register(self._registrable(info.module), name=name)
        except pluggy.PluginValidationError as error:  # what _check_hooks does not cover
            reason = " ".join(str(error).split())
            raise PluginError(name, f"invalid hook implementation: {reason}") from None
        self._alone_callers.clear()
        try:
            self.needs[name] = self._declared_requirements(name)
        except PluginError:
            self.pm.unregister(name=name)
            raise
        self.enabled.append(name)

    def _registrable(self, plugin: object) -> object:
        """``plugin``, or for an unhashable plugin object (a dataclass, say) a module
        holding its hook methods: pluggy keeps plugins in sets."""
        try:
            hash(plugin)
        except TypeError:
            holder = ModuleType(type(plugin).__name__)
            for attr in dir(plugin):
                if self.pm.parse_hookimpl_opts(plugin, attr) is not None:
                    setattr(holder, attr, getattr(plugin, attr))
            return holder
        return plugin

    def _register_in_call_order(self) -> None:
        """Re-register the enabled plugins, last first: pluggy calls the last one first."""
        for name in self.enabled:
            self.pm.unregister(name=name)
        for name in reversed(self.enabled):
            self.pm.register(self._registrable(self.infos[name].module), name=name)
        self._alone_callers.clear()

    def _check_hooks(self, name: str, module: object) -> None:
        """Refuse unknown hook names, arguments a spec does not offer, async sync-only hooks
        and options a hook cannot honour, each in one line, before anything is registered
        (pluggy accepts unknown names until ``check_pending`` and words its errors over
        several lines)."""
        unknown: list[str] = []
        for attr in dir(module):
            opts = self.pm.parse_hookimpl_opts(module, attr)
            if opts is None:
                continue
            hook = opts.get("specname") or attr
            function = getattr(module, attr)
            caller: HookCaller | None = getattr(self.pm.hook, hook, None)
            if caller is None or caller.spec is None:
                unknown.append(hook)
                continue
            spec = caller.spec.function
            offered = list(caller.spec.argnames)
            taken = _required_arguments(function)
            extra = [arg for arg in taken if arg not in offered]
            if extra:
                raise PluginError(
                    name,
                    f"{hook}({', '.join(taken)}) takes {', '.join(map(repr, extra))}, which the "
                    f"hook does not provide (spec: {hook}({', '.join(offered)}))",
                )
            is_sync = getattr(spec, hookspecs.SYNC_MARK, False)
            if is_sync and (
                inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function)
            ):
                raise PluginError(name, f"{hook} must not be async (the host uses its result)")
            refused = _refused_option(opts, spec, is_sync)
            if refused:
                raise PluginError(name, f"{hook}: {refused}")
        if unknown:
            known = [spec for spec in dir(hookspecs) if spec.startswith(f"{hookspecs.PROJECT}_")]
            hints = [
                f"{hook} (did you mean {close[0]}?)" if close else hook
                for hook in sorted(unknown)
                for close in [difflib.get_close_matches(hook, known, n=1)]
            ]
            raise PluginError(name, f"implements unknown hook(s): {', '.join(hints)}")

    def _declared_requirements(self, name: str) -> list[str]:
        declared = self.requires(name)
        if declared is None:
            return []
        if isinstance(declared, str) or not all(isinstance(need, str) for need in declared):
            hook = self.pm.hook.scs_requires.name
            raise PluginError(name, f"{hook} must return a list of names, not {declared!r}")
        return [normalize(need) for need in declared]

    def refuse(self, error: PluginError, strict: bool) -> None:
        if strict or error.plugin == CORE:
            raise error
        log.warning("%s; it is disabled (SCS_PLUGINS_STRICT=false)", error)
        self.refused[error.plugin] = error.reason
        if self.pm.has_plugin(error.plugin):
            self.pm.unregister(name=error.plugin)
            self._alone_callers.clear()
        if error.plugin in self.enabled:
            self.enabled.remove(error.plugin)

    def requirements(self, name: str) -> list[str]:
        """The plugins ``name`` declared it needs (read once, when it was registered)."""
        return self.needs.get(name, [])

    def _check_requirements(self, strict: bool) -> None:
        changed = True
        while changed:
            changed = False
            for name in list(self.enabled):
                for need in self.requirements(name):
                    if need in self.enabled:
                        continue
                    if need not in self.infos:
                        reason = f"declares an unknown requirement {need!r} (not installed)"
                    elif need in self.refused:
                        reason = f"requires plugin {need!r}, which was refused"
                    else:
                        reason = (
                            f"requires plugin {need!r}, which is not enabled "
                            f"(add {need!r} to SCS_PLUGINS or drop {name!r})"
                        )
                    self.refuse(PluginError(name, reason), strict)
                    changed = True
                    break

    def _ordered(self) -> list[str]:
        """Enabled plugins with every plugin after the ones it requires."""
        ordered: list[str] = []

        def visit(name: str, trail: tuple[str, ...]) -> None:
            if name in ordered:
                return
            if name in trail:
                raise PluginError(name, f"requirement cycle: {' -> '.join((*trail, name))}")
            for need in self.requirements(name):
                visit(need, (*trail, name))
            ordered.append(name)

        for name in self.enabled:
            visit(name, ())
        return ordered

    # -- calling: helpers -------------------------------------------------
    def _alone(self, hook: HookCaller, plugin: str) -> HookCaller:
        """``hook`` restricted to one plugin's implementation."""
        key = (hook.name, plugin)
        caller = self._alone_callers.get(key)
        if caller is None:
            others = [module for name, module in self.pm.list_name_plugin() if name != plugin]
            caller = self._alone_callers[key] = self.pm.subset_hook_caller(hook.name, others)
        return caller

    @staticmethod
    def _in_call_order(hook: HookCaller) -> list[str]:
        """The plugins implementing ``hook``, in the order pluggy calls them."""
        return [impl.plugin_name for impl in reversed(hook.get_hookimpls())]

    def implements(self, plugin: str, hook: HookCaller) -> bool:
        return plugin in self._in_call_order(hook)

    def _culprit(self, hook: HookCaller, error: BaseException) -> str:
        """The plugin whose implementation of ``hook`` raised ``error`` (from its traceback)."""
        codes = {
            impl.function.__code__: impl.plugin_name
            for impl in hook.get_hookimpls()
            if hasattr(impl.function, "__code__")
        }
        traceback = error.__traceback__
        culprit = "?"
        while traceback is not None:
            culprit = codes.get(traceback.tb_frame.f_code, culprit)
            traceback = traceback.tb_next
        return culprit

    def _blamed(self, hook: HookCaller, error: Exception) -> PluginError:
        return PluginError(
            self._culprit(hook, error), f"{hook.name} raised {type(error).__name__}: {error}"
        )

    def _one(self, hook: HookCaller, plugin: str, **kwargs: Any) -> Any:
        """``plugin``'s implementation of ``hook`` alone: its result, None without one;
        an exception becomes a PluginError naming the plugin and the hook."""
        try:
            found = self._alone(hook, plugin)(**kwargs)
        except Exception as error:
            raise PluginError(
                plugin, f"{hook.name} raised {type(error).__name__}: {error}"
            ) from error
        return found[0] if found else None

    async def _one_awaited(self, hook: HookCaller, plugin: str, **kwargs: Any) -> None:
        result = self._one(hook, plugin, **kwargs)
        try:
            await await_me_maybe(result)
        except Exception as error:
            raise PluginError(
                plugin, f"{hook.name} raised {type(error).__name__}: {error}"
            ) from error

    # -- calling: one plugin at a time ------------------------------------
    def requires(self, plugin: str) -> Sequence[str] | None:
        declared: Sequence[str] | None = self._one(self.pm.hook.scs_requires, plugin)
        return declared

    def settings_model(self, plugin: str) -> type[ScsSettings] | None:
        model: type[ScsSettings] | None = self._one(self.pm.hook.scs_settings, plugin)
        return model

    def migrations(self, plugin: str) -> Sequence[Migration]:
        steps: Sequence[Migration] | None = self._one(self.pm.hook.scs_migrations, plugin)
        return steps or ()

    def registers(self, plugin: str) -> bool:
        """Whether ``plugin`` implements ``scs_register``."""
        return self.implements(plugin, self.pm.hook.scs_register)

    async def register(self, plugin: str, app: App, mcp: FastMCP[Any]) -> None:
        await self._one_awaited(self.pm.hook.scs_register, plugin, app=app, mcp=mcp)

    # -- calling: every plugin --------------------------------------------
    def middleware(self, app: App) -> list[Middleware]:
        hook = self.pm.hook.scs_middleware
        try:
            return [item for items in hook(app=app) for item in items or ()]
        except Exception as error:
            raise self._blamed(hook, error) from error

    def http_routes(self, app: App) -> list[Route]:
        hook = self.pm.hook.scs_http_routes
        try:
            return [route for routes in hook(app=app) for route in routes or ()]
        except Exception as error:
            raise self._blamed(hook, error) from error

    def commands(self, cli: click.Group) -> dict[str, str]:
        """Add every enabled plugin's subcommands; the plugins that failed, with why."""
        failed: dict[str, str] = {}
        for name in self.enabled:
            try:
                self._one(self.pm.hook.scs_commands, name, cli=cli)
            except PluginError as error:
                failed[name] = error.reason
        return failed

    def stats(self, app: App) -> dict[str, Mapping[str, Any]]:
        """Every plugin's figures for monitoring, by section."""
        merged: dict[str, Mapping[str, Any]] = {}
        for sections in self.pm.hook.scs_stats(app=app):
            merged.update(sections or {})
        return merged

    def call_started(self, app: App, call: Call) -> None:
        self._call_hook(self.pm.hook.scs_call_started, app, call)

    def call_admitted(self, app: App, call: Call) -> None:
        self._call_hook(self.pm.hook.scs_call_admitted, app, call)

    def call_finished(self, app: App, call: Call) -> None:
        self._call_hook(self.pm.hook.scs_call_finished, app, call)

    def _call_hook(self, hook: HookCaller, app: App, call: Call) -> None:
        """One of the hooks every call runs: the implementations are called directly, as
        pluggy would in turn (an exception stops the rest), unless one is a wrapper."""
        direct = self._direct_calls(hook)
        if direct is None:
            hook(app=app, call=call)
            return
        given = {"app": app, "call": call}
        for _plugin, function, argnames in direct:
            function(*[given[name] for name in argnames])

    async def startup(self, app: App) -> None:
        """Every plugin's start-up in order; the first failure stops it (PluginError)."""
        hook = self.pm.hook.scs_startup
        for name in self._in_call_order(hook):
            await self._one_awaited(hook, name, app=app)

    async def shutdown(self, app: App) -> None:
        """Every plugin's shutdown, in reverse order; a failure is logged, the rest still run."""
        hook = self.pm.hook.scs_shutdown
        await self._each_logged(hook, reversed(self._in_call_order(hook)), app=app)

    async def event(self, app: App, event: Event) -> None:
        """Deliver ``event`` to every plugin; one plugin's failure does not stop the others
        (a committed write must not look failed). It runs after every write, so the
        implementations are called directly (``_direct_calls``), not through pluggy."""
        direct = self._direct_calls(self.pm.hook.scs_event)
        assert direct is not None  # scs_event refuses wrappers at load
        given = {"app": app, "event": event}
        for plugin, function, argnames in direct:
            try:
                await await_me_maybe(function(*[given[name] for name in argnames]))
            except Exception:
                log.exception("plugin %r failed in scs_event; the others still run", plugin)

    def _direct_calls(self, hook: HookCaller) -> list[_Direct] | None:
        """``hook``'s implementations in call order, each as (plugin, function, the
        arguments it takes): what pluggy would call for each plugin alone. None when one
        is a wrapper (pluggy must run them). Rebuilt when the implementations change."""
        impls = hook.get_hookimpls()
        key = tuple(impls)
        cached = self._direct.get(hook.name)
        if cached is None or cached[0] != key:
            wrapped = any(i.wrapper or i.hookwrapper for i in impls)
            calls = [(i.plugin_name, i.function, tuple(i.argnames)) for i in reversed(impls)]
            cached = self._direct[hook.name] = (key, None if wrapped else calls)
        return cached[1]

    # -- export, import and retention (the archive plugin drives them) ------
    def export_records(
        self, app: App, reader: Executor, request: ExportRequest
    ) -> list[AsyncIterator[Record]]:
        """Each plugin's records for ``request``, the sessions plugin's first (its record
        opens a session's document), then in call order."""
        hook = self.pm.hook.scs_export
        names = sorted(self._in_call_order(hook), key=lambda name: name != "sessions")
        found = (self._one(hook, name, app=app, reader=reader, request=request) for name in names)
        return [records for records in found if records is not None]

    async def import_batch(
        self, app: App, tx: Transaction | None, batch: ImportBatch
    ) -> int | None:
        """The records written by the plugin that owns ``batch.kind``; None if none does."""
        hook = self.pm.hook.scs_import
        for name in self._in_call_order(hook):
            written = await await_me_maybe(self._one(hook, name, app=app, tx=tx, batch=batch))
            if written is not None:
                return int(written)
        return None

    async def retention(self, app: App, policy: RetentionPolicy) -> dict[str, int]:
        """Every plugin's retention under ``policy``: rows removed, by kind."""
        hook = self.pm.hook.scs_retention
        counts: dict[str, int] = {}
        for name in self._in_call_order(hook):
            removed = await await_me_maybe(self._one(hook, name, app=app, policy=policy))
            for kind, n in (removed or {}).items():
                counts[kind] = counts.get(kind, 0) + int(n)
        return counts

    async def _each_logged(self, hook: HookCaller, names: Iterable[str], **kwargs: Any) -> None:
        for name in names:
            try:
                await self._one_awaited(hook, name, **kwargs)
            except PluginError as error:
                log.exception(
                    "plugin %r failed in %s; the others still run", error.plugin, hook.name
                )


def _refused_option(opts: Mapping[str, Any], spec: Callable[..., Any], is_sync: bool) -> str:
    """Why a hookimpl option cannot be honoured on this spec ("" when it can)."""
    wrapper = "wrapper" if opts.get("wrapper") else "hookwrapper" if opts.get("hookwrapper") else ""
    if getattr(spec, hookspecs.PER_PLUGIN_MARK, False):
        for option in ("tryfirst", "trylast"):
            if opts.get(option):
                return f"{option} is refused: this hook is called for each plugin on its own"
        if wrapper:
            return f"{wrapper}=True is refused: this hook is called for each plugin on its own"
    elif wrapper and not is_sync:
        return (
            f"{wrapper}=True is refused: implementations of this hook may be async, "
            "a wrapper would not see their work"
        )
    return ""


async def await_me_maybe(value: T | Awaitable[T]) -> T:
    """``value``, awaited first when it is awaitable (a hook may be sync or async)."""
    if inspect.isawaitable(value):
        return await value
    return value
