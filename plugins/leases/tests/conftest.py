"""Fixtures for the leases plugin's tests: a leases server, a clock, an event probe."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest
from scs_leases.api import LeaseService
from scs_server import hookimpl

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from scs_server.events import Event
    from scs_server.testing import ScsServer, ServerFactory

PLUGINS = "leases"


@dataclass
class FakeClock:
    """A clock the test moves by hand (injected as ``LeaseService.clock``)."""

    moment: datetime = field(default_factory=lambda: datetime(2030, 1, 1, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)


class EventProbe:
    """A test-only plugin that records every event it is told about."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    @hookimpl
    def scs_event(self, app: Any, event: Event) -> None:
        self.events.append(event)

    def named(self, name: str) -> list[Event]:
        return [e for e in self.events if e.name == name]


@pytest.fixture
async def server(scs_factory: ServerFactory) -> ScsServer:
    return await scs_factory(plugins=PLUGINS)


def clocked(server: ScsServer) -> FakeClock:
    """Give the server's lease service a hand-moved clock; return it."""
    clock = FakeClock()
    server.app.services.get(LeaseService, needed_by="test").clock = clock
    return clock


async def probed(scs_factory: ServerFactory, **options: Any) -> tuple[ScsServer, EventProbe]:
    """A leases server with an event probe plugin; (server, probe)."""
    recorder = EventProbe()
    server = await scs_factory(
        plugins=PLUGINS + ",leaseprobe", extra_plugins={"leaseprobe": recorder}, **options
    )
    return server, recorder


async def lease_rows(server: ScsServer) -> list[dict[str, Any]]:
    """Every stored lease row, expired or not, straight from the database."""
    async with server.app.db.read() as r:
        rows = await r.fetch_all(
            "SELECT id, holder, mode, resources, fencing_token, expires_at "
            "FROM leases_active ORDER BY fencing_token"
        )
    return [dict(row) for row in rows]


async def last_token(server: ScsServer) -> int:
    return int(await server.app.db.fetch_value("SELECT last_token FROM leases_tokens"))


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout: float = 15.0, interval: float = 0.02
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
        plugins=PLUGINS,
        clocked=clocked,
        probed=probed,
        lease_rows=lease_rows,
        last_token=last_token,
        eventually=eventually,
    )
