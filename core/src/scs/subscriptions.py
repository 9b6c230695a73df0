"""``resources/subscribe`` / ``resources/unsubscribe`` and ``notifications/resources/updated``.

FastMCP 4 answers ``resources/subscribe`` with "Method not found"; the core serves it
on the low-level server. Subscribing reads the resource once as the caller (the same
authentication as ``resources/read``, so a caller can only subscribe to what it may
read) and remembers the URI and the caller's token on the client's connection. Plugins
report changes from their ``scs_event`` hooks with ``app.subscriptions.updated(uri,
visible_to=...)``: each subscribed connection is told only if its token still verifies
and ``visible_to`` accepts its caller (a private message reaches no one else).

Handshake-era protocol versions only (2025-06-18, 2025-11-25): at 2026-07-28 the
method is replaced by ``subscriptions/listen``, which FastMCP 4 does not serve. The
notification rides the connection's standalone stream (the SSE GET stream over HTTP);
a client without one gets nothing, which the protocol allows (notifications are
advisory).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from weakref import WeakSet

import anyio
import mcp_types
from fastmcp.server.dependencies import bind_request_context

from scs.errors import ErrorCode, ScsError
from scs.identity import acting_as
from scs.request import bearer_token

if TYPE_CHECKING:
    from collections.abc import Callable

    from mcp.server.connection import Connection
    from mcp.server.context import ServerRequestContext

    from scs.app import App
    from scs.identity import Identity

log = logging.getLogger("scs.subscriptions")

STATE_KEY = "scs.subscriptions"  # on Connection.state: subscribed URI -> the caller's token
SEND_TIMEOUT_S = 1.0  # a stalled client must not hold up the write that changed the resource


class Subscriptions:
    """Who subscribed to what, per client connection; and telling them of changes."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._connections: WeakSet[Connection] = WeakSet()  # a closed connection drops out

    def install(self) -> None:
        """Serve the two methods (declares ``resources.subscribe`` at handshake versions)."""
        low = self.app.server._mcp_server
        low.add_request_handler(
            "resources/subscribe", mcp_types.SubscribeRequestParams, self._on_subscribe
        )
        low.add_request_handler(
            "resources/unsubscribe", mcp_types.UnsubscribeRequestParams, self._on_unsubscribe
        )

    async def _on_subscribe(
        self, ctx: ServerRequestContext[Any, Any], params: mcp_types.SubscribeRequestParams
    ) -> mcp_types.EmptyResult:
        with bind_request_context(ctx):
            uri = str(params.uri)
            token = bearer_token()
            await self._check_readable(uri, token)
            connection = _connection(ctx)
            connection.state.setdefault(STATE_KEY, {})[uri] = token
            self._connections.add(connection)
        return mcp_types.EmptyResult()

    async def _on_unsubscribe(
        self, ctx: ServerRequestContext[Any, Any], params: mcp_types.UnsubscribeRequestParams
    ) -> mcp_types.EmptyResult:
        _connection(ctx).state.get(STATE_KEY, {}).pop(str(params.uri), None)
        return mcp_types.EmptyResult()

    async def _check_readable(self, uri: str, token: str | None) -> None:
        """Read ``uri`` as the caller; raises what ``resources/read`` would."""
        from scs.middleware import identify

        required = not self.app.is_open_resource(uri)
        identity = await identify(self.app, token, required=required)
        if identity is None and required:
            raise ScsError(
                ErrorCode.AUTH_REQUIRED,
                "authentication required to subscribe to resources",
                "send an Authorization: Bearer header with a token from authenticate_agent",
            )
        with acting_as(identity):
            await self.app.server.read_resource(uri, run_middleware=False)

    def count(self) -> int:
        """Subscriptions held by open connections."""
        return sum(len(c.state.get(STATE_KEY, {})) for c in self._connections)

    async def updated(
        self,
        uri: str,
        *,
        visible_to: Callable[[Identity], bool] | None = None,
        below: bool = False,
    ) -> int:
        """Send ``notifications/resources/updated`` for ``uri`` (and, with ``below``, for the
        subscribed URIs under ``uri/``) to each subscriber that may see the change.

        ``visible_to(identity)`` decides per subscriber (None: everyone who could
        subscribe). A subscriber whose token has expired or been revoked since is
        dropped. Returns the number of notifications sent.
        """
        from scs.middleware import identify

        sent = 0
        for connection in list(self._connections):
            subscribed: dict[str, str | None] = connection.state.get(STATE_KEY, {})
            for target, token in list(subscribed.items()):
                if target != uri and not (below and target.startswith(uri + "/")):
                    continue
                identity = await identify(self.app, token, required=False)
                if token and identity is None:
                    subscribed.pop(target, None)
                    continue
                if visible_to is not None and (identity is None or not visible_to(identity)):
                    continue
                with anyio.move_on_after(SEND_TIMEOUT_S):
                    await connection.send_resource_updated(target)
                    sent += 1
        return sent


def _connection(ctx: ServerRequestContext[Any, Any]) -> Connection:
    # The SDK's per-request ServerSession keeps its client connection here (FastMCP 4
    # reads it the same way for the logging level); subscriptions live as long as it.
    connection: Connection = ctx.session._connection
    return connection
