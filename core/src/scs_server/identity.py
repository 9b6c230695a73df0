"""Who is calling: set per call by the auth middleware, read by tools."""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from scs_server.errors import ErrorCode, ScsError

if TYPE_CHECKING:
    from collections.abc import Iterator

Permission = Literal["read", "write", "admin", "debug"]
PERMISSIONS: tuple[Permission, ...] = ("read", "write", "admin", "debug")


@dataclass(frozen=True)
class Identity:
    """The verified caller. Comes only from a verified token (or the anonymous reader)."""

    agent_id: str
    agent_type: str
    permissions: frozenset[str] = field(default_factory=frozenset)
    token_id: str | None = None
    expires_at: int | None = None
    anonymous: bool = False
    issued_at: int | None = None
    credential: str | None = None  # what minted the token ("api_key", "admin_key", ...)
    token_name: str | None = None  # a named client token's name (``scs token --name``)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.permissions

    def can(self, permission: str) -> bool:
        return permission in self.permissions


ANONYMOUS_READER = Identity("anonymous", "anonymous", frozenset({"read"}), anonymous=True)

_current: ContextVar[Identity | None] = ContextVar("scs_identity", default=None)


def current_identity() -> Identity | None:
    """The caller of the tool or resource being run, or None outside a call."""
    return _current.get()


def require_identity() -> Identity:
    """The caller, or an ``AUTH_001`` error when the call carries no identity."""
    identity = _current.get()
    if identity is None:
        raise ScsError(
            ErrorCode.AUTH_REQUIRED,
            "authentication required",
            "pass auth_token (from authenticate_agent) or an Authorization: Bearer header",
        )
    return identity


@contextmanager
def acting_as(identity: Identity | None) -> Iterator[None]:
    """Run the enclosed call as ``identity`` (the auth middleware's job; tests may use it)."""
    marker = _current.set(identity)
    try:
        yield
    finally:
        _current.reset(marker)
