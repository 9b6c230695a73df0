"""A test-only plugin: one tool per rate class, and a table to prove nothing was written."""

from __future__ import annotations

import types
from typing import TYPE_CHECKING, Any

from scs import Migration, hookimpl, requires

if TYPE_CHECKING:
    from fastmcp import FastMCP
    from scs.app import App


def scs_migrations() -> list[Migration]:
    return [
        Migration(1, "probe rows", "CREATE TABLE probe_rows (id INTEGER PRIMARY KEY, note TEXT)")
    ]


def scs_register(app: App, mcp: FastMCP[Any]) -> None:
    @mcp.tool(tags=requires("read"))
    async def probe_read() -> dict[str, Any]:
        return {"success": True}

    @mcp.tool(tags=requires("read", rate="search"))
    async def probe_search() -> dict[str, Any]:
        return {"success": True}

    @mcp.tool(tags=requires("admin"))
    async def probe_admin() -> dict[str, Any]:
        return {"success": True}

    @mcp.tool(tags=requires("write"))
    async def probe_write(note: str) -> dict[str, Any]:
        async with app.db.transaction() as conn:
            await conn.execute("INSERT INTO probe_rows (note) VALUES (?)", (note,))
        return {"success": True}


def module() -> types.ModuleType:
    probe = types.ModuleType("scs_test_probe")
    probe.scs_migrations = hookimpl(scs_migrations)  # type: ignore[attr-defined]
    probe.scs_register = hookimpl(scs_register)  # type: ignore[attr-defined]
    return probe


async def rows(app: App) -> list[str]:
    async with app.db.read() as conn:
        cursor = await conn.execute("SELECT note FROM probe_rows ORDER BY id")
        return [row[0] for row in await cursor.fetchall()]
