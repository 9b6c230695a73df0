"""Shared set-up for the search tests: a team of agents, bulk seeding, a brute-force oracle."""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from scs_messaging.visibility import can_see
from scs_search import locality, scoring
from scs_search.text import prepare, prepare_query
from scs_server import Identity

if TYPE_CHECKING:
    from scs_server.app import App
    from scs_server.testing import Agent, ScsServer, ServerFactory

PLUGINS = "sessions,messaging,search"
# the compiled locality kernel needs a C compiler when the plugin is installed: its
# tests skip without it, unless this is "1" (CI: .ci/run installs gcc), then they fail
REQUIRE_KERNEL = "SCS_TEST_REQUIRE_KERNEL"


def needs_kernel() -> None:
    """Skip (or fail, with ``SCS_TEST_REQUIRE_KERNEL=1``) when the kernel is not built."""
    if locality.available():
        return
    reason = "scs_search._locality was not built (no C compiler when the plugin was installed)"
    if os.environ.get(REQUIRE_KERNEL) == "1":
        pytest.fail(f"{REQUIRE_KERNEL}=1 but {reason}")
    pytest.skip(reason)


@dataclass
class Team:
    """alice and bob are claude agents, carol a cursor agent, auditor an admin."""

    server: ScsServer
    alice: Agent
    bob: Agent
    carol: Agent
    auditor: Agent
    session_id: str


TeamFactory = Callable[..., Awaitable[Team]]


@pytest.fixture
def make_team(scs_factory: ServerFactory) -> TeamFactory:
    async def build(**options: Any) -> Team:
        server = await scs_factory(plugins=PLUGINS, **options)
        alice = await server.agent("alice", "claude")
        bob = await server.agent("bob", "claude")
        carol = await server.agent("carol", "cursor")
        auditor = await server.agent("auditor", "admin")
        session = await alice.call("create_session", purpose="search tests")
        return Team(server, alice, bob, carol, auditor, session["session_id"])

    return build


@pytest.fixture
async def team(make_team: TeamFactory) -> Team:
    return await make_team()


def identity_of(agent: Agent) -> Identity:
    """The identity the server derives from the agent's token."""
    return Identity(agent.agent_id, agent.agent_type, frozenset(agent.permissions))


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def seed(
    app: App,
    session_id: str,
    rows: Sequence[Mapping[str, Any]],
    start: datetime | None = None,
) -> list[int]:
    """Insert many messages straight into the database (fast); return their ids.

    Each row: content, sender, sender_type, visibility and optionally metadata.
    Timestamps are one second apart from ``start``. Like every writer of messages it
    announces the change on the ``messages`` topic (no id: "check this session").
    """
    start = start or datetime(2026, 1, 1, tzinfo=UTC)
    ids = []
    async with app.db.transaction() as tx:
        for offset, row in enumerate(rows):
            metadata = row.get("metadata")
            ident = await tx.fetch_value(
                "INSERT INTO messaging_messages (session_id, sender, sender_type, content, visibility,"
                " metadata, parent_message_id, timestamp) VALUES (?, ?, ?, ?, ?, ?, NULL, ?)"
                " RETURNING id",
                (
                    session_id,
                    row["sender"],
                    row["sender_type"],
                    row["content"],
                    row["visibility"],
                    json.dumps(metadata) if metadata is not None else None,
                    stamp(start + timedelta(seconds=offset)),
                ),
            )
            ids.append(int(ident))
        tx.emit("messages", {"session_id": session_id})
    return ids


async def all_messages(app: App) -> list[dict[str, Any]]:
    async with app.db.read() as r:
        rows = await r.fetch_all("SELECT * FROM messaging_messages ORDER BY id")
    messages = []
    for row in rows:
        message = dict(row)
        message["metadata"] = json.loads(row["metadata"]) if row["metadata"] else None
        messages.append(message)
    return messages


def brute_force(
    messages: Sequence[Mapping[str, Any]],
    identity: Identity,
    query: str,
    threshold: float = 60.0,
    limit: int = 10,
    *,
    session_id: str | None = None,
    search_metadata: bool = True,
    scope: str = "all",
) -> list[tuple[int, float]]:
    """The oracle: score every visible message with RapidFuzz, keep >= threshold, sort."""
    q = prepare_query(query)
    scored = []
    for message in messages:
        if session_id is not None and message["session_id"] != session_id:
            continue
        if not can_see(identity, message):
            continue
        if scope == "public" and message["visibility"] != "public":
            continue
        if scope == "private" and not (
            message["visibility"] == "private" and message["sender"] == identity.agent_id
        ):
            continue
        text, base = prepare(message["sender"], message["content"], message["metadata"])
        score = scoring.score(q, text if search_metadata else text[:base])
        if score >= threshold:
            scored.append((message["id"], score))
    scored.sort(key=lambda item: (-item[1], -item[0]))
    return scored[:limit]
