"""An MCP request's revocation check, started as the HTTP request arrives.

Between the arrival of a POST to ``/mcp`` and the auth middleware, the MCP layers parse
and dispatch the request: about a millisecond of CPU. On PostgreSQL the revocation read
is a round trip, so ``EarlyRevocationCheck`` sends it first (for a Bearer token that
verified before: nothing is decoded here) and the auth service awaits that answer
(``take``) instead of starting its read after the parsing. The read is still sent after
the call asked, so a revocation committed before the request arrived is seen. While
the replica's revocation lease holds (``revocation_lease``) there is no read to start.

Only tool calls, resource reads and prompts start one (their ``Mcp-Method`` header;
with older protocols, which send none, any request of an MCP session); a request whose
call presents another token (``auth_token``), or a header that lied, leaves its check
unclaimed, and its answer is dropped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scs_server.request import http_request, parse_bearer

if TYPE_CHECKING:
    import asyncio

    from starlette.types import ASGIApp, Receive, Scope, Send

    from scs_server.auth.revocations import RevocationChecks
    from scs_server.auth.tokens import TokenService

STATE_KEY = "scs.early_revocation_check"
CHECKED_METHODS = frozenset({b"tools/call", b"resources/read", b"prompts/get"})


class EarlyRevocationCheck:
    """ASGI middleware: start the revocation check of a known token's MCP request."""

    def __init__(
        self, app: ASGIApp, tokens: TokenService, revocations: RevocationChecks, path: str
    ) -> None:
        self.app = app
        self.tokens = tokens
        self.revocations = revocations
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"].rstrip("/") == self.path
        ):
            self._start(scope)
        await self.app(scope, receive, send)

    def _start(self, scope: Scope) -> None:
        method = session = authorization = None
        for name, value in scope.get("headers") or ():
            if name == b"mcp-method":
                method = value
            elif name == b"mcp-session-id":
                session = value
            elif name == b"authorization":
                authorization = value
        # a call that checks its caller: by its Mcp-Method header (protocol 2026-07-28),
        # or any request of a session (older protocols, which send no such header)
        if method not in CHECKED_METHODS and (method is not None or session is None):
            return
        lease = self.revocations.lease
        if lease is not None and lease.trusted():
            return  # answered from memory, no read to start
        token = parse_bearer(authorization.decode("latin-1")) if authorization else None
        identity = self.tokens.known(token) if token else None
        if identity is not None and identity.token_id:
            check = self.revocations.start(identity.token_id)
            scope.setdefault("state", {})[STATE_KEY] = (identity.token_id, check)


def take(jti: str) -> asyncio.Task[bool] | None:
    """The check the current HTTP request started for ``jti``, once; else None."""
    request = http_request()
    if request is None:
        return None
    state = request.scope.get("state")
    early = state.pop(STATE_KEY, None) if isinstance(state, dict) else None
    if early is None or early[0] != jti:
        return None
    check: asyncio.Task[bool] = early[1]
    return check
