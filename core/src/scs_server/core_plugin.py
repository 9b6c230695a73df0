"""The core's own hooks, registered like any plugin: auth tables, auth tools, /health."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field
from starlette.responses import JSONResponse
from starlette.routing import Route

import scs_server
from scs_server.auth import archive, store
from scs_server.errors import ErrorCode, ScsError
from scs_server.hookspecs import hookimpl
from scs_server.periodic import Periodic
from scs_server.request import client_address, current_call, header
from scs_server.timestamps import iso_timestamp
from scs_server.tools import requires

if TYPE_CHECKING:
    from collections.abc import Sequence

    from fastmcp import FastMCP
    from starlette.requests import Request

    from scs_server.app import App
    from scs_server.archiving import RetentionPolicy
    from scs_server.migrations import Migration


@hookimpl
def scs_migrations() -> Sequence[Migration]:
    return store.MIGRATIONS


# archives (scs_server.archiving): the audit trail
scs_export = hookimpl(archive.export_records)
scs_import = hookimpl(archive.import_records)


@hookimpl
async def scs_retention(app: App, policy: RetentionPolicy) -> dict[str, int]:
    return await archive.purge(app.db, policy)


@hookimpl
def scs_register(app: App, mcp: FastMCP[Any]) -> None:
    auth = app.auth

    @mcp.tool(tags=requires("none", rate="auth"))
    async def authenticate_agent(
        agent_id: Annotated[str, Field(description="Your stable agent name (1..100 chars)")],
        agent_type: Annotated[
            str, Field(description="claude, cursor, gemini, generic, readonly, admin...")
        ] = "generic",
        requested_permissions: Annotated[
            list[str] | None, Field(description="Subset of read, write, admin, debug")
        ] = None,
        api_key: Annotated[
            str | None, Field(description="API key for stdio clients (HTTP: X-API-Key header)")
        ] = None,
        agent_secret: Annotated[
            str | None, Field(description="The secret register_agent returned for this id")
        ] = None,
    ) -> dict[str, Any]:
        """Mint a JWT for an agent. Needs the API key (the admin key for admin tokens),
        and for a registered agent id its agent_secret."""
        presented = header("x-api-key") or api_key
        minted = await auth.authenticate(
            agent_id,
            agent_type,
            requested_permissions,
            presented,
            client_address(),
            agent_secret=agent_secret,
        )
        return minted.as_result()

    @mcp.tool(tags=requires("none", rate="auth"))
    async def register_agent(
        agent_id: Annotated[str, Field(description="The agent id to protect (1..100 chars)")],
        agent_type: Annotated[
            str, Field(description="claude, cursor, gemini, generic, readonly...")
        ] = "generic",
        api_key: Annotated[
            str | None, Field(description="API key for stdio clients (HTTP: X-API-Key header)")
        ] = None,
    ) -> dict[str, Any]:
        """Register an agent id; returns its agent_secret once. From then on tokens for
        this id need that secret. A registered id is refused, except with the admin key,
        which issues a new secret (the old one stops working)."""
        client = client_address()
        level = await auth.check_api_key(header("x-api-key") or api_key, client)
        admin = level == "admin"
        by = "admin_key" if admin else "api_key"
        return await auth.agents.register(
            agent_id, agent_type, admin=admin, replace=admin, by=by, client=client
        )

    @mcp.tool(tags=requires("none", rate="auth"))
    async def refresh_token(
        current_token: Annotated[
            str | None,
            Field(description="The token to renew (default: the one this call presents)"),
        ] = None,
        token: Annotated[str | None, Field(description="Alias of current_token")] = None,
    ) -> dict[str, Any]:
        """Exchange a valid token for a fresh one; the old one is revoked. With no
        argument, renews the caller's own token (Bearer header, auth_token or SCS_TOKEN)
        and the old one keeps working for SCS_REFRESH_GRACE_S seconds."""
        presented = current_token or token
        grace = 0
        if not presented:
            call = current_call()
            presented = call.token if call is not None else None
            grace = app.settings.refresh_grace_s
        if not presented:
            raise ScsError(
                ErrorCode.VALIDATION,
                "no token to refresh",
                "pass current_token, or call with an Authorization: Bearer header",
            )
        await auth.agents.check_refresh(await auth.identify(presented), client_address())
        return (await auth.refresh(presented, grace)).as_result()

    @mcp.tool(tags=requires("none", rate="auth"))
    async def revoke_token(
        token: Annotated[str, Field(description="The token to revoke (proof of possession)")],
    ) -> dict[str, Any]:
        """Revoke a token at once; it is refused from then on, until it would have expired."""
        identity = await auth.revoke(token)
        return {"success": True, "revoked": True, "agent_id": identity.agent_id}


@hookimpl
def scs_http_routes(app: App) -> Sequence[Route]:
    async def health(_request: Request) -> JSONResponse:
        database = await app.db.ping()
        body = {
            "status": "ok" if database else "degraded",
            "version": scs_server.__version__,
            "database": "ok" if database else "unreachable",
            "plugins": [name for name in app.host.enabled if name != "core"],
        }
        return JSONResponse(body, status_code=200 if database else 503)

    return [Route("/health", health, methods=["GET"])]


AUDIT_PRUNE_INTERVAL_S = 3600.0


class AuditPrune(Periodic):
    """Deletes audit rows older than ``SCS_AUDIT_RETENTION_DAYS`` (the service key)."""


@hookimpl
async def scs_startup(app: App) -> None:
    await store.purge_expired_revocations(app.db)
    await app.auth.start_revocation_lease()
    days = app.settings.audit_retention_days
    if days:

        async def prune() -> int:
            cutoff = iso_timestamp(datetime.now(UTC) - timedelta(days=days))
            return await store.prune_audit(app.db, cutoff)

        await prune()
        pruner = AuditPrune("scs-audit-prune", AUDIT_PRUNE_INTERVAL_S, prune)
        app.services.provide(AuditPrune, pruner, by="core")
        pruner.start()


@hookimpl
async def scs_shutdown(app: App) -> None:
    await app.auth.stop_revocation_lease()
    pruner = app.services.remove(AuditPrune)
    if pruner is not None:
        await pruner.stop()
    await app.auth.flush_failure_audit()  # the open windows' failure counts
