"""The call hooks: plain functions plugins run around every tool call, resource read and
prompt.

Cheaper than a FastMCP middleware per concern (each layer costs every call a few
coroutine frames), and they sit where a plugin needs them: ``scs_call_started``
before authentication (it may refuse), ``scs_call_admitted`` once the caller is
verified and allowed (it may refuse), ``scs_call_finished`` after the call, whatever
its outcome (it may only observe).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scs.errors import error_code

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from scs.app import App
    from scs.plugins import PluginHost
    from scs.request import Call

log = logging.getLogger("scs.calls")


def _bound(
    function: Callable[..., object], argnames: tuple[str, ...], app: App
) -> Callable[[Call], object]:
    """The implementation as a function of the call alone (hooks may omit arguments)."""
    if argnames == ("app", "call"):
        return lambda call: function(app, call)
    if argnames == ("call",):
        return function
    return lambda call: function(*(app if name == "app" else call for name in argnames))


@dataclass
class CallHooks:
    """The enabled plugins' call hooks, resolved once (dependency order)."""

    started: list[Callable[[Call], object]] = field(default_factory=list)
    admitted: list[Callable[[Call], object]] = field(default_factory=list)
    finished: list[tuple[str, Callable[[Call], object]]] = field(default_factory=list)
    in_flight: dict[str, int] = field(
        default_factory=lambda: {"tool": 0, "resource": 0, "prompt": 0}
    )

    @classmethod
    def build(cls, host: PluginHost, app: App) -> CallHooks:
        hooks = cls()
        for name in host.enabled:
            for hook, target in (
                ("scs_call_started", hooks.started),
                ("scs_call_admitted", hooks.admitted),
            ):
                impl = host.impl(name, hook)
                if impl is not None:
                    target.append(_bound(impl.function, tuple(impl.argnames), app))
            impl = host.impl(name, "scs_call_finished")
            if impl is not None:
                hooks.finished.append((name, _bound(impl.function, tuple(impl.argnames), app)))
        return hooks

    async def run(self, call: Call, proceed: Callable[[], Awaitable[Any]]) -> Any:
        """Run the started hooks, the call, then the finished hooks (always)."""
        self.in_flight[call.kind] = self.in_flight.get(call.kind, 0) + 1
        started = time.perf_counter()
        try:
            for hook in self.started:
                hook(call)
            return await proceed()
        except BaseException as error:
            call.error = error_code(error)
            raise
        finally:
            self.in_flight[call.kind] -= 1
            call.seconds = time.perf_counter() - started
            for name, hook in self.finished:
                try:
                    hook(call)
                except Exception:  # an observer must not turn a result into an error
                    log.exception("plugin %r failed in scs_call_finished", name)

    def admit(self, call: Call) -> None:
        """Run the admitted hooks (auth has verified the caller and the permission)."""
        for hook in self.admitted:
            hook(call)
