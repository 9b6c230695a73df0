"""The auth service: API-key checks with brute-force counting, minting, refresh, revocation."""

from __future__ import annotations

import hmac
import logging
import time
from collections import deque
from typing import TYPE_CHECKING

from scs.auth import store
from scs.auth.registry import AgentRegistry
from scs.auth.tokens import TokenService
from scs.errors import ErrorCode, ScsError
from scs.identity import PERMISSIONS, Identity

if TYPE_CHECKING:
    from scs.auth.tokens import Minted
    from scs.db import Database
    from scs.settings import Settings

log = logging.getLogger("scs.auth")
MAX_TRACKED_CLIENTS = 10_000


class AuthService:
    """Everything that decides who a caller is; shared by tools, middleware and CLI."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.tokens = TokenService(settings)
        self.agents = AgentRegistry(settings, db)
        self._failures: dict[str, deque[float]] = {}

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

    def _recent_failures(self, client: str, now: float) -> deque[float]:
        window = self.settings.auth_failure_window_s
        failures = self._failures.setdefault(client, deque())
        while failures and failures[0] < now - window:
            failures.popleft()
        if len(self._failures) > MAX_TRACKED_CLIENTS:
            for key in [k for k, v in self._failures.items() if not v][:1000]:
                del self._failures[key]
        return failures

    async def check_api_key(self, presented: str | None, client: str) -> str:
        now = time.monotonic()
        failures = self._recent_failures(client, now)
        if len(failures) >= self.settings.auth_max_failures:
            await store.audit(self.db, "api_key", "locked_out", client=client)
            retry = int(failures[0] + self.settings.auth_failure_window_s - now) + 1
            raise ScsError(
                ErrorCode.AUTH_TOO_MANY_ATTEMPTS,
                "too many failed API-key attempts from this client",
                f"wait {retry} s before trying again",
                retry_after=retry,
            )
        level = self._key_level(presented) if isinstance(presented, str) and presented else None
        if level is None:
            failures.append(now)
            await store.audit(self.db, "api_key", "failure", client=client)
            raise ScsError(
                ErrorCode.AUTH_BAD_API_KEY,
                "a valid API key is required to mint a token",
                "send it in the X-API-Key header (HTTP) or the api_key argument (stdio)",
            )
        return level

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
    ) -> Minted:
        """Mint for a caller whose key is already checked (``level``: 'user' or 'admin').

        A registered id needs its ``agent_secret`` unless the key is the admin key.
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
        record = await self.agents.check_mint(level, agent_id, agent_type, agent_secret, client)
        granted = frozenset(wanted) & self.tokens.allowed_permissions(agent_type)
        if level == "admin":
            await self.agents.after_admin_mint(record, agent_id, agent_type, granted)
        minted = self.tokens.mint(agent_id, agent_type, granted)
        await store.audit(
            self.db,
            "authenticate",
            "success",
            agent_id=agent_id,
            detail=f"type={agent_type} permissions={','.join(sorted(granted))}",
            client=client,
        )
        return minted

    async def identify(self, token: str) -> Identity:
        """Verify a token and check it has not been revoked."""
        try:
            identity = self.tokens.verify(token)
        except ScsError as error:
            await store.audit(self.db, "verify", "failure", detail=error.code)
            raise
        if identity.token_id and store.is_revoked(self.db, identity.token_id):
            await store.audit(self.db, "verify", "revoked", agent_id=identity.agent_id)
            raise ScsError(
                ErrorCode.AUTH_REVOKED,
                "the token has been revoked",
                "authenticate_agent again for a new token",
            )
        return identity

    async def refresh(self, token: str) -> Minted:
        """Trade a token for a new one, once: of concurrent refreshes of one token only
        the first gets a new token; the revocation and its audit are one transaction."""
        identity = await self._revoke(token, "refresh")
        return self.tokens.mint(identity.agent_id, identity.agent_type, identity.permissions)

    async def revoke(self, token: str) -> Identity:
        return await self._revoke(token, "revoke")

    async def _revoke(self, token: str, action: str) -> Identity:
        identity = await self.identify(token)
        won = await store.revoke(
            self.db, identity.token_id or "", identity.agent_id, identity.expires_at or 0, action
        )
        if not won:  # another call revoked (or refreshed) this token first
            raise ScsError(
                ErrorCode.AUTH_REVOKED,
                "the token has been revoked",
                "it was refreshed or revoked by another call; authenticate_agent again",
            )
        return identity

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
