"""Hook implementations of the ratelimit plugin: the core's admitted and finished hooks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scs_server import hookimpl

from scs_ratelimit.limits import RateLimiter
from scs_ratelimit.settings import RatelimitSettings

if TYPE_CHECKING:
    from collections.abc import Mapping

    from scs_server.app import App
    from scs_server.request import Call


@hookimpl
def scs_settings() -> type[RatelimitSettings]:
    return RatelimitSettings


@hookimpl
def scs_register(app: App) -> None:
    """No tools: the limiter is made here so that it exists before the first call."""
    app.services.provide(RateLimiter, RateLimiter(app, app.config("ratelimit")), by="ratelimit")


@hookimpl
def scs_call_admitted(app: App, call: Call) -> None:
    app.services.get(RateLimiter, needed_by="ratelimit").admitted(call)


@hookimpl
def scs_call_finished(app: App, call: Call) -> None:
    app.services.get(RateLimiter, needed_by="ratelimit").finished(call)


@hookimpl
def scs_stats(app: App) -> Mapping[str, Mapping[str, Any]]:
    limiter = app.services.find(RateLimiter)
    if limiter is None:
        return {}
    return {
        "ratelimit": {
            "refused": limiter.refused,
            "refused_by_scope": dict(limiter.refused_by_scope),
            "buckets": len(limiter.table),
            "buckets_dropped": limiter.table.dropped,
        }
    }
