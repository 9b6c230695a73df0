"""The auth service: API-key checks, failed-auth throttling, minting, refresh, revocation."""

from __future__ import annotations

import hmac
import logging
import math
import time
from typing import TYPE_CHECKING

from scs_server.auth import early_check, named_store, store
from scs_server.auth.registry import AgentRegistry
from scs_server.auth.revocation_lease import RevocationLease, wait_until_applied
from scs_server.auth.revocations import RevocationChecks
from scs_server.auth.throttle import FailureThrottle
from scs_server.auth.tokens import AGENT_ID_RE, TokenService
from scs_server.errors import ErrorCode, ScsError
from scs_server.identity import PERMISSIONS, Identity
from scs_server.request import client_address

if TYPE_CHECKING:
    from scs_server.auth.named_store import NamedToken
    from scs_server.auth.throttle import AuditUpdate
    from scs_server.auth.tokens import Minted
    from scs_server.settings import Settings
    from scs_server.storage import Database

log = logging.getLogger("scs.auth")

LAST_USED_EVERY_S = 60  # a named token's last_used is written at most this often
LAST_USED_TRACKED = 10_000


class AuthService:
    """Everything that decides who a caller is; shared by tools, middleware and CLI."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.tokens = TokenService(settings)
        self.agents = AgentRegistry(settings, db)
        self.throttle = FailureThrottle(settings)
        self.revocations = RevocationChecks(db)
        self._last_used: dict[str, float] = {}  # named token jti -> when last_used was written

    # -- API keys -----------------------------------------------------------
    def _key_level(self, presented: str) -> str | None:
        """'admin' for the admin key, 'user' for the API key, None otherwise (constant time)."""
        # surrogatepass: a lone surrogate (valid JSON "\\ud800") must be a wrong key, not a crash
        encoded = presented.encode("utf-8", "surrogatepass")
        admin = self.settings.admin_api_key
        user = self.settings.api_key
        is_admin = admin is not None and hmac.compare_digest(
            encoded, admin.get_secret_value().encode()
        )
        is_user = user is not None and hmac.compare_digest(
            encoded, user.get_secret_value().encode()
        )
        if is_admin:
            return "admin"
        return "user" if is_user else None

    async def check_api_key(self, presented: str | None, client: str) -> str:
        """'admin' or 'user' for a right key, whatever ``client``'s past failures; a
        wrong or missing key is counted against ``client`` and refused."""
        level = self._key_level(presented) if isinstance(presented, str) and presented else None
        if level is None:
            raise await self.failed(
                "api_key",
                client,
                presented,
                ScsError(
                    ErrorCode.AUTH_BAD_API_KEY,
                    "a valid API key is required to mint a token",
                    "send it in the X-API-Key header (HTTP) or the api_key argument (stdio)",
                ),
            )
        return level

    # -- failed authentication ------------------------------------------------
    async def failed(
        self, kind: str, client: str, credential: str | None, error: ScsError
    ) -> ScsError:
        """Count a wrong credential from ``client`` and return the error to raise.

        While the source (or this very credential) is in backoff the attempt is refused
        early with AUTH_008 and ``retry_after``; otherwise it counts a failure (which may
        start the backoff) and ``error`` is returned. Call it only once the credential
        has been checked and found wrong: a right one never gets here.
        """
        wait = self.throttle.wait(client, credential)
        if wait > 0:
            self.throttle.refused()
            retry = max(1, math.ceil(wait))
            return ScsError(
                ErrorCode.AUTH_TOO_MANY_ATTEMPTS,
                "too many failed authentications from this client; wrong credentials "
                "are refused for now (right ones are still accepted)",
                f"check your credentials; retry in {retry} s",
                retry_after=retry,
            )
        opened = self.throttle.record(client, credential, kind)
        if opened is not None:  # the first failure of this source's window: its one audit row
            opened.audit_row = await store.audit(
                self.db,
                "auth_failures",
                "failure",
                detail=opened.summary(self.throttle.window_s),
                client=client,
            )
        await self._write_audit_updates(self.throttle.take_updates())
        return error

    async def flush_failure_audit(self) -> None:
        """Bring every open window's audit row up to date (shutdown, tests)."""
        await self._write_audit_updates(self.throttle.flush())

    async def _write_audit_updates(self, updates: list[AuditUpdate]) -> None:
        if updates:
            await store.update_audit_details(self.db, [(u.row, u.detail) for u in updates])

    # -- tokens -------------------------------------------------------------
    async def authenticate(
        self,
        agent_id: str,
        agent_type: str,
        requested: list[str] | None,
        api_key: str | None,
        client: str,
        agent_secret: str | None = None,
    ) -> Minted:
        """Check the API key, then mint (see ``issue``)."""
        level = await self.check_api_key(api_key, client)
        return await self.issue(level, agent_id, agent_type, requested, client, agent_secret)

    async def issue(
        self,
        level: str,
        agent_id: str,
        agent_type: str,
        requested: list[str] | None,
        client: str,
        agent_secret: str | None = None,
        *,
        ttl: int | None = None,
        name: str | None = None,
    ) -> Minted:
        """Mint for a caller whose key is already checked (``level``: 'user' or 'admin').

        A registered id needs its ``agent_secret`` unless the key is the admin key.
        ``ttl`` and ``name`` are for named tokens (``issue_named``).
        """
        self.tokens.check_agent(agent_id, agent_type)
        wanted = set(requested if requested is not None else ["read", "write"])
        unknown = wanted - set(PERMISSIONS)
        if unknown:
            raise ScsError(
                ErrorCode.VALIDATION,
                f"unknown permission(s): {', '.join(sorted(map(str, unknown)))}",
                f"permissions are {', '.join(PERMISSIONS)}",
            )
        wants_admin = agent_type == "admin" or bool(wanted & {"admin", "debug"})
        if wants_admin and level != "admin":
            await store.audit(
                self.db, "authenticate", "denied_admin", agent_id=agent_id, client=client
            )
            raise ScsError(
                ErrorCode.AUTH_ADMIN_KEY_REQUIRED,
                "admin tokens can only be minted with the admin API key",
                "present SCS_ADMIN_API_KEY instead of SCS_API_KEY",
            )
        try:
            record = await self.agents.check_mint(level, agent_id, agent_type, agent_secret, client)
        except ScsError as error:
            if error.code != ErrorCode.AUTH_AGENT_SECRET_INVALID:
                raise
            raise await self.failed("agent_secret", client, agent_secret, error) from None
        granted = frozenset(wanted) & self.tokens.allowed_permissions(agent_type)
        if level == "admin":
            await self.agents.after_admin_mint(record, agent_id, agent_type, granted)
        # what minted the token keys the rate limiter's aggregate buckets: a registered
        # agent (its own secret) gets its own, the ids minted with a shared key share one
        credential = (
            "admin_key"
            if level == "admin"
            else "api_key"
            if record is None
            else f"agent:{agent_id}"
        )
        minted = self.tokens.mint(
            agent_id, agent_type, granted, credential=credential, ttl=ttl, name=name
        )
        await store.audit(
            self.db,
            "authenticate",
            "success",
            agent_id=agent_id,
            detail=f"type={agent_type} permissions={','.join(sorted(granted))}"
            + (f" name={name} ttl={ttl}" if name is not None else ""),
            client=client,
        )
        return minted

    # -- named client tokens ---------------------------------------------------
    async def issue_named(
        self,
        name: str,
        agent_id: str,
        agent_type: str,
        requested: list[str] | None,
        ttl: int,
        client: str,
    ) -> Minted:
        """Mint a long-lived token under ``name`` with the admin's authority and record
        it (listable, revocable by name). A live token's name is refused."""
        if not AGENT_ID_RE.match(name):
            raise ScsError(
                ErrorCode.VALIDATION,
                "a token name must be 1..100 characters: letters, digits and _ . : @ -",
                "for example 'claude-laptop' or 'ci-reviewer'",
            )
        if not 60 <= ttl <= self.settings.max_token_ttl:
            raise ScsError(
                ErrorCode.VALIDATION,
                f"ttl must be between 60 s and {self.settings.max_token_ttl} s (SCS_MAX_TOKEN_TTL)",
                "use units: --ttl 90d, 12h, 30m; or raise SCS_MAX_TOKEN_TTL",
            )
        taken = await named_store.find(self.db, name)
        if taken is not None and taken.status() == "active":
            raise self._name_taken(name)
        minted = await self.issue(
            "admin", agent_id, agent_type, requested, client, ttl=ttl, name=name
        )
        identity = minted.identity
        recorded = await named_store.insert(
            self.db,
            name,
            identity.token_id or "",
            agent_id,
            agent_type,
            sorted(identity.permissions),
            identity.issued_at or int(time.time()),
            identity.expires_at or 0,
        )
        if not recorded:  # another process took the name meanwhile; this token is never shown
            await self._revoke_identity(identity, "revoke")
            raise self._name_taken(name)
        return minted

    @staticmethod
    def _name_taken(name: str) -> ScsError:
        return ScsError(
            ErrorCode.CONFLICT,
            f"a live token is named {name!r} already",
            f"revoke it first (`scs tokens revoke {name}`) or pick another --name",
        )

    async def named_tokens(self) -> list[NamedToken]:
        return await named_store.all_tokens(self.db)

    async def revoke_named(self, name_or_jti: str) -> NamedToken | None:
        """Revoke a named token by name or jti, at once; None if no such token."""
        named = await named_store.find(self.db, name_or_jti)
        if named is None:
            return None
        await self._record_revocation(named.jti, named.agent_id, named.expires_at, "revoke")
        return await named_store.find(self.db, named.jti)

    async def _touch(self, identity: Identity) -> None:
        """Record that a named token was used: at most one write a minute per token."""
        jti = identity.token_id or ""
        now = time.monotonic()
        last = self._last_used.get(jti)
        if last is not None and now - last < LAST_USED_EVERY_S:
            return
        if len(self._last_used) >= LAST_USED_TRACKED:
            self._last_used.clear()
        self._last_used[jti] = now
        await named_store.touch(self.db, jti, int(time.time()))

    async def identify(self, token: str, client: str | None = None) -> Identity:
        """Verify a token and check it has not been revoked.

        A wrong token counts as a failed authentication of ``client`` (default: the
        current request's address) and is refused early while that source is in backoff.
        """
        try:
            identity = self.tokens.verify(token)
        except ScsError as error:
            raise await self.failed("token", client or client_address(), token, error) from None
        if identity.token_id and await self._revoked(identity.token_id):
            raise await self.failed(
                "token",
                client or client_address(),
                token,
                ScsError(
                    ErrorCode.AUTH_REVOKED,
                    "the token has been revoked",
                    "authenticate_agent again for a new token",
                ),
            )
        if identity.token_name is not None:
            await self._touch(identity)
        return identity

    async def _revoked(self, jti: str) -> bool:
        """The revocation check: the one its HTTP request started on arrival, if any."""
        early = early_check.take(jti)
        return await (early if early is not None else self.revocations.is_revoked(jti))

    async def refresh(self, token: str, grace_s: int = 0) -> Minted:
        """Trade a token for a new one, once: of concurrent refreshes of one token only
        the first gets a new token; the revocation and its audit are one transaction.

        With ``grace_s`` the old token keeps working that long (a client that still
        sends it meanwhile is not cut off); it cannot be refreshed a second time. A named
        token's successor keeps its name and its lifetime.
        """
        identity = await self._revoke(token, "refresh", grace_s)
        ttl = None
        if identity.token_name is not None and identity.issued_at and identity.expires_at:
            ttl = min(identity.expires_at - identity.issued_at, self.settings.max_token_ttl)
        minted = self.tokens.mint(
            identity.agent_id,
            identity.agent_type,
            identity.permissions,
            credential=identity.credential,
            ttl=ttl,
            name=identity.token_name,
        )
        if identity.token_name is not None:
            await named_store.follow_refresh(
                self.db,
                identity.token_id or "",
                minted.identity.token_id or "",
                minted.identity.expires_at or 0,
            )
        return minted

    async def revoke(self, token: str) -> Identity:
        return await self._revoke(token, "revoke")

    async def _revoke(self, token: str, action: str, grace_s: int = 0) -> Identity:
        return await self._revoke_identity(await self.identify(token), action, grace_s)

    async def _revoke_identity(self, identity: Identity, action: str, grace_s: int = 0) -> Identity:
        won = await self._record_revocation(
            identity.token_id or "", identity.agent_id, identity.expires_at or 0, action, grace_s
        )
        if not won:  # another call revoked (or refreshed) this token first
            raise ScsError(
                ErrorCode.AUTH_REVOKED,
                "the token has been revoked",
                "it was refreshed or revoked by another call; authenticate_agent again",
            )
        return identity

    async def _record_revocation(
        self, jti: str, agent_id: str, expires_at: int, action: str, grace_s: int = 0
    ) -> bool:
        """``store.revoke``; once it lands, wait until every replica answering revocation
        checks from memory has it (``revocation_lease``)."""
        won = await store.revoke(self.db, jti, agent_id, expires_at, action, grace_s)
        if won:
            await wait_until_applied(self.db)
        return won

    def stats(self) -> dict[str, object]:
        """Failed authentication (the throttle) and revocation checks."""
        return {**self.throttle.stats(), **self.revocations.stats()}

    async def start_revocation_lease(self) -> None:
        """PostgreSQL: answer revocation checks from memory under a lease (unless
        ``SCS_REVOCATION_LEASE_S=0``). Elsewhere nothing changes."""
        if self.db.dialect != "postgresql" or self.settings.revocation_lease_s <= 0:
            return
        lease = RevocationLease(self.db, self.settings.revocation_lease_s)
        await lease.start()
        self.revocations.lease = lease

    async def stop_revocation_lease(self) -> None:
        lease, self.revocations.lease = self.revocations.lease, None
        if lease is not None:
            await lease.stop()

    async def deny(self, identity: Identity, tool: str, needed: str) -> ScsError:
        await store.audit(
            self.db,
            "permission",
            "denied",
            agent_id=identity.agent_id,
            detail=f"{tool} needs {needed}",
        )
        return ScsError(
            ErrorCode.AUTH_FORBIDDEN,
            f"{tool} needs the {needed!r} permission",
            f"this token has: {', '.join(sorted(identity.permissions)) or 'none'}",
        )
