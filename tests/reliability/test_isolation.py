"""Isolation under load: while 20 agents of mixed types write private and agent_only
messages concurrently, no reader ever sees one it may not (tools, search, resources)."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import pytest
from scs_server.testing import ToolCallError

from .conftest import GENEROUS_LIMITS

if TYPE_CHECKING:
    from scs_server.testing import Agent, ScsServer

pytestmark = pytest.mark.slow

TYPES = ["claude"] * 7 + ["cursor"] * 7 + ["gemini"] * 6
LEVELS = ("public", "private", "agent_only")
WRITES_PER_AGENT = 9
READ_ROUNDS = 4


def content_of(agent: Agent, n: int, level: str) -> str:
    # a unique marker per message, searchable by the common word "zebra"
    return f"zebra {level} from {agent.agent_id} ({agent.agent_type}) #{n} {mark(agent, n)}"


def mark(agent: Agent, n: int) -> str:
    return f"mark{agent.agent_id}x{n}end"


def may_see(reader: Agent, level: str, sender: Agent) -> bool:
    if level == "public":
        return True
    if level == "private":
        return reader.agent_id == sender.agent_id
    return reader.agent_type == sender.agent_type


def message_objects(value: Any) -> list[dict[str, Any]]:
    """Every message-shaped dict anywhere in an answer."""
    found = []
    if isinstance(value, dict):
        if {"visibility", "sender", "content"} <= set(value):
            found.append(value)
        for item in value.values():
            found.extend(message_objects(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(message_objects(item))
    return found


class Watch:
    """Checks every answer a reader gets against the list of messages it may never see."""

    def __init__(self, agents: list[Agent]) -> None:
        self.agents = {a.agent_id: a for a in agents}
        self.forbidden: dict[str, list[str]] = {}
        self.allowed: dict[str, set[str]] = {}
        for reader in agents:
            marks = [
                (mark(s, n), may_see(reader, LEVELS[n % len(LEVELS)], s))
                for s in agents
                for n in range(WRITES_PER_AGENT)
            ]
            self.forbidden[reader.agent_id] = [m for m, ok in marks if not ok]
            self.allowed[reader.agent_id] = {m for m, ok in marks if ok}
        self.found: dict[str, set[str]] = {a.agent_id: set() for a in agents}
        self.checked = 0
        self.seen_own_private: set[str] = set()

    def check(self, reader: Agent, answer: Any, where: str) -> None:
        text = json.dumps(answer, ensure_ascii=False)
        leaked = [m for m in self.forbidden[reader.agent_id] if m in text]
        assert not leaked, f"{reader.agent_id} ({reader.agent_type}) saw {leaked[:3]} via {where}"
        self.found[reader.agent_id] |= {m for m in self.allowed[reader.agent_id] if m in text}
        for message in message_objects(answer):
            sender = self.agents.get(message["sender"])
            if sender is None:
                continue
            assert may_see(reader, message["visibility"], sender), (where, reader, message)
            if message["visibility"] == "private" and sender is reader:
                self.seen_own_private.add(reader.agent_id)
            self.checked += 1


async def read_everything(
    server: ScsServer, reader: Agent, sessions: list[str], watch: Watch, tools: set[str]
) -> None:
    for session_id in sessions:
        reads: list[tuple[str, Any]] = [
            ("get_messages", reader.call("get_messages", session_id=session_id, limit=1000)),
            ("get_session", reader.call("get_session", session_id=session_id)),
        ]
        for level in LEVELS:
            reads.append(
                (
                    f"get_messages/{level}",
                    reader.call(
                        "get_messages", session_id=session_id, limit=1000, visibility_filter=level
                    ),
                )
            )
        if "wait_for_messages" in tools:  # returns at once: what is there after id 0
            reads.append(
                (
                    "wait_for_messages",
                    reader.call(
                        "wait_for_messages",
                        session_id=session_id,
                        after_id=0,
                        timeout_s=0,
                        limit=1000,
                    ),
                )
            )
        if "search_context" in tools:
            reads.append(
                (
                    "search_context",
                    reader.call("search_context", query="zebra", session_id=session_id, limit=100),
                )
            )
            for sender in list(watch.agents)[:3]:
                reads.append(
                    (
                        "search_by_sender",
                        reader.call(
                            "search_by_sender", session_id=session_id, sender=sender, limit=100
                        ),
                    )
                )
        for where, pending in reads:
            watch.check(reader, await pending, where)
        for uri in (f"session://{session_id}", f"session://{session_id}/messages/1000"):
            contents = await reader.client.read_resource(uri)
            watch.check(reader, [json.loads(c.text) for c in contents], uri)
    if "search_context" in tools:
        watch.check(
            reader, await reader.call("search_context", query="zebra", limit=100), "search/all"
        )


async def test_readers_never_see_what_they_may_not_while_agents_write(scs_factory: Any) -> None:
    # the limiter stays on, sized so that it never refuses the readers' many searches
    server: ScsServer = await scs_factory(http=True, env=GENEROUS_LIMITS)
    agents = [await server.agent(f"iso-{n:02d}", agent_type=kind) for n, kind in enumerate(TYPES)]
    outsiders = [await server.agent("iso-generic", agent_type="generic")]
    everyone = agents + outsiders
    watch = Watch(everyone)
    tools = {tool.name for tool in await agents[0].client.list_tools()}
    sessions = [
        (await agents[0].call("create_session", purpose=f"isolation {n}"))["session_id"]
        for n in range(2)
    ]

    async def write(agent: Agent) -> None:
        for n in range(WRITES_PER_AGENT):
            level = LEVELS[n % len(LEVELS)]
            await agent.call(
                "add_message",
                session_id=sessions[n % 2],
                content=content_of(agent, n, level),
                visibility=level,
            )

    async def read(reader: Agent) -> None:
        for _ in range(READ_ROUNDS):
            await read_everything(server, reader, sessions, watch, tools)

    try:
        await asyncio.wait_for(
            asyncio.gather(*(write(a) for a in agents), *(read(r) for r in everyone)), 180
        )
        for reader in everyone:  # and once more when every write is in
            await read_everything(server, reader, sessions, watch, tools)
    except ToolCallError as error:
        pytest.fail(f"a call failed during the isolation run: {error.code} {error.message}")

    assert watch.checked > 1000
    # not vacuous: every reader found every message it may see (writers write to the agents'
    # list only; the outsider's list is what is public)
    for reader in everyone:
        expected = {
            m for m in watch.allowed[reader.agent_id] if not m.startswith("markiso-generic")
        }
        assert watch.found[reader.agent_id] == expected, reader.agent_id
    # not vacuous: every writer saw its own private messages
    assert watch.seen_own_private == {a.agent_id for a in agents}
