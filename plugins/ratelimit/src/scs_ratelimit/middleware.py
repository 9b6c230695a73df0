"""The two rate-limit middlewares: per caller and tool class (after auth), and
failed authentications per client address (before auth)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cachetools import TTLCache
from fastmcp.server.middleware import Middleware
from scs import ErrorCode, ScsError, current_identity
from scs.middleware import AUTH_ORDER, OUTER_ORDER
from scs.request import bearer_token, client_address

from scs_ratelimit.buckets import BucketTable, retry_after_seconds

if TYPE_CHECKING:
    from collections.abc import Hashable

    from fastmcp.server.middleware import CallNext, MiddlewareContext
    from scs.app import App

    from scs_ratelimit.settings import RatelimitSettings

# After auth (the caller is known), before the cache (a cached answer is still a call).
LIMIT_ORDER = AUTH_ORDER + 50
# Before auth (it must see auth failures), inside monitoring (refusals are counted).
GUARD_ORDER = (OUTER_ORDER + AUTH_ORDER) // 2

# Codes meaning "the credentials presented were not good"; not AUTH_005 (a valid
# token lacking a permission) nor AUTH_007 (a valid key asking for admin).
AUTH_FAILURE_CODES = frozenset(
    {"AUTH_001", "AUTH_002", "AUTH_003", "AUTH_004", "AUTH_006", "AUTH_008"}
)


def error_code(error: BaseException) -> str | None:
    """The scs error code carried by an exception (raised directly or wrapped by FastMCP)."""
    for candidate in (error, error.__cause__):
        if isinstance(candidate, ScsError):
            return candidate.code
    return None


class RateLimitMiddleware(Middleware):
    """A token bucket per (agent, tool class); per (client address, class) for the
    anonymous reader and for the auth tools, which run before anyone is known."""

    order = LIMIT_ORDER

    def __init__(self, app: App, settings: RatelimitSettings, table: BucketTable) -> None:
        self.app = app
        self.settings = settings
        self.table = table
        self.refused = 0

    def _rate_class(self, tool: str) -> str:
        policy = self.app.tools.get(tool)
        return policy.rate_class if policy is not None else "read"

    def _check(self, rate_class: str) -> None:
        identity = current_identity()
        if identity is not None and identity.is_admin and self.settings.exempt_admins:
            return
        key: Hashable
        if rate_class == "auth" or identity is None or identity.anonymous:
            key, scope = ("address", client_address(), rate_class), "client address"
        else:
            key, scope = ("agent", identity.agent_id, rate_class), "agent"
        rate, burst = self.settings.rate(rate_class)
        wait = self.table.get(key, rate, burst).take(self.table.clock())
        if wait > 0:
            self.refused += 1
            retry = retry_after_seconds(wait)
            raise ScsError(
                ErrorCode.RATE_LIMITED,
                f"rate limit exceeded for {rate_class} calls by this {scope} "
                f"({rate * 60:g} per minute, burst {burst})",
                f"retry in {retry} s; nothing was done",
                retry_after=retry,
                rate_class=rate_class,
            )

    async def on_call_tool(
        self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]
    ) -> Any:
        self._check(self._rate_class(context.message.name))
        return await call_next(context)

    async def on_read_resource(
        self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]
    ) -> Any:
        self._check("read")
        return await call_next(context)


class AuthFailureGuard(Middleware):
    """Counts failed authentications per client address; once an address has used
    its allowance, its calls are refused before any verification (no token check,
    no audit write) until the bucket refills.

    All local agents share one address (127.0.0.1), so one misbehaving agent must
    not lock out the others: a call presenting a token that this process has
    already accepted passes the guard (auth still verifies it).
    """

    order = GUARD_ORDER

    def __init__(self, app: App, settings: RatelimitSettings, table: BucketTable) -> None:
        self.app = app
        self.settings = settings
        self.table = table
        self.known_good: TTLCache[str, bool] = TTLCache(
            maxsize=settings.max_buckets, ttl=app.settings.token_ttl_seconds
        )
        self.refused = 0

    async def _guard(
        self,
        token: str | None,
        verified: bool,
        context: MiddlewareContext[Any],
        call_next: CallNext[Any, Any],
    ) -> Any:
        address = client_address()
        key = ("auth-failures", address)
        bucket = self.table.peek(key)
        if bucket is not None and (token is None or token not in self.known_good):
            wait = bucket.wait(self.table.clock())
            if wait > 0:
                self.refused += 1
                retry = retry_after_seconds(wait)
                raise ScsError(
                    ErrorCode.RATE_LIMITED,
                    "too many failed authentications from this client address",
                    f"retry in {retry} s with valid credentials",
                    retry_after=retry,
                    rate_class="auth_failures",
                )
        try:
            result = await call_next(context)
        except Exception as error:
            if error_code(error) in AUTH_FAILURE_CODES:
                rate, burst = self.settings.failure_rate()
                self.table.get(key, rate, burst).take(self.table.clock())
            raise
        if token is not None and verified and token not in self.known_good:
            # keyed by the token itself: the core's verified-token cache holds the same
            # strings, and a digest per call cost more than the rest of the guard
            self.known_good[token] = True
        return result

    async def on_call_tool(
        self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]
    ) -> Any:
        argument = (context.message.arguments or {}).get("auth_token")
        token = argument if isinstance(argument, str) and argument else bearer_token()
        # Tools open to everyone (authenticate_agent) succeed whatever token is sent.
        policy = self.app.tools.get(context.message.name)
        verified = policy is not None and policy.permission != "none"
        return await self._guard(token, verified, context, call_next)

    async def on_read_resource(
        self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]
    ) -> Any:
        return await self._guard(bearer_token(), True, context, call_next)
