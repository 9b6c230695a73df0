"""Shared set-up for the inbox tests: a default server with a few agents and a session."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from scs_server.testing import Agent, ScsServer, ServerFactory

DEADLINE_S = 10.0


@dataclass
class Crew:
    """alice and bob are claude agents, carol a cursor agent, auditor an admin."""

    server: ScsServer
    alice: Agent
    bob: Agent
    carol: Agent
    auditor: Agent
    session_id: str


CrewFactory = Callable[..., Awaitable[Crew]]


@pytest.fixture
def make_crew(scs_factory: ServerFactory) -> CrewFactory:
    async def build(http: bool = False, plugins: str = "default", **options: Any) -> Crew:
        server = await scs_factory(plugins=plugins, http=http, **options)
        alice = await server.agent("alice", "claude")
        bob = await server.agent("bob", "claude")
        carol = await server.agent("carol", "cursor")
        auditor = await server.agent("auditor", "admin")
        session = await alice.call("create_session", purpose="crew work")
        return Crew(server, alice, bob, carol, auditor, session["session_id"])

    return build


async def until(probe: Callable[[], bool], deadline_s: float = DEADLINE_S) -> None:
    """Poll ``probe()`` until true, or fail at the deadline."""
    deadline = time.monotonic() + deadline_s
    while not probe():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)
