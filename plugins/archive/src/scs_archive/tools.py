"""The archive plugin's admin tools: export_session, set_retention, hold_session,
release_hold, run_retention."""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, Annotated, Any

import mcp_types
from fastmcp.tools import ToolResult
from pydantic import Field
from scs_server import require_identity, requires
from scs_server.auth import store as auth_store
from scs_server.errors import not_found
from scs_server.timestamps import utc_now

from scs_archive import exporter, store

if TYPE_CHECKING:
    from fastmcp import FastMCP
    from scs_server.app import App

    from scs_archive.retention import Retention
    from scs_archive.settings import ArchiveSettings

SessionId = Annotated[str, Field(min_length=1, max_length=200, description="A session id")]
MIME = "application/x-ndjson"


def register(app: App, mcp: FastMCP[Any], settings: ArchiveSettings, retention: Retention) -> None:
    admin = requires("admin")

    async def existing(session_id: str) -> None:
        if not await app.db.lookup(store.session_exists, session_id):
            raise not_found("session", session_id)

    async def audit(action: str, session_id: str, detail: dict[str, Any]) -> None:
        await auth_store.audit(
            app.db,
            action,
            "success",
            agent_id=require_identity().agent_id,
            detail=json.dumps({"session_id": session_id, **detail}),
        )

    @mcp.tool(tags=admin)
    async def export_session(session_id: SessionId) -> ToolResult:
        """Export one session (its messages and session memory) as NDJSON, the format of
        `scs export`, in an embedded resource. Refused beyond SCS_ARCHIVE_EXPORT_MAX_BYTES."""
        await existing(session_id)
        out = io.BytesIO()
        options = exporter.ExportOptions(sessions=[session_id], operator=False)
        header = await exporter.write(app, out, options, max_bytes=settings.export_max_bytes)
        uri = f"scs-archive://sessions/{session_id}.ndjson"
        contents = mcp_types.TextResourceContents(
            uri=uri, mime_type=MIME, text=out.getvalue().decode("utf-8", "surrogatepass")
        )
        summary = {"success": True, "session_id": session_id, "uri": uri, "header": header}
        return ToolResult(
            [
                mcp_types.TextContent(type="text", text=json.dumps(summary)),
                mcp_types.EmbeddedResource(type="resource", resource=contents),
            ]
        )

    @mcp.tool(tags=admin)
    async def set_retention(
        session_id: SessionId,
        days: Annotated[
            int | None,
            Field(ge=1, le=36500, description="Keep messages this many days; null: global"),
        ],
    ) -> dict[str, Any]:
        """Keep a session's messages `days` days (overrides SCS_ARCHIVE_MESSAGE_RETENTION_DAYS);
        null returns it to the global setting. A held session is never purged."""
        await existing(session_id)
        by, at = require_identity().agent_id, utc_now()
        async with app.db.transaction() as tx:
            if days is None:
                await store.clear_retention(tx, session_id)
            else:
                await store.set_policy(tx, session_id, by, at, retention_days=days)
        await audit("set_retention", session_id, {"days": days})
        return {"success": True, "policy": await app.db.lookup(store.policy, session_id)}

    @mcp.tool(tags=admin)
    async def hold_session(
        session_id: SessionId,
        reason: Annotated[str | None, Field(max_length=500)] = None,
    ) -> dict[str, Any]:
        """Put a legal hold on a session: retention never deletes anything of it."""
        await existing(session_id)
        by, at = require_identity().agent_id, utc_now()
        async with app.db.transaction() as tx:
            await store.set_policy(tx, session_id, by, at, held=True, reason=reason)
        await audit("hold_session", session_id, {"reason": reason})
        return {"success": True, "policy": await app.db.lookup(store.policy, session_id)}

    @mcp.tool(tags=admin)
    async def release_hold(session_id: SessionId) -> dict[str, Any]:
        """Lift a session's legal hold (retention applies again from the next run)."""
        await existing(session_id)
        by, at = require_identity().agent_id, utc_now()
        async with app.db.transaction() as tx:
            await store.set_policy(tx, session_id, by, at, held=False)
        await audit("release_hold", session_id, {})
        return {"success": True, "policy": await app.db.lookup(store.policy, session_id)}

    @mcp.tool(tags=admin)
    async def run_retention() -> dict[str, Any]:
        """Apply retention now (it also runs every SCS_ARCHIVE_RETENTION_INTERVAL_S);
        returns the rows deleted per kind."""
        return {"success": True, "removed": await retention.run_once()}
