"""A cap on the MCP requests one caller has in flight, enforced before the MCP layers.

A client that sends sixty tool calls at once makes the event loop parse, route,
validate and answer all sixty through uvicorn, the MCP SDK and FastMCP (a few ms of
the loop's CPU each) even when most of them are then refused further in (a full search
queue, a rate limit): every other client waits behind that burst. Over the cap, a
request is answered here instead, from its raw JSON, with the same typed
``RATE_LIMITED`` refusal a tool gives (an ``isError`` result for ``tools/call``, a
JSON-RPC error otherwise), at a small part of the cost.

Counted are the requests that do a caller's work: ``tools/call``, ``resources/read``
and ``prompts/get``. Protocol housekeeping (``initialize``, ``ping``, the listings,
notifications) and ``subscriptions/listen``, which stays open for as long as its
client listens, pass uncounted. The caller is the credential it presents, as sent
(nothing is verified here): the ``Authorization`` or ``X-API-Key`` header, else a tool
call's ``auth_token`` argument; without one, the client address.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from starlette.responses import Response

from scs_server.errors import ErrorCode, ScsError
from scs_server.http import header
from scs_server.middleware import protocol_error

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

COUNTED_METHODS = frozenset({"tools/call", "resources/read", "prompts/get"})
PARSED_BODY_BYTES = 65_536
"""Bodies up to this size are parsed to find their method; a bigger one is counted
without parsing (parsing it twice, here and in the MCP layer, would cost more than
counting a rare big housekeeping request)."""

_TOKEN_ARGUMENT = re.compile(rb'"auth_token"\s*:\s*"([^"\\]{1,8192})"')


def caller_key(scope: Scope, body: bytes) -> str:
    """Who is calling, for counting: a digest of the credential, else the address."""
    credential = header(scope, b"authorization") or header(scope, b"x-api-key")
    if not credential:
        found = _TOKEN_ARGUMENT.search(body)
        credential = found.group(1) if found else None
    if credential:
        return "c:" + hashlib.blake2b(credential, digest_size=16).hexdigest()
    client = scope.get("client")
    return f"a:{client[0] if client else '-'}"


def refusal(limit: int) -> ScsError:
    """The typed, retryable refusal of a request over the cap."""
    return ScsError(
        ErrorCode.RATE_LIMITED,
        f"this caller already has {limit} requests in flight",
        "wait for earlier calls to finish before sending more; nothing was done",
        retryable=True,
        retry_after=1,
    )


def refusal_body(message: Any, error: ScsError, version: str) -> dict[str, Any] | None:
    """The JSON-RPC answer to ``message`` refused with ``error``, for protocol ``version``;
    None when it is not a request (a notification or a response needs no answer: it is
    let through)."""
    if not isinstance(message, dict) or "id" not in message or "method" not in message:
        return None
    if message["method"] == "tools/call":
        result: dict[str, Any] = {
            "content": [{"type": "text", "text": error.to_text()}],
            "isError": True,
        }
        if version in MODERN_PROTOCOL_VERSIONS:  # required from 2026-07-28 on
            result["resultType"] = "complete"
        return {"jsonrpc": "2.0", "id": message["id"], "result": result}
    wire = protocol_error(error).error
    return {"jsonrpc": "2.0", "id": message["id"], "error": wire.model_dump(exclude_none=True)}


@dataclass
class InFlight:
    """The cap and the counts: requests in flight by caller, refusals since start."""

    limit: int
    by_caller: dict[str, int] = field(default_factory=dict)
    refused: int = 0

    def stats(self) -> dict[str, int]:
        """For ``/metrics``: the cap, callers and requests in flight now, refusals so far."""
        return {
            "limit": self.limit,
            "callers": len(self.by_caller),
            "requests": sum(self.by_caller.values()),
            "refused": self.refused,
        }


class InFlightLimitMiddleware:
    """Answers a counted request (see the module) to ``path`` at once with a typed refusal
    while its caller already has ``counts.limit`` of them in flight there."""

    def __init__(self, app: ASGIApp, counts: InFlight, path: str = "/mcp") -> None:
        self.app = app
        self.counts = counts
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope.get("method") != "POST"
            or scope.get("path", "").rstrip("/") != self.path
        ):
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        if body is None:  # the client went away before its request was in
            return
        message: Any = None
        method = leading_method(body)
        if method is None and len(body) <= PARSED_BODY_BYTES:
            message = _parsed(body)
            if isinstance(message, dict):
                named = message.get("method")
                method = named if isinstance(named, str) else ""
        if method is not None and method not in COUNTED_METHODS:
            await self.app(scope, _replay(body, receive), send)
            return
        key = caller_key(scope, body)
        counts = self.counts
        if counts.by_caller.get(key, 0) >= counts.limit:
            if message is None:
                message = _parsed(body)
            if await self._refused(message, scope, receive, send):
                return
        counts.by_caller[key] = counts.by_caller.get(key, 0) + 1
        try:
            await self.app(scope, _replay(body, receive), send)
        finally:
            left = counts.by_caller[key] - 1
            if left:
                counts.by_caller[key] = left
            else:
                del counts.by_caller[key]

    async def _refused(self, message: Any, scope: Scope, receive: Receive, send: Send) -> bool:
        """Answer ``message`` with the refusal; False when it is no request (a malformed
        body, a notification: the MCP layer handles those as it always does)."""
        version = (header(scope, b"mcp-protocol-version") or b"").decode("latin-1")
        answer = refusal_body(message, refusal(self.counts.limit), version)
        if answer is None:
            return False
        self.counts.refused += 1
        response = Response(
            json.dumps(answer, ensure_ascii=False, separators=(",", ":")),
            media_type="application/json",
        )
        await response(scope, receive, send)
        return True


# "method" after at most the two scalar members clients write before it: ``jsonrpc``
# and ``id`` (a number or a string without escapes), so it is a top-level key
_LEADING_METHOD = re.compile(
    rb'\s*\{\s*(?:(?:"jsonrpc"\s*:\s*"2\.0"|"id"\s*:\s*(?:-?[0-9]{1,20}|"[^"\\]{0,200}"))\s*,\s*){0,2}'
    rb'"method"\s*:\s*"([^"\\]{1,100})"'
)


def leading_method(body: bytes) -> str | None:
    """The request's method, read without parsing the body, when it comes first (after
    ``jsonrpc`` and ``id``, as the MCP SDKs write requests) and nothing else in the body
    could be a ``method`` key too (JSON takes the last of a repeated key, and a key may
    be written with escapes). None when that is not certain: the body is then parsed."""
    found = _LEADING_METHOD.match(body)
    if found is None or body.count(b'"method"') != 1 or b"\\u" in body:
        return None
    return found.group(1).decode("latin-1")


def _parsed(body: bytes) -> Any:
    """The body's JSON, or None when it is not JSON."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None when the client disconnected first."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives ``body`` once, then defers to the real one."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
