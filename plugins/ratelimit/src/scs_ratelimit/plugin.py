"""Hook implementations of the ratelimit plugin: the core's admitted and finished hooks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scs import hookimpl

from scs_ratelimit.limits import RateLimiter
from scs_ratelimit.settings import RatelimitSettings

if TYPE_CHECKING:
    from scs.app import App
    from scs.request import Call

SERVICE = "ratelimit"


@hookimpl
def scs_settings() -> type[RatelimitSettings]:
    return RatelimitSettings


@hookimpl
def scs_register(app: App) -> None:
    app.services[SERVICE] = RateLimitStats(RateLimiter(app, app.config("ratelimit")))


def _limiter(app: App) -> RateLimiter:
    stats: RateLimitStats = app.services[SERVICE]
    return stats.limiter


@hookimpl
def scs_call_admitted(app: App, call: Call) -> None:
    _limiter(app).admitted(call)


@hookimpl
def scs_call_finished(app: App, call: Call) -> None:
    _limiter(app).finished(call)


class RateLimitStats:
    """What the monitoring plugin (or a test) may read about the limiter."""

    def __init__(self, limiter: RateLimiter) -> None:
        self.limiter = limiter

    def stats(self) -> dict[str, Any]:
        return {
            "refused": self.limiter.refused,
            "refused_by_scope": dict(self.limiter.refused_by_scope),
            "buckets": len(self.limiter.table),
            "buckets_dropped": self.limiter.table.dropped,
        }
