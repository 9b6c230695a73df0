"""Hook implementations of the messaging plugin: schema, settings, tools, resource, prompts."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field
from scs import current_identity, hookimpl, require_identity, requires
from scs.errors import validation_error
from scs_sessions.service import MessageReader, Sessions

from scs_messaging import prompts
from scs_messaging.guidance import GuidanceType, guidance
from scs_messaging.messages import Messaging
from scs_messaging.schema import MIGRATIONS
from scs_messaging.settings import MessagingSettings

if TYPE_CHECKING:
    from collections.abc import Sequence

    from fastmcp import FastMCP
    from scs import Migration
    from scs.app import App

SessionId = Annotated[str, Field(description="Session id from create_session (session_...)")]
Level = Literal["public", "private", "agent_only", "admin_only"]
MAX_ID = 2**63 - 1  # SQLite integers are 64-bit; larger ids cannot exist


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
def scs_register(app: App, mcp: FastMCP[Any]) -> None:
    messaging = Messaging(app)
    app.services.provide(Messaging, messaging, by="messaging")
    reader: MessageReader = messaging  # checked against the Protocol here
    app.services.provide(MessageReader, reader, by="messaging")
    sessions = app.services.get(Sessions, needed_by="messaging")
    _register_tools(app, mcp, messaging)
    _register_resources_and_prompts(mcp, messaging, sessions)


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
    ) -> dict[str, Any]:
        """Messages of a session you may see, oldest first; has_more/next_cursor page on."""
        return await messaging.page(
            require_identity(),
            session_id,
            limit=limit,
            offset=offset,
            after_id=after_id,
            visibility_filter=visibility_filter,
        )

    @mcp.tool(tags=requires("read"))
    async def get_thread(
        message_id: Annotated[int, Field(ge=1, le=MAX_ID, description="Any message of the thread")],
    ) -> dict[str, Any]:
        """The root of a message's thread and every reply in it you may see, oldest first."""
        return await messaging.thread(require_identity(), message_id)

    @mcp.tool(tags=requires("read"))
    async def get_usage_guidance(
        guidance_type: Annotated[
            GuidanceType,
            Field(description="operations, coordination, security or troubleshooting"),
        ] = "operations",
    ) -> dict[str, Any]:
        """How to use this server, for your permissions and the tools enabled here."""
        return guidance(require_identity(), guidance_type, app.tools)


def _register_resources_and_prompts(
    mcp: FastMCP[Any], messaging: Messaging, sessions: Sessions
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
        async with messaging.app.db.read() as conn:
            messages, total = await messaging.recent(conn, identity, session_id, 20)
        return prompts.debug_session(session_id, session, messages, total, identity.agent_id)
