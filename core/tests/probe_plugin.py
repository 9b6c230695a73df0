"""A test-only plugin with one tool per permission level, to probe the auth layer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scs_server import hookimpl, require_identity, requires

if TYPE_CHECKING:
    from fastmcp import FastMCP
    from scs_server.app import App


def whoami_payload() -> dict[str, Any]:
    me = require_identity()
    return {
        "agent_id": me.agent_id,
        "agent_type": me.agent_type,
        "permissions": sorted(me.permissions),
        "anonymous": me.anonymous,
    }


@hookimpl
def scs_register(app: App, mcp: FastMCP[Any]) -> None:
    @mcp.tool(tags=requires("read"))
    def whoami() -> dict[str, Any]:
        """Who the verified token says I am."""
        return whoami_payload()

    @mcp.tool(tags=requires("write"))
    def write_probe(agent_id: str = "ignored") -> dict[str, Any]:
        """A write tool; its agent_id argument must never change who the caller is."""
        return whoami_payload()

    @mcp.tool(tags=requires("admin"))
    def admin_probe() -> dict[str, Any]:
        return whoami_payload()

    @mcp.tool(tags=requires("read"))
    def explode() -> None:
        raise RuntimeError("secret internal detail")
