"""The rate limiter, run through the core's ``scs_call_admitted`` and ``_finished`` hooks.

Once the caller is verified and allowed, a call takes one token from each of its
buckets for its tool class, and is refused with ``RATE_LIMITED`` if any is empty:

- the agent's own ``(agent, class)`` bucket (the client address's, for the anonymous
  reader and the auth tools);
- the aggregate bucket of the credential that minted the agent's token (so agent ids
  minted freely from one key share one allowance);
- the aggregate bucket of the client address.

Failed authentication is not handled here: the core throttles it (``scs_server.auth.throttle``);
``finished`` only gives back the auth-class token of a call whose credentials were wrong.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scs_server import ErrorCode, ScsError
from scs_server.request import client_address

from scs_ratelimit.buckets import BucketTable, retry_after_seconds
from scs_ratelimit.settings import RATE_CLASSES

if TYPE_CHECKING:
    from collections.abc import Hashable

    from scs_server.app import App
    from scs_server.request import Call

    from scs_ratelimit.settings import RatelimitSettings

Size = tuple[float, int]  # (tokens per second, burst)
UNSPECIFIED_CREDENTIAL = "unspecified"  # tokens minted without a crd claim (older, CLI)
# the client's credentials were wrong (not AUTH_005/007: right ones lacking a permission;
# nor a missing agent secret or an unregistered id: a right key, and nothing guessed)
WRONG_CREDENTIAL_CODES = frozenset(
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


def _scaled(size: Size, times: float) -> Size:
    rate, burst = size
    return rate * times, round(burst * times)


class RateLimiter:
    """Token buckets per (agent, class), per (credential, class) and per (address, class)."""

    def __init__(self, app: App, settings: RatelimitSettings) -> None:
        self.app = app
        self.settings = settings
        self.table = BucketTable(settings.max_buckets)
        self.refused = 0
        self.refused_by_scope: dict[str, int] = {"agent": 0, "credential": 0, "source": 0}
        # (rate per second, burst) of the agent, credential and source buckets per class
        self.sizes: dict[str, tuple[Size, Size, Size]] = {}
        for rate_class in RATE_CLASSES:
            size = settings.rate(rate_class)
            self.sizes[rate_class] = (
                size,
                _scaled(size, settings.credential_multiplier),
                _scaled(size, settings.source_multiplier),
            )

    def _rate_class(self, call: Call) -> str:
        if call.kind != "tool":
            return "read"
        policy = self.app.tools.get(call.name)
        return policy.rate_class if policy is not None else "read"

    def admitted(self, call: Call) -> None:
        identity = call.identity
        if identity is not None and identity.is_admin and self.settings.exempt_admins:
            return
        rate_class = self._rate_class(call)
        agent, credential, source = self.sizes.get(rate_class) or self.sizes["read"]
        address = client_address()
        checks: tuple[tuple[Hashable, str, Size], ...]
        if rate_class == "auth" or identity is None or identity.anonymous:
            checks = ((("anonymous", address, rate_class), "source", agent),)
        else:
            crd = identity.credential or UNSPECIFIED_CREDENTIAL
            checks = (
                (("agent", identity.agent_id, rate_class), "agent", agent),
                (("credential", crd, rate_class), "credential", credential),
                (("source", address, rate_class), "source", source),
            )
        table = self.table
        now = table.clock()
        buckets = []
        for key, scope, (rate, burst) in checks:
            bucket = table.get(key, rate, burst, now)
            wait = bucket.wait(now)
            if wait > 0:  # refused before any token is taken: a refusal costs nothing
                self._refuse(rate_class, scope, rate, burst, wait)
            buckets.append(bucket)
        for bucket in buckets:
            bucket.tokens -= 1.0  # wait() has just refilled it: it holds at least one

    def _refuse(self, rate_class: str, scope: str, rate: float, burst: int, wait: float) -> None:
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

    def finished(self, call: Call) -> None:
        """Give back the auth-class token of a call refused for wrong credentials: the
        core throttles those per source, and someone else's wrong keys must not use up
        the address's allowance for minting with a right one."""
        if call.error in WRONG_CREDENTIAL_CODES and self._rate_class(call) == "auth":
            rate, burst = self.sizes["auth"][0]
            self.table.get(("anonymous", client_address(), "auth"), rate, burst).give_back()
