"""The memory tools and the ``agent://{agent_id}/memory`` resource (thin wrappers)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field
from scs_server import current_identity, require_identity, requires
from scs_server.completions import starting_with

from scs_memory.rules import MAX_KEY_CHARS, MAX_TTL_SECONDS

if TYPE_CHECKING:
    import mcp_types
    from fastmcp import FastMCP
    from fastmcp.server.completions import CompletionReference

    from scs_memory.service import MemoryService

Key = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_KEY_CHARS,
        description="Entry name, 1..255 characters, no whitespace or control characters",
    ),
]
SessionId = Annotated[
    str | None,
    Field(description="Session scope; omit (null) for your global memory"),
]
Scope = Annotated[
    Literal["private", "shared"],
    Field(
        description="private: your own memory; shared: session_id's shared memory, read by "
        "everyone who can read the session, written by everyone with write"
    ),
]
IfVersion = Annotated[
    int | None,
    Field(
        ge=0,
        description="Compare-and-swap: act only if the stored version is this "
        "(0 = the key must not exist); otherwise CONFLICT with current_version",
    ),
]


def register(mcp: FastMCP[Any], service: MemoryService) -> None:
    """Add set_memory, get_memory, list_memory, delete_memory and the resource."""

    @mcp.tool(tags=requires("write"))
    async def set_memory(
        key: Key,
        value: Annotated[Any, Field(description="Any JSON value: string, number, list, object...")],
        session_id: SessionId = None,
        expires_in: Annotated[
            int | None,
            Field(
                ge=1,
                le=MAX_TTL_SECONDS,
                description="Seconds until it expires (1..31536000); null = never",
            ),
        ] = None,
        metadata: Annotated[
            dict[str, Any] | str | None,
            Field(description="Optional JSON object (or its JSON text) stored alongside"),
        ] = None,
        overwrite: Annotated[
            bool, Field(description="false: refuse (KEY_EXISTS) if the key already exists")
        ] = True,
        if_version: IfVersion = None,
        scope: Scope = "private",
    ) -> dict[str, Any]:
        """Store a value in your private memory (global, or scoped to a session), or with
        scope="shared" in a session's shared memory (a team's claims and task board).

        A set replaces the whole entry (value, metadata and expiry) and bumps its version.
        """
        return await service.set(
            require_identity(),
            key,
            value,
            session_id=session_id,
            expires_in=expires_in,
            metadata=metadata,
            overwrite=overwrite,
            if_version=if_version,
            scope=scope,
        )

    @mcp.tool(tags=requires("read"))
    async def get_memory(
        key: Key, session_id: SessionId = None, scope: Scope = "private"
    ) -> dict[str, Any]:
        """Read one entry of your memory, or of a session's shared memory (value,
        metadata, version, timestamps)."""
        return await service.get(require_identity(), key, session_id, scope)

    @mcp.tool(tags=requires("read"))
    async def list_memory(
        session_id: Annotated[
            str | None,
            Field(description='null = global memory, "all" = every scope, or a session id'),
        ] = None,
        prefix: Annotated[
            str | None,
            Field(
                max_length=MAX_KEY_CHARS,
                description="Only keys starting with this text (% and _ are literal)",
            ),
        ] = None,
        limit: Annotated[int, Field(ge=1, le=1000, description="Entries per page")] = 50,
        cursor: Annotated[
            str | None, Field(max_length=2048, description="next_cursor of the previous page")
        ] = None,
        scope: Scope = "private",
    ) -> dict[str, Any]:
        """List your memory entries, or a session's shared ones (without values; size in
        bytes instead), by scope and key."""
        return await service.list(require_identity(), session_id, prefix, limit, cursor, scope)

    @mcp.tool(tags=requires("write"))
    async def delete_memory(
        key: Key,
        session_id: SessionId = None,
        if_version: IfVersion = None,
        scope: Scope = "private",
    ) -> dict[str, Any]:
        """Delete one entry of your memory, or of a session's shared memory."""
        return await service.delete(require_identity(), key, session_id, if_version, scope)

    @mcp.resource(
        "agent://{agent_id}/memory",
        name="agent-memory",
        description="An agent's whole live memory; readable by that agent or an admin",
        mime_type="application/json",
    )
    async def agent_memory(agent_id: str) -> dict[str, Any]:
        return await service.snapshot(require_identity(), agent_id)

    @mcp.completion
    def complete(
        _ref: CompletionReference,
        argument: mcp_types.CompletionArgument,
        _context: mcp_types.CompletionContext | None,
    ) -> list[str] | None:
        """agent://{agent_id}/memory: the caller's own id (the one memory it may read)."""
        identity = current_identity()
        if argument.name != "agent_id" or identity is None or identity.anonymous:
            return None
        return starting_with([identity.agent_id], argument.value)
