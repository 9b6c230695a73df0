"""``resources/subscribe`` / ``resources/unsubscribe`` and ``notifications/resources/updated``.

FastMCP 4 answers ``resources/subscribe`` with "Method not found"; the core serves it
on the low-level server. Subscribing reads the resource once as the caller (the same
authentication as ``resources/read``, so a caller can only subscribe to what it may
read) and remembers the URI and the caller's token on the client's connection. Plugins
report changes with ``app.subscriptions.updated(uri, visible_to=...)``: each subscribed
connection is told only if its token still verifies and ``visible_to`` accepts its
caller (a private message reaches no one else). They learn of changes from the change
feed (``app.subscriptions.follow(topics, handler)``), so a write through another
process on the same SQLite file, or another replica on PostgreSQL, notifies too.

Handshake-era protocol versions (2025-06-18, 2025-11-25) use ``resources/subscribe``: the
notification rides the connection's standalone stream (the SSE GET stream over HTTP);
a client without one gets nothing, which the protocol allows (notifications are
advisory). At 2026-07-28 the method is ``subscriptions/listen`` (FastMCP 4 does not
serve it; the core does): the request's own response stream carries an acknowledgement,
then one ``notifications/resources/updated`` per change, each stamped with the listen
request's id, under the same rules (read check per URI at listen time, visibility per
change, a revoked token ends the stream). List-changed kinds are acknowledged as the
SDK's own handler does, and never fire: the tool, prompt and resource lists are fixed
once the server runs.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from weakref import WeakSet

import anyio
import mcp_types
from fastmcp.server.dependencies import bind_request_context
from mcp.shared.subscriptions import (
    SUBSCRIPTION_ID_META_KEY,
    ResourceUpdated,
    event_to_notification,
)

from scs_server.errors import ErrorCode, ScsError
from scs_server.identity import acting_as
from scs_server.middleware import protocol_error
from scs_server.request import bearer_token
from scs_server.storage import ChangeQueue

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Collection

    from anyio.streams.memory import MemoryObjectSendStream
    from mcp.server.connection import Connection
    from mcp.server.context import ServerRequestContext

    from scs_server.app import App
    from scs_server.identity import Identity
    from scs_server.storage import Change, Subscription

log = logging.getLogger("scs.subscriptions")

STATE_KEY = "scs_server.subscriptions"  # on Connection.state: subscribed URI -> the caller's token
SEND_TIMEOUT_S = 1.0  # a stalled client must not hold up the write that changed the resource
MAX_LISTEN_URIS = 100  # resource URIs one listen stream may name
MAX_LISTEN_STREAMS = 1024  # open listen streams per server process
LISTEN_BACKLOG = 256  # notifications queued for a listen stream whose client reads slowly


@dataclass(eq=False)
class _Listener:
    """One open ``subscriptions/listen`` stream: its URIs, its caller's token, its queue."""

    uris: frozenset[str]
    token: str | None
    queue: MemoryObjectSendStream[str]


