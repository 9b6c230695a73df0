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
from typing import TYPE_CHECKING, Any

import pluggy

from scs import hookspecs

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence
    from types import ModuleType

log = logging.getLogger("scs.plugins")

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
CORE = "core"
# Hooks whose result the host uses directly; an ``async def`` would hand it a coroutine.
SYNC_HOOKS = frozenset(
    {
        "scs_settings",
        "scs_requires",
        "scs_migrations",
        "scs_middleware",
        "scs_http_routes",
        "scs_commands",
        "scs_call_started",
        "scs_call_admitted",
        "scs_call_finished",
    }
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
    from scs import core_plugin

    found: dict[str, PluginInfo] = {
        CORE: PluginInfo(CORE, "scs-core", _version("scs-core"), core_plugin)
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
    """The enabled plugins, registered with pluggy, and typed ways to call their hooks."""

    infos: dict[str, PluginInfo]
    enabled: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    needs: dict[str, list[str]] = field(default_factory=dict)
    pm: pluggy.PluginManager = field(init=False)

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
        host.pm.check_pending()
        return host

    def _register(self, name: str) -> None:
        info = self.infos[name]
        if info.error or info.module is None:
            raise PluginError(name, info.error or "has no module")
        self._check_hooks(name, info.module)
        try:
            self.pm.register(info.module, name=name)
        except pluggy.PluginValidationError as error:  # what _check_hooks does not cover
            reason = " ".join(str(error).split())
            raise PluginError(name, f"invalid hook implementation: {reason}") from None
        try:
            self.needs[name] = self._declared_requirements(name)
        except PluginError:
            self.pm.unregister(info.module)
            raise
        self.enabled.append(name)

    def _check_hooks(self, name: str, module: object) -> None:
        """Refuse unknown hook names, arguments a spec does not offer, and async sync-only hooks.

        pluggy accepts unknown names until ``check_pending`` and words signature
        errors over several lines; this says it in one line, before anything is registered.
        """
        unknown: list[str] = []
        for attr in dir(module):
            opts = self.pm.parse_hookimpl_opts(module, attr)
            if opts is None:
                continue
            hook = opts.get("specname") or attr
            function = getattr(module, attr)
            caller = getattr(self.pm.hook, hook, None)
            if caller is None or caller.spec is None:
                unknown.append(hook)
                continue
            offered = list(caller.spec.argnames)
            taken = _required_arguments(function)
            extra = [arg for arg in taken if arg not in offered]
            if extra:
                raise PluginError(
                    name,
                    f"{hook}({', '.join(taken)}) takes {', '.join(map(repr, extra))}, which the "
                    f"hook does not provide (spec: {hook}({', '.join(offered)}))",
                )
            if hook in SYNC_HOOKS and (
                inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function)
            ):
                raise PluginError(name, f"{hook} must not be async (the host calls it directly)")
        if unknown:
            known = [spec for spec in dir(hookspecs) if spec.startswith(f"{hookspecs.PROJECT}_")]
            hints = [
                f"{hook} (did you mean {close[0]}?)" if close else hook
                for hook in sorted(unknown)
                for close in [difflib.get_close_matches(hook, known, n=1)]
            ]
            raise PluginError(name, f"implements unknown hook(s): {', '.join(hints)}")

    def _declared_requirements(self, name: str) -> list[str]:
        try:
            declared = self.call_one(name, "scs_requires")
        except Exception as error:
            raise PluginError(
                name, f"scs_requires raised {type(error).__name__}: {error}"
            ) from None
        if declared is None:
            return []
        if isinstance(declared, str) or not all(isinstance(need, str) for need in declared):
            raise PluginError(name, f"scs_requires must return a list of names, not {declared!r}")
        return [normalize(need) for need in declared]

    def refuse(self, error: PluginError, strict: bool) -> None:
        if strict or error.plugin == CORE:
            raise error
        log.warning("%s; it is disabled (SCS_PLUGINS_STRICT=false)", error)
        self.refused[error.plugin] = error.reason
        module = self.infos[error.plugin].module
        if module is not None and self.pm.is_registered(module):
            self.pm.unregister(module)
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

    # -- calling ----------------------------------------------------------
    def impl(self, plugin: str, hook: str) -> pluggy.HookImpl | None:
        for impl in getattr(self.pm.hook, hook).get_hookimpls():
            if impl.plugin_name == plugin:
                return impl  # type: ignore[no-any-return]
        return None

    def call_one(self, plugin: str, hook: str, **kwargs: Any) -> Any:
        """Call one plugin's implementation of a hook (None when it has none)."""
        impl = self.impl(plugin, hook)
        if impl is None:
            return None
        return impl.function(*(kwargs[arg] for arg in impl.argnames))

    def each(self, hook: str, *, reverse: bool = False) -> Iterator[str]:
        """Enabled plugins implementing ``hook``, in dependency order."""
        names = reversed(self.enabled) if reverse else iter(self.enabled)
        for name in names:
            if self.impl(name, hook) is not None:
                yield name

    async def broadcast(self, hook: str, **kwargs: Any) -> list[Any]:
        """Call every implementation in dependency order, awaiting awaitable results."""
        results = []
        for name in self.each(hook):
            result = self.call_one(name, hook, **kwargs)
            if inspect.isawaitable(result):
                result = await result
            results.append(result)
        return results
