"""A test-only plugin with a cacheable read that can be held open while a write happens."""

from __future__ import annotations

import asyncio
import types
from typing import TYPE_CHECKING, Any

from scs import Migration, hookimpl, requires

if TYPE_CHECKING:
    from fastmcp import FastMCP
    from scs.app import App


class Gate:
    def __init__(self) -> None:
        self.hold = False
        self.entered = asyncio.Event()
        self.release = asyncio.Event()


def scs_migrations() -> list[Migration]:
    return [
        Migration(1, "probe notes", "CREATE TABLE probe_notes (id INTEGER PRIMARY KEY, note TEXT)")
    ]


def scs_register(app: App, mcp: FastMCP[Any]) -> None:
    gate = Gate()
    app.services.provide(Gate, gate, by="probe")

    @mcp.tool(tags=requires("read"))
    async def probe_notes() -> dict[str, Any]:
        """Reads the notes; with the gate set, waits after reading (a slow read)."""
        async with app.db.read() as conn:
            cursor = await conn.execute("SELECT note FROM probe_notes ORDER BY id")
            notes = [row[0] for row in await cursor.fetchall()]
        if gate.hold:
            gate.entered.set()
            await gate.release.wait()
        return {"success": True, "notes": notes}

    @mcp.tool(tags=requires("write"))
    async def probe_add_note(note: str) -> dict[str, Any]:
        """A write that emits no event: only the data version can reveal it."""
        async with app.db.transaction() as conn:
            await conn.execute("INSERT INTO probe_notes (note) VALUES (?)", (note,))
        return {"success": True}


def module() -> types.ModuleType:
    probe = types.ModuleType("scs_test_cache_probe")
    probe.scs_migrations = hookimpl(scs_migrations)  # type: ignore[attr-defined]
    probe.scs_register = hookimpl(scs_register)  # type: ignore[attr-defined]
    return probe
