"""Dashboard logins: a token or the admin key becomes a server-side session.

The browser holds only a random session id (HttpOnly cookie); the database holds its
SHA-256, so a leaked table row cannot be replayed as a cookie. Each login gets a new
id (no fixation) and its own CSRF token. A wrong credential goes through the core's
failed-authentication throttle, exactly like a wrong API key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from scs_server.auth import store as auth_store
from scs_server.errors import ErrorCode, ScsError
from scs_server.identity import Identity
from scs_server.timestamps import utc_now

from scs_dashboard import store

if TYPE_CHECKING:
    from collections.abc import Mapping

    from scs_server.app import App

    from scs_dashboard.settings import DashboardSettings

ADMIN_PERMISSIONS = frozenset({"read", "write", "admin", "debug"})
MAX_CREDENTIAL_CHARS = 8192


@dataclass(frozen=True)
class Viewer:
    """The logged-in person: the identity every read and write is done as."""

    identity: Identity
    csrf: str
    id_hash: str
    expires_at: int


def hash_id(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def same_secret(presented: str | None, expected: str) -> bool:
    """Constant-time comparison of a presented CSRF token (or login nonce)."""
    if not presented:
        return False
    return hmac.compare_digest(
        presented.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


def _is_admin_key(app: App, presented: str) -> bool:
    admin = app.settings.admin_api_key
    if admin is None:
        return False
    return hmac.compare_digest(
        presented.encode("utf-8", "surrogatepass"), admin.get_secret_value().encode()
    )


async def _identity_of(
    app: App, settings: DashboardSettings, presented: str, client: str
) -> Identity:
    if presented and len(presented) <= MAX_CREDENTIAL_CHARS and _is_admin_key(app, presented):
        return Identity(settings.admin_agent_id, "admin", ADMIN_PERMISSIONS, credential="admin_key")
    if not presented or len(presented) > MAX_CREDENTIAL_CHARS:
        wrong = ScsError(ErrorCode.AUTH_INVALID_TOKEN, "no usable token given")
        raise await app.auth.failed("dashboard", client, presented[:256], wrong)
    # a wrong or revoked token is counted (and audited) by the core's throttle here
    return await app.auth.identify(presented, client)


async def log_in(
    app: App, settings: DashboardSettings, presented: str, client: str
) -> tuple[str, Viewer]:
    """Check the credential; return a new session id (for the cookie) and its viewer."""
    identity = await _identity_of(app, settings, presented.strip(), client)
    now = int(time.time())
    expires_at = now + settings.session_ttl_s
    if identity.expires_at is not None:
        expires_at = min(expires_at, identity.expires_at)
    session_id = new_secret()
    viewer = Viewer(identity, new_secret(), hash_id(session_id), expires_at)
    async with app.db.transaction() as tx:
        await store.purge_expired(tx, now)
        await store.insert(
            tx,
            id_hash=viewer.id_hash,
            csrf=viewer.csrf,
            agent_id=identity.agent_id,
            agent_type=identity.agent_type,
            permissions=",".join(sorted(identity.permissions)),
            credential=identity.credential,
            token_id=identity.token_id,
            created_at=utc_now(),
            expires_at=expires_at,
        )
    await auth_store.audit(
        app.db,
        "dashboard_login",
        "success",
        agent_id=identity.agent_id,
        detail=f"type={identity.agent_type} admin={identity.is_admin}",
        client=client,
    )
    return session_id, viewer


def _viewer(row: Mapping[str, Any]) -> Viewer:
    permissions = frozenset(p for p in str(row["permissions"]).split(",") if p)
    identity = Identity(
        row["agent_id"],
        row["agent_type"],
        permissions,
        token_id=row["token_id"],
        expires_at=int(row["expires_at"]),
        credential=row["credential"],
    )
    return Viewer(identity, row["csrf"], row["id_hash"], int(row["expires_at"]))


async def viewer_of(app: App, session_id: str | None) -> Viewer | None:
    """The viewer of a session cookie, or None (unknown, expired, or its token revoked)."""
    if not session_id or len(session_id) > 200:
        return None
    row = await app.db.lookup(store.get, hash_id(session_id), int(time.time()))
    if row is None:
        return None
    viewer = _viewer(row)
    token_id = viewer.identity.token_id
    if token_id and await auth_store.is_revoked(app.db, token_id):
        await app.db.write(partial(store.delete, id_hash=viewer.id_hash))
        return None
    return viewer


async def still_valid(app: App, viewer: Viewer) -> bool:
    """Whether the viewer's session still stands (not logged out, expired or revoked)."""
    row = await app.db.lookup(store.get, viewer.id_hash, int(time.time()))
    if row is None:
        return False
    token_id = viewer.identity.token_id
    return not (token_id and await auth_store.is_revoked(app.db, token_id))


async def log_out(app: App, viewer: Viewer) -> None:
    await app.db.write(partial(store.delete, id_hash=viewer.id_hash))
