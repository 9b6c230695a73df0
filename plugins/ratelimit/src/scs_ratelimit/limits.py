"""The rate limiter, run through the core's call hooks.

- ``started`` (before authentication): refuse a client address that has used up its
  failed-authentication allowance, unless the call presents a token already accepted.
- ``admitted`` (the caller is verified and allowed): take a token from the bucket of
  (caller, tool class); refuse with ``RATE_LIMITED`` when it is empty.
- ``finished``: count failed authentications per address; remember accepted tokens.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cachetools import TTLCache
from scs import ErrorCode, ScsError
from scs.request import client_address

from scs_ratelimit.buckets import BucketTable, retry_after_seconds

if TYPE_CHECKING:
    from collections.abc import Hashable

    from scs.app import App
    from scs.request import Call

    from scs_ratelimit.settings import RatelimitSettings

# Codes meaning "the credentials presented were not good"; not AUTH_005 (a valid
# token lacking a permission), AUTH_007 (a valid key asking for admin) nor a missing
# agent secret or unregistered id (a valid key, and nothing guessed).
AUTH_FAILURE_CODES = frozenset(
    {
        "AUTH_001",
        "AUTH_002",
        "AUTH_003",
        "AUTH_004",
        "AUTH_006",
        "AUTH_008",
        ErrorCode.AUTH_AGENT_SECRET_INVALID.value,
    }
)


class RateLimiter:
    """Token buckets per (agent, tool class); per (client address, class) for the
    anonymous reader and the auth tools; failed authentications per address."""

    def __init__(self, app: App, settings: RatelimitSettings) -> None:
        self.app = app
        self.settings = settings
        self.table = BucketTable(settings.max_buckets)
        # All local agents share one address (127.0.0.1): one misbehaving agent must
        # not lock out the others, so a token this process accepted passes the guard.
        # Keyed by the token itself: the core's verified-token cache holds the same
        # strings, and a digest per call cost more than the rest of the guard.
        self.known_good: TTLCache[str, bool] = TTLCache(
            maxsize=settings.max_buckets, ttl=app.settings.token_ttl_seconds
        )
        self.refused = 0
        self.refused_auth_failures = 0

    def _rate_class(self, call: Call) -> str:
        if call.kind != "tool":
            return "read"
        policy = self.app.tools.get(call.name)
        return policy.rate_class if policy is not None else "read"

    def started(self, call: Call) -> None:
        bucket = self.table.peek(("auth-failures", client_address()))
        if bucket is None or (call.token is not None and call.token in self.known_good):
            return
        wait = bucket.wait(self.table.clock())
        if wait > 0:
            self.refused_auth_failures += 1
            retry = retry_after_seconds(wait)
            raise ScsError(
                ErrorCode.RATE_LIMITED,
                "too many failed authentications from this client address",
                f"retry in {retry} s with valid credentials",
                retry_after=retry,
                rate_class="auth_failures",
            )

    def admitted(self, call: Call) -> None:
        identity = call.identity
        if identity is not None and identity.is_admin and self.settings.exempt_admins:
            return
        rate_class = self._rate_class(call)
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

    def finished(self, call: Call) -> None:
        if call.error in AUTH_FAILURE_CODES:
            rate, burst = self.settings.failure_rate()
            key = ("auth-failures", client_address())
            self.table.get(key, rate, burst).take(self.table.clock())
        elif (
            call.error is None
            and call.token is not None
            and call.token not in self.known_good
            and self._verified(call)
        ):
            self.known_good[call.token] = True

    def _verified(self, call: Call) -> bool:
        """Whether a successful call proves its token good (auth tools accept any)."""
        if call.kind != "tool":
            return True
        policy = self.app.tools.get(call.name)
        return policy is not None and policy.permission != "none"
