"""Hook implementations of the messaging plugin: schema, settings, tools, resource, prompts."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastmcp import Context  # noqa: TC002 (FastMCP reads the annotation at run time)
from pydantic import Field
from scs_server import current_identity, hookimpl, require_identity, requires
from scs_server.completions import starting_with
from scs_server.errors import validation_error
from scs_sessions.api import MessageReader, Sessions

from scs_messaging import export, prompts
from scs_messaging.guidance import GUIDANCE_TYPES, GuidanceType, guidance
from scs_messaging.messages import Messaging
from scs_messaging.schema import MIGRATIONS
from scs_messaging.settings import MessagingSettings
from scs_messaging.store import TOPIC
from scs_messaging.visibility import can_see
from scs_messaging.waits import Wakeups

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    import mcp_types
    from fastmcp import FastMCP
    from fastmcp.server.completions import CompletionReference
    from scs_server import Identity, Migration
    from scs_server.app import App
    from scs_server.archiving import RetentionPolicy
    from scs_server.storage import Change

SessionId = Annotated[str, Field(description="Session id from create_session (session_...)")]
Level = Literal["public", "private", "agent_only", "admin_only"]
MAX_ID = 2**63 - 1  # ids are 64-bit on both engines; larger ones cannot exist
PAGE_SIZES = ("10", "50", "100", "1000")


# archives (scs_server.archiving): the message record and message retention
scs_export = hookimpl(export.export_records)
scs_import = hookimpl(export.import_records)


@hookimpl
async def scs_retention(app: App, policy: RetentionPolicy) -> dict[str, int]:
    return await export.purge(app.db, policy)


@hookimpl
def scs_requires() -> list[str]:
    return ["sessions"]


@hookimpl
def scs_settings() -> type[MessagingSettings]:
    return MessagingSettings


@hookimpl
def scs_migrations() -> Sequence[Migration]:
    return MIGRATIONS


@hookimpl
async def scs_startup(app: App) -> None:
    wakeups = app.services.get(Wakeups, needed_by="messaging")
    await wakeups.start(app.db.changes.subscribe)


@hookimpl
def scs_shutdown(app: App) -> None:
    wakeups = app.services.find(Wakeups)
    if wakeups is not None:
        wakeups.close()


def _session_key(payload: dict[str, Any]) -> tuple[str, str] | None:
    session_id = payload.get("session_id")
    return ("session", session_id) if isinstance(session_id, str) else None


@hookimpl
def scs_register(app: App, mcp: FastMCP[Any]) -> None:
    messaging = Messaging(app)
    app.services.provide(Messaging, messaging, by="messaging")
    reader: MessageReader = messaging  # checked against the Protocol here
    app.services.provide(MessageReader, reader, by="messaging")
    sessions = app.services.get(Sessions, needed_by="messaging")
    wakeups = Wakeups(messaging.settings.max_waits_per_agent)
    wakeups.watch(TOPIC, _session_key)
    app.services.provide(Wakeups, wakeups, by="messaging")
    _follow_for_subscribers(app, messaging)
    _register_tools(app, mcp, messaging)
    _register_resources_and_prompts(app, mcp, messaging, sessions)
    _register_completions(app, mcp, sessions)


def _follow_for_subscribers(app: App, messaging: Messaging) -> None:
    async def tell_subscribers(change: Change) -> None:
        """A new message (from any process) changes session://{id} and
        session://{id}/messages/{limit}: tell the subscribers who may see it, no one else."""
        payload = change.payload if isinstance(change.payload, dict) else {}
        session_id, message_id = payload.get("session_id"), payload.get("id")
        if not isinstance(session_id, str) or not isinstance(message_id, int):
            return
        uri = f"session://{session_id}"
        if not app.subscriptions.watching(uri, below=True):
            return  # nobody to tell: no read for it
        message = await messaging.by_id(message_id)
        if message is None:
            return

        def may_see(identity: Identity) -> bool:
            return can_see(identity, message)

        await app.subscriptions.updated(uri, visible_to=may_see, below=True)

    app.subscriptions.follow([TOPIC], tell_subscribers)