class Subscriptions:
    """Who subscribed to what, per client connection; and telling them of changes."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._connections: WeakSet[Connection] = WeakSet()  # a closed connection drops out
        self._listeners: set[_Listener] = set()
        self._followers: list[tuple[frozenset[str], Callable[[Change], Awaitable[None]]]] = []
        self._changes = ChangeQueue()
        self.relayed = 0  # changes handed to the relay (only while anyone subscribes)
        self._feed: Subscription | None = None
        self._relay: asyncio.Task[None] | None = None

    def follow(self, topics: Collection[str], handler: Callable[[Change], Awaitable[None]]) -> None:
        """Run ``handler`` for each committed change of ``topics`` from any process, in
        commit order, while anyone subscribes (call it in ``scs_register``). The handler
        maps the change to URIs and calls ``updated``."""
        self._followers.append((frozenset(topics), handler))

    async def start(self) -> None:
        """Follow the change feed for the plugins' topics (the App calls it at start-up)."""
        topics = frozenset().union(*(t for t, _ in self._followers))
        if not topics:
            return
        self._feed = await self.app.db.changes.subscribe(self._offer, topics)
        self._relay = asyncio.get_running_loop().create_task(self._relay_changes())

    def _offer(self, change: Change) -> None:
        """Queue a change for the relay while any connection or stream subscribes: with
        nobody to tell, a write wakes no task (the relay checks ``count`` again)."""
        if self._connections or self._listeners:
            self.relayed += 1
            self._changes.put(change)

    async def _relay_changes(self) -> None:
        while True:
            change = await self._changes.get()
            if not self.count():
                continue  # nobody to tell: no reads for it
            if change.gap:  # changes were missed: every subscriber re-reads what it holds
                for uri in self._held():
                    await self.updated(uri)
                continue
            for topics, handler in self._followers:
                if change.topic in topics:
                    try:
                        await handler(change)
                    except Exception:  # one failing handler must not stop the relay
                        log.exception("subscription handler failed on %s", change.topic)

    def _held(self) -> set[str]:
        held = {t for c in self._connections for t in c.state.get(STATE_KEY, {})}
        return held.union(*(listener.uris for listener in self._listeners))

    def watching(self, uri: str, *, below: bool = False) -> bool:
        """Whether any subscriber holds ``uri`` (with ``below``: or a URI under it)."""

        def hit(target: str) -> bool:
            return target == uri or (below and target.startswith(uri + "/"))

        held = (t for c in self._connections for t in c.state.get(STATE_KEY, {}))
        return any(hit(t) for t in held) or any(
            hit(t) for listener in self._listeners for t in listener.uris
        )

    def install(self) -> None:
        """Serve the three methods (the SDK then declares ``resources.subscribe``)."""
        low = self.app.server._mcp_server
        low.add_request_handler(
            "resources/subscribe", mcp_types.SubscribeRequestParams, self._on_subscribe
        )
        low.add_request_handler(
            "resources/unsubscribe", mcp_types.UnsubscribeRequestParams, self._on_unsubscribe
        )
        low.add_request_handler(
            "subscriptions/listen", mcp_types.SubscriptionsListenRequestParams, self._on_listen
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

    async def _on_listen(
        self,
        ctx: ServerRequestContext[Any, Any],
        params: mcp_types.SubscriptionsListenRequestParams,
    ) -> mcp_types.SubscriptionsListenResult:
        """One listen stream: check, acknowledge, then forward changes until the client goes."""
        try:
            return await self._listen(ctx, params)
        except ScsError as error:
            # the modern wire turns any other exception into "Internal server error"
            raise protocol_error(error) from None

    async def _listen(
        self,
        ctx: ServerRequestContext[Any, Any],
        params: mcp_types.SubscriptionsListenRequestParams,
    ) -> mcp_types.SubscriptionsListenResult:
        uris = list(dict.fromkeys(params.notifications.resource_subscriptions or ()))
        if len(uris) > MAX_LISTEN_URIS:
            raise ScsError(
                ErrorCode.VALIDATION_TOO_LARGE,
                f"a listen stream may name at most {MAX_LISTEN_URIS} resources, not {len(uris)}",
                "split the resources over several subscriptions/listen requests",
            )
        if len(self._listeners) >= MAX_LISTEN_STREAMS:
            raise ScsError(
                ErrorCode.LIMIT_EXCEEDED,
                f"this server holds {MAX_LISTEN_STREAMS} listen streams already",
                "retry later, or close listen streams this client no longer reads",
            )
        with bind_request_context(ctx):
            token = bearer_token()
            for uri in uris:
                await self._check_readable(uri, token)
        meta: dict[str, Any] = {SUBSCRIPTION_ID_META_KEY: ctx.request_id}
        send, receive = anyio.create_memory_object_stream[str](LISTEN_BACKLOG)
        listener = _Listener(frozenset(uris), token, send)
        self._listeners.add(listener)  # before the ack: a change meanwhile is queued, not lost
        try:
            asked = params.notifications
            honored = mcp_types.SubscriptionFilter(
                tools_list_changed=asked.tools_list_changed or None,
                prompts_list_changed=asked.prompts_list_changed or None,
                resources_list_changed=asked.resources_list_changed or None,
                resource_subscriptions=uris or None,
            )
            await ctx.session.send_notification(
                mcp_types.SubscriptionsAcknowledgedNotification(
                    params=mcp_types.SubscriptionsAcknowledgedNotificationParams(
                        notifications=honored, _meta=meta
                    )
                ),
                related_request_id=ctx.request_id,
            )
            async with receive:
                async for uri in receive:
                    await ctx.session.send_notification(
                        event_to_notification(ResourceUpdated(uri), meta),
                        related_request_id=ctx.request_id,
                    )
        finally:
            self._listeners.discard(listener)
            send.close()
        return mcp_types.SubscriptionsListenResult(_meta=meta)

    def close(self) -> None:
        """Stop following the feed; end every listen stream gracefully (each sends its
        final result)."""
        if self._feed is not None:
            self._feed.close()
            self._feed = None
        if self._relay is not None:
            self._relay.cancel()
            self._relay = None
        for listener in list(self._listeners):
            listener.queue.close()

    async def _check_readable(self, uri: str, token: str | None) -> None:
        """Read ``uri`` as the caller; raises what ``resources/read`` would."""
        from scs_server.middleware import identify

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
        """Subscriptions held by open connections and listen streams."""
        held = sum(len(c.state.get(STATE_KEY, {})) for c in self._connections)
        return held + sum(len(listener.uris) for listener in self._listeners)

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
        from scs_server.middleware import identify

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
        for listener in list(self._listeners):
            targets = [t for t in listener.uris if t == uri or (below and t.startswith(uri + "/"))]
            if not targets:
                continue
            identity = await identify(self.app, listener.token, required=False)
            if listener.token and identity is None:
                self._end(listener)  # revoked or expired since: the stream ends
                continue
            if visible_to is not None and (identity is None or not visible_to(identity)):
                continue
            for target in targets:
                try:
                    listener.queue.send_nowait(target)
                except anyio.WouldBlock:
                    log.warning("a listen stream's client stopped reading; ending the stream")
                    self._end(listener)
                    break
                except anyio.ClosedResourceError:
                    break
                sent += 1
        return sent

    def _end(self, listener: _Listener) -> None:
        self._listeners.discard(listener)
        listener.queue.close()


def _connection(ctx: ServerRequestContext[Any, Any]) -> Connection:
    # The SDK's per-request ServerSession keeps its client connection here (FastMCP 4
    # reads it the same way for the logging level); subscriptions live as long as it.
    connection: Connection = ctx.session._connection
    return connection
