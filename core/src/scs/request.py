"""Facts about the HTTP request behind the current MCP call (empty over stdio)."""

from __future__ import annotations

import uuid
from contextvars import ContextVar

from fastmcp.server.dependencies import get_http_request

_request_id: ContextVar[str | None] = ContextVar("scs_request_id", default=None)


def header(name: str) -> str | None:
    """A header of the HTTP request being served, or None (stdio, in-memory)."""
    try:
        return get_http_request().headers.get(name)
    except RuntimeError:
        return None


def bearer_token() -> str | None:
    value = header("authorization")
    if value and value[:7].lower() == "bearer ":
        return value[7:].strip() or None
    return None


def client_address() -> str:
    try:
        request = get_http_request()
    except RuntimeError:
        return "local"
    return request.client.host if request.client else "unknown"


def request_id() -> str:
    """An id for the current call, for logs and internal-error reports."""
    current = _request_id.get()
    if current is None:
        current = uuid.uuid4().hex[:12]
        _request_id.set(current)
    return current


def new_request_id() -> object:
    return _request_id.set(uuid.uuid4().hex[:12])


def reset_request_id(token: object) -> None:
    _request_id.reset(token)  # type: ignore[arg-type]