def _register_tools(app: App, mcp: FastMCP[Any], messaging: Messaging) -> None:
    @mcp.tool(tags=requires("write"))
    async def add_message(
        session_id: SessionId,
        content: Annotated[str, Field(description="The message text (stored verbatim)")],
        visibility: Annotated[
            Level,
            Field(
                description="public: everyone; private: only you; agent_only: agents of your "
                "type; admin_only: admins (needs admin)"
            ),
        ] = "public",
        metadata: Annotated[
            dict[str, Any] | str | None,
            Field(description="Optional JSON object (or its JSON text) stored with the message"),
        ] = None,
        parent_message_id: Annotated[
            int | None,
            Field(ge=1, le=MAX_ID, description="Id of the message this replies to (same session)"),
        ] = None,
    ) -> dict[str, Any]:
        """Add a message to a session; returns its message_id and timestamp."""
        return await messaging.add(
            require_identity(), session_id, content, visibility, metadata, parent_message_id
        )

    @mcp.tool(tags=requires("read"))
    async def get_messages(
        session_id: SessionId,
        limit: Annotated[int, Field(ge=1, le=1000, description="Messages per page (1..1000)")] = 50,
        offset: Annotated[
            int, Field(ge=0, le=MAX_ID, description="Messages to skip (after after_id)")
        ] = 0,
        after_id: Annotated[
            int | None,
            Field(
                ge=0, le=MAX_ID, description="Only messages with a larger id: the last id you saw"
            ),
        ] = None,
        visibility_filter: Annotated[
            Level | None, Field(description="Only this visibility (narrows, never widens)")
        ] = None,
        metadata_filter: Annotated[
            dict[str, Any] | None,
            Field(
                description="Only messages whose metadata has these top-level keys with "
                'these exact scalar values, e.g. {"task": "T-42"} (at most 8 keys)'
            ),
        ] = None,
    ) -> dict[str, Any]:
        """Messages of a session you may see, oldest first; has_more/next_cursor page on."""
        return await messaging.page(
            require_identity(),
            session_id,
            limit=limit,
            offset=offset,
            after_id=after_id,
            visibility_filter=visibility_filter,
            metadata_filter=metadata_filter,
        )

    @mcp.tool(tags=requires("read"))
    async def get_thread(
        message_id: Annotated[int, Field(ge=1, le=MAX_ID, description="Any message of the thread")],
    ) -> dict[str, Any]:
        """The root of a message's thread and every reply in it you may see, oldest first."""
        return await messaging.thread(require_identity(), message_id)

    @mcp.tool(tags=requires("read"))
    async def wait_for_messages(
        ctx: Context,
        session_id: Annotated[
            str | None,
            Field(description="Session to wait on; omit to wait on your inbox (DMs, mentions)"),
        ] = None,
        after_id: Annotated[
            int | None,
            Field(
                ge=0,
                le=MAX_ID,
                description="Return messages with a larger id (next_after_id of the last "
                "answer); omit for 'from now'",
            ),
        ] = None,
        timeout_s: Annotated[
            float, Field(ge=0, le=3600, description="Seconds to wait at most (up to the limit)")
        ] = 30,
        limit: Annotated[int, Field(ge=1, le=1000, description="Most messages returned")] = 50,
    ) -> dict[str, Any]:
        """Block until a message you may see arrives (or timeout_s); returns at once if one is
        there. Follow next_after_id to get every message exactly once."""
        identity = require_identity()
        settings = messaging.settings
        if timeout_s > settings.max_wait_s:
            raise validation_error(
                f"timeout_s must be at most {settings.max_wait_s}, not {timeout_s:g}",
                "wait again after a timeout (timed_out is true)",
            )
        progress = _progress_of(ctx)
        if session_id is None:
            return await messaging.wait_inbox(identity, after_id, timeout_s, limit, progress)
        return await messaging.wait(identity, session_id, after_id, timeout_s, limit, progress)

    @mcp.tool(tags=requires("read"))
    async def get_usage_guidance(
        guidance_type: Annotated[
            GuidanceType,
            Field(description="operations, coordination, security or troubleshooting"),
        ] = "operations",
    ) -> dict[str, Any]:
        """How to use this server, for your permissions and the tools enabled here."""
        return guidance(require_identity(), guidance_type, app.tools)


