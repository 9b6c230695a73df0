"""Facts about the current MCP call: its record (id, caller) and the HTTP request behind
it (empty over stdio)."""

from __future__ import annotations

import sys
import uuid
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio
    from contextvars import Token

    from starlette.requests import Request

    from scs_server.identity import Identity


@dataclass(slots=True)
class Call:
    """One request's record, made by the outermost middleware before anything else runs.

    For tool calls, resource reads and prompts the core fills in ``kind`` ("tool",
    "resource", "prompt"), ``name`` (tool name, resource URI or prompt name) and ``token`` (the credential presented, verified or not) before
    the ``scs_call_started`` hooks; ``identity`` once auth has verified the caller; and
    ``seconds`` and ``error`` (the error code the client gets, or None) before the
    ``scs_call_finished`` hooks. Middleware placed before auth can read the caller
    here after ``call_next`` returns (the identity context only lasts for the inner call).
    """

    kind: str = "request"
    name: str = ""
    token: str | None = None
    identity: Identity | None = None
    seconds: float = 0.0
    error: str | None = None
    deliveries: list[asyncio.Task[None]] = field(default_factory=list)
    _id: str | None = None

    @property
    def id(self) -> str:
        """The request id, made on first use (logs and internal-error reports)."""
        if self._id is None:
            self._id = uuid.uuid4().hex[:12]
        return self._id


_call: ContextVar[Call | None] = ContextVar("scs_call", default=None)
_process_token: str | None = None


def use_process_token(token: str | None) -> None:
    """Make ``token`` (``SCS_TOKEN``) the caller's Bearer token for every request that
    has no HTTP request behind it: over stdio the client cannot send headers."""
    global _process_token
    _process_token = token or None


def http_request() -> Request | None:
    """The HTTP request being served, or None (stdio, in-memory, the CLI)."""
    # a process that has not loaded FastMCP serves no request; and `scs token` must not
    # pay for loading it just to learn that
    if "fastmcp.server.dependencies" not in sys.modules:
        return None
    from fastmcp.server.dependencies import get_http_request

    try:
        return get_http_request()
    except RuntimeError:
        return None


def header(name: str) -> str | None:
    """A header of the HTTP request being served, or None (stdio, in-memory)."""
    request = http_request()
    return None if request is None else request.headers.get(name)


def parse_bearer(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value, or None."""
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip() or None
    return None


def bearer_token() -> str | None:
    """The Authorization: Bearer token of the HTTP request; over stdio, the process's
    ``SCS_TOKEN`` (see ``use_process_token``)."""
    request = http_request()
    if request is None:
        return _process_token
    return parse_bearer(request.headers.get("authorization"))


def presented_token(arguments: dict[str, Any] | None) -> str | None:
    """The credential a tool call presents: its ``auth_token`` argument, else the
    Bearer header (the argument wins when several agents share one connection)."""
    argument = (arguments or {}).get("auth_token")
    return argument if isinstance(argument, str) and argument else bearer_token()


def address_of(request: Request) -> str:
    """The client address of an HTTP request: the TCP peer, or the address a trusted
    proxy forwarded (``SCS_TRUSTED_PROXIES``: the app rewrites the client for those
    peers only; X-Forwarded-For from anybody else is ignored)."""
    return request.client.host if request.client else "unknown"


def client_address() -> str:
    """The current call's client address (see ``address_of``); "local" over stdio."""
    request = http_request()
    return "local" if request is None else address_of(request)


def current_call() -> Call | None:
    """The record of the call being served, or None outside a call."""
    return _call.get()


def request_id() -> str:
    """An id for the current call, for logs and internal-error reports."""
    call = _call.get()
    if call is None:
        call = Call()
        _call.set(call)
    return call.id


def begin_call() -> tuple[Call, Token[Call | None]]:
    """Start a new call record (the outermost middleware does this)."""
    call = Call()
    return call, _call.set(call)


def end_call(token: Token[Call | None]) -> None:
    """End the call record ``begin_call`` started."""
    call = _call.get()
    if call is not None:
        # each delivery task's context holds the call: kept, the tasks would leave the
        # whole request (headers, session, contexts) in a reference cycle for the garbage
        # collector (the app still tracks them until they finish)
        call.deliveries.clear()
    _call.reset(token)
