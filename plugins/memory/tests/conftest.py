"""Fixtures for the memory plugin's tests: a sessions+memory server and small helpers."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest
from scs_server import hookimpl

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from scs_server.events import Event
    from scs_server.testing import Agent, ScsServer, ServerFactory

PLUGINS = "sessions,memory"


class EventProbe:
    """A test-only plugin that records every event it is told about."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    @hookimpl
    def scs_event(self, app: Any, event: Event) -> None:
        self.events.append(event)

    def named(self, prefix: str) -> list[Event]:
        return [e for e in self.events if e.name.startswith(prefix)]


@pytest.fixture
async def server(scs_factory: ServerFactory) -> ScsServer:
    return await scs_factory(plugins=PLUGINS)


@pytest.fixture
async def alice(server: ScsServer) -> Agent:
    return await server.agent("alice")


@pytest.fixture
async def bob(server: ScsServer) -> Agent:
    return await server.agent("bob")


async def create_session(agent: Agent, purpose: str = "memory tests") -> str:
    result = await agent.call("create_session", purpose=purpose)
    return str(result["session_id"])


async def memory_rows(server: ScsServer) -> list[dict[str, Any]]:
    """Every stored memory row, expired or not, straight from the database."""
    async with server.app.db.read() as r:
        rows = await r.fetch_all(
            "SELECT agent_id, session_id, key, value, metadata, version, expires_at "
            "FROM memory_entries ORDER BY agent_id, COALESCE(session_id, ''), key"
        )
    return [dict(row) for row in rows]


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout: float = 15.0, interval: float = 0.05
) -> None:
    """Poll ``check`` until it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


@pytest.fixture
def helpers() -> SimpleNamespace:
    """The helpers above, for test modules (importlib mode cannot import a conftest)."""
    return SimpleNamespace(
        create_session=create_session,
        memory_rows=memory_rows,
        eventually=eventually,
        EventProbe=EventProbe,
        plugins=PLUGINS,
    )