def _progress_of(ctx: Context) -> Callable[[float, float], Awaitable[None]] | None:
    """A progress reporter when the client sent a progress token (else None: nothing to send)."""
    context = ctx.request_context
    meta = context._srctx.meta if context is not None else None
    if meta is None or meta.get("progress_token") is None:
        return None

    async def report(elapsed: float, total: float) -> None:
        await ctx.report_progress(elapsed, total, "waiting for messages")

    return report


def _register_resources_and_prompts(
    app: App, mcp: FastMCP[Any], messaging: Messaging, sessions: Sessions
) -> None:
    @mcp.resource(
        "session://{session_id}/messages/{limit}",
        name="session-messages",
        description="The newest {limit} messages (1..1000) of a session the reader may see (JSON)",
        mime_type="application/json",
    )
    async def session_messages(session_id: str, limit: str) -> str:
        if not limit.isdigit():
            raise validation_error(f"limit must be a number from 1 to 1000, not {limit[:20]!r}")
        page = await messaging.latest(require_identity(), session_id, int(limit))
        return json.dumps(page, ensure_ascii=False)

    @mcp.resource(
        "guidance://{guidance_type}",
        name="usage-guidance",
        description="get_usage_guidance as a resource: operations, coordination, security "
        "or troubleshooting, for the reader's permissions (JSON)",
        mime_type="application/json",
    )
    async def usage_guidance(guidance_type: str) -> str:
        if guidance_type not in GUIDANCE_TYPES:
            raise validation_error(
                f"unknown guidance type {guidance_type[:30]!r}",
                f"use one of: {', '.join(GUIDANCE_TYPES)}",
            )
        body = guidance(require_identity(), guidance_type, app.tools)  # narrowed by the check
        return json.dumps(body, ensure_ascii=False)

    @mcp.prompt(name="setup-collaboration")
    def setup_collaboration(
        purpose: str,
        agent_types: str = "claude",
        project_name: str | None = None,
        session_id: str | None = None,
        expert_roles: str | None = None,
    ) -> str:
        """Set up a multi-agent collaboration: session, one token per agent, working rules.

        agent_types is comma-separated (expert_roles is its 1.x name).
        """
        kinds = [k.strip() for k in (expert_roles or agent_types).split(",") if k.strip()]
        return prompts.setup_collaboration(purpose, kinds or ["claude"], project_name, session_id)

    @mcp.prompt(name="debug-session")
    async def debug_session(session_id: str) -> str:
        """Look at a session's state (as the reader may see it) and suggest what to check."""
        identity = current_identity()
        if identity is None:
            return prompts.debug_session(session_id, None, None, 0, None)
        session = await sessions.get(session_id)
        if session is None:
            return prompts.debug_session(session_id, None, None, 0, identity.agent_id)
        async with app.db.read() as r:
            messages, total = await messaging.recent(r, identity, session_id, 20)
        return prompts.debug_session(session_id, session, messages, total, identity.agent_id)


def _register_completions(app: App, mcp: FastMCP[Any], sessions: Sessions) -> None:
    @mcp.completion
    async def complete(
        _ref: CompletionReference,
        argument: mcp_types.CompletionArgument,
        _context: mcp_types.CompletionContext | None,
    ) -> mcp_types.Completion | list[str] | None:
        """Session ids the caller may read, agent types, page sizes and guidance types,
        for this plugin's prompts and resource templates."""
        typed = argument.value
        if argument.name == "session_id":
            return await sessions.complete_ids(current_identity(), typed)
        if argument.name in ("agent_types", "expert_roles"):  # comma-separated: complete the last
            done, _, last = typed.rpartition(",")
            lead = f"{done}," if done else ""
            types = sorted(app.settings.agent_type_permissions)
            return [lead + kind for kind in starting_with(types, last.strip())]
        if argument.name == "limit":
            return starting_with(PAGE_SIZES, typed)
        if argument.name == "guidance_type":
            return starting_with(GUIDANCE_TYPES, typed)
        return None
