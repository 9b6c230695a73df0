"""The lease tools and the ``leases://active`` resource (thin wrappers)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field
from scs_server import require_identity, requires

if TYPE_CHECKING:
    from fastmcp import FastMCP

    from scs_leases.service import LeaseService

Resources = Annotated[
    list[str],
    Field(
        description="Paths or glob patterns ('src/app.py', 'lib/**', '*.md') or named "
        "resources ('build-slot'); '*' stays within a path segment, '**' spans segments"
    ),
]
LeaseId = Annotated[str, Field(description="The lease_id returned by acquire_lease")]
Ttl = Annotated[int, Field(description="Seconds until the lease expires (renew to extend)")]
Mode = Literal["exclusive", "shared"]


def register(mcp: FastMCP[Any], service: LeaseService) -> None:
    """Add the six lease tools and the resource."""

    @mcp.tool(tags=requires("write"))
    async def acquire_lease(
        resources: Resources,
        mode: Annotated[
            Mode, Field(description="exclusive: nobody else; shared: other shared holders")
        ] = "exclusive",
        ttl_s: Ttl = 300,
        reason: Annotated[str | None, Field(description="What you are doing (shown)")] = None,
        session_id: Annotated[
            str | None, Field(description="A session to group the lease under (a label)")
        ] = None,
        wait_s: Annotated[
            float,
            Field(description="Seconds to wait for the resources to free (0 = answer now)"),
        ] = 0,
        capacity: Annotated[
            int | None,
            Field(description="Counting semaphore: at most this many shared holders"),
        ] = None,
    ) -> dict[str, Any]:
        """Lease files or resources, all or nothing, before you edit them.

        Returns lease_id, fencing_token (strictly increasing across all grants: pass it
        with your writes so a stale holder can be refused) and expires_at. A conflict is
        LEASE_CONFLICT naming each holder, the resources and when they expire.
        """
        return await service.acquire(
            require_identity(),
            resources,
            mode=mode,
            ttl_s=ttl_s,
            reason=reason,
            session_id=session_id,
            wait_s=wait_s,
            capacity=capacity,
        )

    @mcp.tool(tags=requires("write"))
    async def renew_lease(lease_id: LeaseId, ttl_s: Ttl = 300) -> dict[str, Any]:
        """Extend your lease to ttl_s seconds from now (same lease_id and fencing_token)."""
        return await service.renew(require_identity(), lease_id, ttl_s)

    @mcp.tool(tags=requires("write"))
    async def release_lease(lease_id: LeaseId) -> dict[str, Any]:
        """Release your lease at once (waiting agents are woken)."""
        return await service.release(require_identity(), lease_id)

    @mcp.tool(tags=requires("admin"))
    async def force_release_lease(lease_id: LeaseId) -> dict[str, Any]:
        """Admin: release anyone's lease (one left by a crashed agent); audited."""
        return await service.force_release(require_identity(), lease_id)

    @mcp.tool(tags=requires("read"))
    async def list_leases(
        resource_prefix: Annotated[
            str | None, Field(max_length=1024, description="Only leases on resources starting so")
        ] = None,
        holder: Annotated[str | None, Field(description="Only this agent's leases")] = None,
        session_id: Annotated[str | None, Field(description="Only leases of this session")] = None,
        limit: Annotated[int, Field(ge=1, le=1000, description="Leases returned at most")] = 200,
    ) -> dict[str, Any]:
        """The live leases (expired ones never show), oldest grant first."""
        require_identity()
        return await service.listing(resource_prefix, holder, session_id, limit)

    @mcp.tool(tags=requires("read"))
    async def check_leases(
        resources: Resources,
        mode: Annotated[
            Mode,
            Field(
                description="exclusive: what would refuse an exclusive lease; shared: "
                "only the exclusive leases of others"
            ),
        ] = "exclusive",
    ) -> dict[str, Any]:
        """What would conflict with leasing these resources, without acquiring anything."""
        return await service.check(require_identity(), resources, mode)

    @mcp.resource(
        "leases://active",
        name="active-leases",
        description="Every live lease: holder, resources, mode, fencing token, expiry",
        mime_type="application/json",
    )
    async def active_leases() -> dict[str, Any]:
        require_identity()
        return await service.listing(limit=10_000)
