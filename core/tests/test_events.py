"""Events: delivered for every committed write, even when the writing call is cancelled."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scs import Migration, hookimpl, requires
from scs.events import EVENT_NAMES, Event
from scs_memory.sweeper import Sweeper

if TYPE_CHECKING:
    from fastmcp import FastMCP
    from scs.app import App
    from scs.testing import ServerFactory

WRITTEN = "probe.written"


def _insert(conn: sqlite3.Connection, note: str) -> int:
    return int(conn.execute("INSERT INTO probe_rows (note) VALUES (?)", (note,)).lastrowid or 0)


def _count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM probe_rows").fetchone()[0])


@dataclass
class Writer:
    """A tool that writes one row and announces it; remembers the task serving it."""

    serving: list[asyncio.Task[Any]] = field(default_factory=list)

    @hookimpl
    def scs_migrations(self) -> list[Migration]:
        return [Migration(1, "rows", "CREATE TABLE probe_rows (id INTEGER PRIMARY KEY, note TEXT)")]

    @hookimpl
    def scs_register(self, app: App, mcp: FastMCP[Any]) -> None:
        @mcp.tool(tags=requires("write"))
        async def probe_write(note: str) -> dict[str, Any]:
            task = asyncio.current_task()
            assert task is not None
            self.serving.append(task)
            row = await app.write(
                _insert, note, event=lambda row: Event(WRITTEN, {"row": row}, "writer")
            )
            return {"success": True, "row": row}


@dataclass
class SlowListener:
    """Holds the delivery open until released, so the caller can be cancelled meanwhile."""

    entered: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    delivered: list[int] = field(default_factory=list)

    @hookimpl
    async def scs_event(self, event: Event) -> None:
        if event.name != WRITTEN:
            return
        self.entered.set()
        await self.release.wait()
        self.delivered.append(event.data["row"])


@dataclass
class LateListener:
    delivered: list[int] = field(default_factory=list)

    @hookimpl
    def scs_event(self, event: Event) -> None:
        if event.name == WRITTEN:
            self.delivered.append(event.data["row"])


async def poll(condition: Any, seconds: float = 10.0) -> None:
    """Wait until ``condition()`` holds, checking every few ms, at most ``seconds``."""
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.005)


async def test_an_event_is_delivered_when_the_writing_call_is_cancelled(
    scs_factory: ServerFactory,
) -> None:
    writer, slow, late = Writer(), SlowListener(), LateListener()
    server = await scs_factory(
        "sessions,writer,slow,late",
        extra_plugins={"writer": writer, "slow": slow, "late": late},
    )
    alice = await server.agent("alice")
    call = asyncio.create_task(alice.call("probe_write", note="kept"))
    try:
        await asyncio.wait_for(slow.entered.wait(), timeout=10)  # committed, being delivered
        assert server.app.db.lookup(_count) == 1
        writer.serving[0].cancel()  # the server stops serving the call mid-delivery
        await poll(lambda: writer.serving[0].done())
        assert writer.serving[0].cancelled()
        slow.release.set()
        await poll(lambda: len(late.delivered) == 1)
        assert slow.delivered == late.delivered == [1]  # every listener got it, in order
    finally:
        slow.release.set()
        call.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(call, timeout=10)


async def test_every_documented_event_is_emitted(scs_factory: ServerFactory) -> None:
    seen: list[str] = []

    class Everything:
        @hookimpl
        def scs_event(self, event: Event) -> None:
            seen.append(event.name)

    server = await scs_factory("default,everything", extra_plugins={"everything": Everything()})
    alice = await server.agent("alice")
    created = await alice.call("create_session", purpose="events")
    session_id = created["session_id"]
    await alice.call("add_message", session_id=session_id, content="hello")
    await alice.call("set_memory", key="k", value=1, session_id=session_id, expires_in=1)
    await alice.call("set_memory", key="gone", value=2)
    await alice.call("delete_memory", key="gone")
    await alice.call("close_session", session_id=session_id)
    with sqlite3.connect(server.app.db.path) as other:  # the session entry expires now
        other.execute("UPDATE memory_entries SET expires_at = '2000-01-01T00:00:00.000000Z'")
    await server.app.services.get(Sweeper, needed_by="test").sweep_once()
    assert set(seen) == set(EVENT_NAMES)
    assert seen.count("memory.expired") == 1
