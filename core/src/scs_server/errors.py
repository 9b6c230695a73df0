"""One error type for every refusal: a stable code, a message and an optional hint."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """Stable error codes. Families: AUTH, VALIDATION, RESOURCE, CONFLICT, DATABASE, INTERNAL."""

    AUTH_REQUIRED = "AUTH_001"
    AUTH_INVALID_TOKEN = "AUTH_002"
    AUTH_EXPIRED = "AUTH_003"
    AUTH_REVOKED = "AUTH_004"
    AUTH_FORBIDDEN = "AUTH_005"
    AUTH_BAD_API_KEY = "AUTH_006"
    AUTH_ADMIN_KEY_REQUIRED = "AUTH_007"
    AUTH_TOO_MANY_ATTEMPTS = "AUTH_008"
    AUTH_AGENT_SECRET_REQUIRED = "AUTH_AGENT_SECRET_REQUIRED"
    AUTH_AGENT_SECRET_INVALID = "AUTH_AGENT_SECRET_INVALID"
    AUTH_AGENT_NOT_REGISTERED = "AUTH_AGENT_NOT_REGISTERED"
    AGENT_ALREADY_REGISTERED = "AGENT_ALREADY_REGISTERED"
    VALIDATION = "VALIDATION_001"
    VALIDATION_TOO_LARGE = "VALIDATION_002"
    NOT_FOUND = "RESOURCE_001"
    SESSION_CLOSED = "RESOURCE_002"
    MEMORY_NOT_FOUND = "MEMORY_NOT_FOUND"
    KEY_EXISTS = "KEY_EXISTS"
    CONFLICT = "CONFLICT"
    LEASE_CONFLICT = "LEASE_CONFLICT"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
    RATE_LIMITED = "RATE_LIMITED"
    DATABASE_BUSY = "DATABASE_BUSY"
    DATABASE_UNAVAILABLE = "DATABASE_UNAVAILABLE"
    INTERNAL = "INTERNAL_001"


class ScsError(Exception):
    """A refusal the client can act on; reaches the client as an MCP tool error.

    The error text is a JSON object ``{"success": false, "code", "error", "hint", ...}``
    so that both people and programs can read it (1.x clients look for ``code``).
    Independent of FastMCP (the CLI raises it without importing the server): at the
    edges of the server it travels as ``scs_server.middleware.WireError``, its FastMCP form.
    """

    def __init__(
        self,
        code: ErrorCode | str,
        message: str,
        hint: str | None = None,
        **details: Any,
    ) -> None:
        self.code = str(code)
        self.message = message
        self.hint = hint
        self.details = details
        super().__init__(self.to_text())

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"success": False, "code": self.code, "error": self.message}
        if self.hint:
            body["hint"] = self.hint
        body.update(self.details)
        return body

    def to_text(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, default=str)


def validation_error(message: str, hint: str | None = None, **details: Any) -> ScsError:
    """Shorthand for the most common refusal."""
    return ScsError(ErrorCode.VALIDATION, message, hint, **details)


def not_found(what: str, ident: object, hint: str | None = None) -> ScsError:
    """Shorthand for an unknown (or invisible) resource."""
    return ScsError(ErrorCode.NOT_FOUND, f"{what} {ident!s} not found", hint)
