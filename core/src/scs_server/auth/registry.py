"""Agent registration: which ids are protected, and who may mint tokens for them.

An id is protected once registered (it has an agent secret) or once the admin key
minted an admin token for it (``admin_held``). Minting for a protected id needs its
secret or the admin key; in ``required`` mode every id must be protected first.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import TYPE_CHECKING, Any

from scs_server.auth import agents_store, store
from scs_server.auth.tokens import TokenService
from scs_server.errors import ErrorCode, ScsError

if TYPE_CHECKING:
    from scs_server.auth.agents_store import AgentRecord
    from scs_server.identity import Identity
    from scs_server.settings import Settings
    from scs_server.storage import Database

ADMIN_PERMISSIONS = frozenset({"admin", "debug"})


def new_agent_secret() -> str:
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    # A plain sha256 is enough: the secret is 256 random bits, so neither a dictionary
    # nor brute force applies, and a slow KDF would only slow every authenticate_agent.
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def secret_matches(record: AgentRecord, presented: str | None) -> bool:
    if record.secret_hash is None or not isinstance(presented, str) or not presented:
        return False
    return hmac.compare_digest(hash_secret(presented), record.secret_hash)


class AgentRegistry:
    """Registers agent ids and decides whether a key may mint a token for one."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db

    @property
    def mode(self) -> str:
        return self.settings.registration_mode()

    async def find(self, agent_id: str) -> AgentRecord | None:
        return await agents_store.find(self.db, agent_id)

    async def check_mint(
        self, level: str, agent_id: str, agent_type: str, agent_secret: str | None, client: str
    ) -> AgentRecord | None:
        """Refuse a mint the key/secret pair does not allow; return the id's registration."""
        record = await self.find(agent_id)
        if level == "admin":
            return record
        if record is None:
            if self.mode == "required":
                await self._audit("denied_unregistered", agent_id, client)
                raise ScsError(
                    ErrorCode.AUTH_AGENT_NOT_REGISTERED,
                    f"agent id {agent_id!r} is not registered (SCS_AGENT_REGISTRATION=required)",
                    "call register_agent(agent_id, agent_type) once with the API key, keep the "
                    "agent_secret it returns, then authenticate_agent(..., agent_secret=...)",
                )
            return None
        if agent_secret is None or agent_secret == "":
            await self._audit("denied_no_secret", agent_id, client)
            raise ScsError(
                ErrorCode.AUTH_AGENT_SECRET_REQUIRED,
                f"agent id {agent_id!r} is registered: minting a token for it needs its secret",
                "pass the agent_secret that register_agent returned (or use the admin key); "
                "pick another agent_id if this one is not yours",
            )
        if not secret_matches(record, agent_secret):
            # a guess: the caller counts it as a failed authentication (audited in aggregate)
            raise ScsError(
                ErrorCode.AUTH_AGENT_SECRET_INVALID,
                f"wrong agent_secret for agent id {agent_id!r}",
                "use the agent_secret register_agent returned; if it is lost, the admin can "
                f"issue a new one: `scs agents add {agent_id} --rotate`",
            )
        if agent_type != record.agent_type:
            raise ScsError(
                ErrorCode.VALIDATION,
                f"agent id {agent_id!r} is registered with agent_type {record.agent_type!r}",
                f"pass agent_type={record.agent_type!r}",
            )
        return record

    async def check_refresh(self, identity: Identity, client: str) -> None:
        """Refuse to renew a token issued before its id was protected (or got a new secret):
        it may be an impostor's from before, and refreshing would keep it alive forever."""
        record = await self.find(identity.agent_id)
        if record is None or identity.issued_at is None:
            return
        if identity.issued_at < record.protected_since:
            await self._audit("denied_stale", identity.agent_id, client, action="refresh")
            raise ScsError(
                ErrorCode.AUTH_AGENT_SECRET_REQUIRED,
                f"this token for {identity.agent_id!r} predates the id's registration or its "
                "newest agent_secret, so it cannot be refreshed",
                "authenticate_agent again with the id's agent_secret (or the admin key)",
            )

    async def after_admin_mint(
        self, record: AgentRecord | None, agent_id: str, agent_type: str, granted: frozenset[str]
    ) -> None:
        """Protect an id the admin key minted for: always for admin permissions, and in
        required mode for any id (else the API key could register it and take it over)."""
        holds_admin = bool(granted & ADMIN_PERMISSIONS)
        if record is not None and (record.admin_held or not holds_admin):
            return
        if holds_admin or self.mode == "required":
            await agents_store.hold(self.db, agent_id, agent_type)

    async def register(
        self,
        agent_id: str,
        agent_type: str,
        *,
        admin: bool,
        replace: bool,
        by: str,
        client: str,
    ) -> dict[str, Any]:
        """Register an id and return its new secret (shown this once, stored hashed).

        An id registered already is refused unless ``replace`` (admin only): then its
        secret is rotated and the old one stops working.
        """
        TokenService.check_agent(agent_id, agent_type)
        if agent_type == "admin" and not admin:
            raise ScsError(
                ErrorCode.AUTH_ADMIN_KEY_REQUIRED,
                "agents of type 'admin' can only be registered with the admin API key",
                "present SCS_ADMIN_API_KEY instead of SCS_API_KEY, or pick another agent_type",
            )
        secret = new_agent_secret()
        hashed = hash_secret(secret)
        if replace and admin:
            rotated = await agents_store.set_secret(self.db, agent_id, agent_type, hashed, by)
        elif await agents_store.insert(self.db, agent_id, agent_type, hashed, by):
            rotated = False
        else:
            await self._audit("denied_registered", agent_id, client, action="register")
            raise ScsError(
                ErrorCode.AGENT_ALREADY_REGISTERED,
                f"agent id {agent_id!r} is registered already",
                "authenticate_agent with its agent_secret; if it is lost, the admin can issue "
                f"a new one (`scs agents add {agent_id} --rotate`); or pick another agent_id",
            )
        await store.audit(
            self.db,
            "register",
            "rotated" if rotated else "success",
            agent_id=agent_id,
            detail=f"type={agent_type} by={by}",
            client=client,
        )
        return {
            "success": True,
            "agent_id": agent_id,
            "agent_type": agent_type,
            "agent_secret": secret,
            "rotated": rotated,
            "hint": "store agent_secret now: it is shown once; "
            "authenticate_agent(agent_id, agent_type, agent_secret=...) mints tokens",
        }

    async def remove(self, agent_id: str, *, by: str) -> bool:
        removed = await agents_store.remove(self.db, agent_id)
        if removed:
            await store.audit(self.db, "unregister", "success", agent_id=agent_id, detail=by)
        return removed

    async def list_public(self) -> list[dict[str, Any]]:
        """Every protected id as an admin may see it (never a secret or its hash)."""
        return [record.public() for record in await agents_store.all_agents(self.db)]

    async def _audit(
        self, result: str, agent_id: str, client: str, action: str = "authenticate"
    ) -> None:
        await store.audit(self.db, action, result, agent_id=agent_id, client=client)
