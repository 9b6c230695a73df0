"""Hook implementations of the ratelimit plugin."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scs import hookimpl

from scs_ratelimit.buckets import BucketTable
from scs_ratelimit.middleware import AuthFailureGuard, RateLimitMiddleware
from scs_ratelimit.settings import RatelimitSettings

if TYPE_CHECKING:
    from collections.abc import Sequence

    from fastmcp.server.middleware import Middleware
    from scs.app import App


@hookimpl
def scs_settings() -> type[RatelimitSettings]:
    return RatelimitSettings


@hookimpl
def scs_middleware(app: App) -> Sequence[Middleware]:
    settings: RatelimitSettings = app.config("ratelimit")
    table = BucketTable(settings.max_buckets)
    limiter = RateLimitMiddleware(app, settings, table)
    guard = AuthFailureGuard(app, settings, table)
    app.services["ratelimit"] = RateLimitStats(limiter, guard, table)
    return [guard, limiter]


class RateLimitStats:
    """What the monitoring plugin (or a test) may read about the limiter."""

    def __init__(
        self, limiter: RateLimitMiddleware, guard: AuthFailureGuard, table: BucketTable
    ) -> None:
        self.limiter = limiter
        self.guard = guard
        self.table = table

    def stats(self) -> dict[str, Any]:
        return {
            "refused": self.limiter.refused,
            "refused_auth_failures": self.guard.refused,
            "buckets": len(self.table),
            "buckets_dropped": self.table.dropped,
        }
