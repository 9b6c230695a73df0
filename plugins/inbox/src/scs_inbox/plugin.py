"""Hook implementations of the inbox plugin: schema, settings, tools, mentions, the
pending notice and ``GET /events``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field
from scs_messaging.api import TOPIC as MESSAGES_TOPIC
from scs_messaging.api import InboxSource, Messaging, Wakeups
from scs_server import hookimpl, require_identity, requires
from scs_sessions.api import UnreadCounter
from starlette.routing import Route

from scs_inbox import export
from scs_inbox.inbox import Inbox
from scs_inbox.pending import PendingCounts, PendingNotice
from scs_inbox.routes import events_endpoint
from scs_inbox.schema import MIGRATIONS
from scs_inbox.settings import InboxSettings
from scs_inbox.store import TOPIC
from scs_inbox.stream import EventHub

if TYPE_CHECKING:
    from collections.abc import Sequence

    from fastmcp import FastMCP
    from fastmcp.server.middleware import Middleware
    from scs_server import Migration
    from scs_server.app import App
    from scs_server.archiving import RetentionPolicy
    from scs_server.events import Event
    from scs_server.storage import Subscription

MAX_ID = 2**63 - 1
SessionId = Annotated[str, Field(description="Session id from create_session (session_...)")]


@hookimpl
def scs_requires() -> list[str]:
    return ["sessions", "messaging"]


@hookimpl
def scs_settings() -> type[InboxSettings]:
    return InboxSettings


@hookimpl
def scs_migrations() -> Sequence[Migration]:
    return MIGRATIONS


@hookimpl
async def scs_event(app: App, event: Event) -> None:
    """``@agent_id`` in a new session message: an inbox item for each mentioned agent."""
    if event.name == "message.added":
        inbox = app.services.get(Inbox, needed_by="inbox")
        await inbox.add_mentions(event.data["message"])


# archives (scs_server.archiving): direct messages, mentions and read cursors; their retention
scs_export = hookimpl(export.export_records)
scs_import = hookimpl(export.import_records)


@hookimpl
async def scs_retention(app: App, policy: RetentionPolicy) -> dict[str, int]:
    return await export.purge(app.db, policy)


@dataclass
class Following:
    """The change-feed subscription ``scs_startup`` opens and ``scs_shutdown`` closes."""

    subscription: Subscription


def _agent_key(payload: dict[str, Any]) -> tuple[str, str] | None:
    agent_id = payload.get("agent_id")
    if isinstance(agent_id, str) and payload.get("id") is not None:
        return ("agent", agent_id)
    return None


@hookimpl
def scs_register(app: App, mcp: FastMCP[Any]) -> None:
    settings: InboxSettings = app.config("inbox")
    inbox = Inbox(app)
    app.services.provide(Inbox, inbox, by="inbox")
    source: InboxSource = inbox
    app.services.provide(InboxSource, source, by="inbox")
    counter: UnreadCounter = inbox
    app.services.provide(UnreadCounter, counter, by="inbox")
    app.services.provide(PendingCounts, PendingCounts(inbox.unread_inbox), by="inbox")
    messaging = app.services.get(Messaging, needed_by="inbox")
    hub = EventHub(messaging, inbox, settings.events_max_connections, app.db.changes)
    app.services.provide(EventHub, hub, by="inbox")
    app.when_stopping(hub.stop)
    app.services.get(Wakeups, needed_by="inbox").watch(TOPIC, _agent_key)
    _register_tools(mcp, inbox)


@hookimpl
def scs_middleware(app: App) -> list[Middleware]:
    settings: InboxSettings = app.config("inbox")
    if not settings.pending_notice:
        return []
    return [PendingNotice(app.services.get(PendingCounts, needed_by="inbox"))]


@hookimpl
def scs_http_routes(app: App) -> list[Route]:
    hub = app.services.get(EventHub, needed_by="inbox")
    endpoint = events_endpoint(app, hub, app.config("inbox"))
    return [Route("/events", endpoint, methods=["GET"])]


@hookimpl
async def scs_startup(app: App) -> None:
    pending = app.services.get(PendingCounts, needed_by="inbox")
    hub = app.services.get(EventHub, needed_by="inbox")

    def on_change(change: Any) -> None:
        if change.topic == TOPIC or change.gap:
            pending.on_change(change)
        hub.on_change(change)

    subscription = await app.db.changes.subscribe(on_change, topics=(TOPIC, MESSAGES_TOPIC))
    app.services.provide(Following, Following(subscription), by="inbox")


@hookimpl
def scs_shutdown(app: App) -> None:
    following = app.services.remove(Following)
    if following is not None:
        following.subscription.close()


def _register_tools(mcp: FastMCP[Any], inbox: Inbox) -> None:
    @mcp.tool(tags=requires("write"))
    async def send_direct_message(
        to: Annotated[
            list[str] | str, Field(description="Recipient agent id, or a list of agent ids")
        ],
        content: Annotated[str, Field(description="The message text")],
        subject: Annotated[str | None, Field(description="Optional subject line")] = None,
        session_id: Annotated[
            str | None, Field(description="Optional session the message is about")
        ] = None,
        importance: Annotated[
            Literal["low", "normal", "high", "urgent"], Field(description="How urgent")
        ] = "normal",
        ack_required: Annotated[
            bool, Field(description="Ask recipients to call acknowledge_message")
        ] = False,
        reply_to: Annotated[
            int | None,
            Field(ge=1, le=MAX_ID, description="Id of a direct message you sent or received"),
        ] = None,
    ) -> dict[str, Any]:
        """Send a direct message, visible only to you and the recipients (admins included)."""
        return await inbox.send(
            require_identity(), to, content, subject, session_id, importance, ack_required, reply_to
        )

    @mcp.tool(tags=requires("read"))
    async def fetch_inbox(
        unread_only: Annotated[bool, Field(description="Only items not read yet")] = True,
        after_id: Annotated[
            int | None,
            Field(
                ge=0,
                le=MAX_ID,
                description="Oldest first above this id (next_after_id); omit for newest first",
            ),
        ] = None,
        limit: Annotated[int, Field(ge=1, le=1000, description="Items per page")] = 50,
        mark_read: Annotated[bool, Field(description="Mark the returned items read")] = False,
    ) -> dict[str, Any]:
        """Your direct messages and @mentions."""
        return await inbox.fetch(
            require_identity(),
            unread_only=unread_only,
            after_id=after_id,
            limit=limit,
            mark_read=mark_read,
        )

    @mcp.tool(tags=requires("read"))
    async def acknowledge_message(
        message_ids: Annotated[
            list[int], Field(min_length=1, max_length=1000, description="Inbox item ids")
        ],
    ) -> dict[str, Any]:
        """Acknowledge (and mark read) inbox items; acknowledging again changes nothing."""
        return await inbox.acknowledge(require_identity(), message_ids)

    @mcp.tool(tags=requires("read"))
    async def get_message_receipts(
        message_id: Annotated[int, Field(ge=1, le=MAX_ID, description="A direct message you sent")],
    ) -> dict[str, Any]:
        """Per recipient read_at and acked_at of a direct message (its sender only)."""
        return await inbox.receipts(require_identity(), message_id)

    @mcp.tool(tags=requires("read"))
    async def mark_read(
        session_id: SessionId,
        up_to_message_id: Annotated[
            int, Field(ge=0, le=MAX_ID, description="The last message id you have read")
        ],
    ) -> dict[str, Any]:
        """Move your read cursor of a session forward (mentions up to it count as read)."""
        return await inbox.mark_read(require_identity(), session_id, up_to_message_id)

    @mcp.tool(tags=requires("read"))
    async def get_unread(
        session_id: Annotated[
            str | None,
            Field(
                description="One session; omit for every session with unread messages for you"
                " or a read cursor of yours"
            ),
        ] = None,
    ) -> dict[str, Any]:
        """Unread counts: messages from others after your read cursor, and your inbox."""
        return await inbox.unread(require_identity(), session_id)
