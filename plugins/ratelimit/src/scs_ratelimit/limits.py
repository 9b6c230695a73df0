"""The rate limiter, run through the core's ``scs_call_admitted`` hook.

Once the caller is verified and allowed, a call takes one token from each of its
buckets for its tool class, and is refused with ``RATE_LIMITED`` if any is empty:

- the agent's own ``(agent, class)`` bucket (the client address's, for the anonymous
  reader and the auth tools);
- the aggregate bucket of the credential that minted the agent's token (so agent ids
  minted freely from one key share one allowance);
- the aggregate bucket of the client address.

Failed authentication is not handled here: the core throttles it (``scs.auth.throttle``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scs import ErrorCode, ScsError
from scs.request import client_address

from scs_ratelimit.buckets import BucketTable, retry_after_seconds

if TYPE_CHECKING:
    from collections.abc import Hashable

    from scs.app import App
    from scs.request import Call

    from scs_ratelimit.settings import RatelimitSettings

UNSPECIFIED_CREDENTIAL = "unspecified"  # tokens minted without a crd claim (older, CLI)


class RateLimiter:
    """Token buckets per (agent, class), per (credential, class) and per (address, class)."""

    def __init__(self, app: App, settings: RatelimitSettings) -> None:
        self.app = app
        self.settings = settings
        self.table = BucketTable(settings.max_buckets)
        self.refused = 0
        self.refused_by_scope: dict[str, int] = {"agent": 0, "credential": 0, "source": 0}

    def _rate_class(self, call: Call) -> str:
        if call.kind != "tool":
            return "read"
        policy = self.app.tools.get(call.name)
        return policy.rate_class if policy is not None else "read"

    def _buckets(self, call: Call, rate_class: str) -> list[tuple[Hashable, str, float, int]]:
        """(key, scope, rate per second, burst) of every bucket the call draws from."""
        identity = call.identity
        rate, burst = self.settings.rate(rate_class)
        address = client_address()
        if rate_class == "auth" or identity is None or identity.anonymous:
            return [(("address", address, rate_class), "source", rate, burst)]
        by_credential = self.settings.credential_multiplier
        by_source = self.settings.source_multiplier
        credential = identity.credential or UNSPECIFIED_CREDENTIAL
        return [
            (("agent", identity.agent_id, rate_class), "agent", rate, burst),
            (
                ("credential", credential, rate_class),
                "credential",
                rate * by_credential,
                round(burst * by_credential),
            ),
            (
                ("address", address, rate_class),
                "source",
                rate * by_source,
                round(burst * by_source),
            ),
        ]

    def admitted(self, call: Call) -> None:
        identity = call.identity
        if identity is not None and identity.is_admin and self.settings.exempt_admins:
            return
        rate_class = self._rate_class(call)
        now = self.table.clock()
        buckets = [
            (scope, rate, burst, self.table.get(key, rate, burst))
            for key, scope, rate, burst in self._buckets(call, rate_class)
        ]
        # all or nothing: a refused call takes no token from the buckets that had one
        worst = max(buckets, key=lambda entry: entry[3].wait(now))
        wait = worst[3].wait(now)
        if wait > 0:
            scope, rate, burst, _ = worst
            self.refused += 1
            self.refused_by_scope[scope] += 1
            retry = retry_after_seconds(wait)
            who = {"agent": "agent", "credential": "credential (all its agents)"}.get(
                scope, "client address"
            )
            raise ScsError(
                ErrorCode.RATE_LIMITED,
                f"rate limit exceeded for {rate_class} calls by this {who} "
                f"({rate * 60:g} per minute, burst {burst})",
                f"retry in {retry} s; nothing was done",
                retry_after=retry,
                rate_class=rate_class,
                scope=scope,
            )
        for _, _, _, bucket in buckets:
            bucket.take(now)
