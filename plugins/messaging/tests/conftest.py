"""Shared set-up for the messaging tests: a server with a team of agents of different kinds."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from scs_server.settings import DEFAULT_AGENT_PERMISSIONS

if TYPE_CHECKING:
    from scs_server.testing import Agent, ScsServer, ServerFactory

PLUGINS = "sessions,messaging"


@dataclass
class Team:
    """alice and bob are claude agents, carol a cursor agent, boss a claude agent with
    admin rights (so admin_only has a same-type reader who is not admin), auditor an admin."""

    server: ScsServer
    alice: Agent
    bob: Agent
    carol: Agent
    boss: Agent
    auditor: Agent
    session_id: str

    @property
    def readers(self) -> dict[str, Agent]:
        return {
            "alice": self.alice,
            "bob": self.bob,
            "carol": self.carol,
            "boss": self.boss,
            "auditor": self.auditor,
        }


TeamFactory = Callable[..., Awaitable[Team]]


@pytest.fixture
def make_team(scs_factory: ServerFactory) -> TeamFactory:
    async def build(http: bool = False, **options: Any) -> Team:
        # claude tokens may carry admin when asked for (boss); by default they do not
        permissions = {**DEFAULT_AGENT_PERMISSIONS, "claude": ["read", "write", "admin"]}
        options.setdefault("agent_type_permissions", permissions)
        server = await scs_factory(plugins=PLUGINS, http=http, **options)
        alice = await server.agent("alice", "claude")
        bob = await server.agent("bob", "claude")
        carol = await server.agent("carol", "cursor")
        boss = await server.agent("boss", "claude", ["read", "write", "admin"])
        auditor = await server.agent("auditor", "admin")
        session = await alice.call("create_session", purpose="team work")
        return Team(server, alice, bob, carol, boss, auditor, session["session_id"])

    return build


StoredCount = Callable[["ScsServer"], Awaitable[int]]


@pytest.fixture
def stored_messages() -> StoredCount:
    """How many messages the database holds (for "nothing was written" checks)."""

    async def count(server: ScsServer) -> int:
        return int(await server.app.db.fetch_value("SELECT COUNT(*) FROM messaging_messages"))

    return count
