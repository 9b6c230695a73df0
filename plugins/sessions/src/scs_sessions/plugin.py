"""Hook implementations of the sessions plugin: schema, settings, tools, the session resource."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field
from scs_server import current_identity, hookimpl, require_identity, requires

from scs_sessions import export
from scs_sessions.schema import MIGRATIONS
from scs_sessions.service import RECENT_MESSAGES, Sessions
from scs_sessions.settings import SessionsSettings
from scs_sessions.store import TOPIC

if TYPE_CHECKING:
    from collections.abc import Sequence

    import mcp_types
    from fastmcp import FastMCP
    from fastmcp.server.completions import CompletionReference
    from scs_server import Migration
    from scs_server.app import App
    from scs_server.storage import Change

SessionId = Annotated[str, Field(description="Session id from create_session (session_...)")]


# archives (scs_server.archiving): the session record
scs_export = hookimpl(export.export_records)
scs_import = hookimpl(export.import_records)


@hookimpl
def scs_settings() -> type[SessionsSettings]:
    return SessionsSettings


@hookimpl
def scs_migrations() -> Sequence[Migration]:
    return MIGRATIONS


@hookimpl
def scs_register(app: App, mcp: FastMCP[Any]) -> None:
    sessions = Sessions(app)
    app.services.provide(Sessions, sessions, by="sessions")

    async def tell_subscribers(change: Change) -> None:
        """A session created or closed (by any process) changes session://{id}."""
        session_id = change.payload.get("session_id") if isinstance(change.payload, dict) else None
        if isinstance(session_id, str):
            await app.subscriptions.updated(f"session://{session_id}")

    app.subscriptions.follow([TOPIC], tell_subscribers)

    @mcp.tool(tags=requires("write"))
    async def create_session(
        purpose: Annotated[str, Field(description="What the agents in this session work on")],
        metadata: Annotated[
            dict[str, Any] | str | None,
            Field(description="Optional JSON object (or its JSON text) stored with the session"),
        ] = None,
    ) -> dict[str, Any]:
        """Create a shared session; returns its session_id for add_message and get_messages."""
        session = await sessions.create(require_identity(), purpose, metadata)
        return {
            "success": True,
            "session_id": session["id"],
            "purpose": session["purpose"],
            "metadata": session["metadata"],
            "created_by": session["created_by"],
            "created_at": session["created_at"],
        }

    @mcp.tool(tags=requires("read"))
    async def get_session(session_id: SessionId) -> dict[str, Any]:
        """A session with the newest 50 messages you may see (oldest first) and counts."""
        return await sessions.view(require_identity(), session_id, RECENT_MESSAGES)

    @mcp.tool(tags=requires("read"))
    async def list_sessions(
        limit: Annotated[int, Field(ge=1, le=1000, description="Sessions per page (1..1000)")] = 50,
        cursor: Annotated[
            str | None, Field(description="next_cursor of the previous page; omit for the first")
        ] = None,
        include_closed: Annotated[bool, Field(description="Also list closed sessions")] = False,
    ) -> dict[str, Any]:
        """Sessions, newest first, a page at a time (with the inbox plugin: unread per session)."""
        return await sessions.list_page(limit, cursor, include_closed, require_identity())

    @mcp.tool(tags=requires("write"))
    async def close_session(session_id: SessionId) -> dict[str, Any]:
        """Close a session (its creator or an admin): it stays readable but takes no new messages."""
        return await sessions.close(require_identity(), session_id)

    @mcp.resource(
        "session://{session_id}",
        name="session",
        description="A session and the newest 50 messages the reader may see (JSON)",
        mime_type="application/json",
    )
    async def session_resource(session_id: str) -> str:
        view = await sessions.view(require_identity(), session_id, RECENT_MESSAGES)
        return json.dumps(view, ensure_ascii=False)

    @mcp.completion
    async def complete(
        _ref: CompletionReference,
        argument: mcp_types.CompletionArgument,
        _context: mcp_types.CompletionContext | None,
    ) -> mcp_types.Completion | None:
        """session://{session_id}: the session ids the caller may read."""
        if argument.name == "session_id":
            return await sessions.complete_ids(current_identity(), argument.value)
        return None
