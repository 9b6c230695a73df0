"""Resource subscriptions over real HTTP: ``resources/subscribe`` (handshake-era protocol)
and ``subscriptions/listen`` (2026-07-28). Notifications reach only subscribers who may
see the change, unsubscribing stops them, and a caller can subscribe only to what it may
read."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
from fastmcp.client.messages import MessageHandler
from mcp.client.subscriptions import listen

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import mcp_types
    from scs_server.testing import Agent, ScsServer, ServerFactory

pytestmark = pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")
WAIT_S = 10


@dataclass
class Subscriber(MessageHandler):
    """A client's resources/updated notifications, in arrival order."""

    uris: list[str] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    client: Any = None

    async def on_resource_updated(self, message: mcp_types.ResourceUpdatedNotification) -> None:
        self.uris.append(str(message.params.uri))
        self.arrived.set()

    async def wait_for(self, count: int) -> list[str]:
        """Wait (bounded) until ``count`` notifications have arrived."""
        deadline = asyncio.get_running_loop().time() + WAIT_S
        while len(self.uris) < count:
            self.arrived.clear()
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(f"expected {count} notifications, got {self.uris}")
            try:
                await asyncio.wait_for(self.arrived.wait(), remaining)
            except TimeoutError:
                continue
        return self.uris

    async def subscribe(self, uri: str) -> None:
        await self.client.session.subscribe_resource(uri)

    async def unsubscribe(self, uri: str) -> None:
        await self.client.session.unsubscribe_resource(uri)


async def subscriber(server: ScsServer, token: str | None) -> Subscriber:
    handler = Subscriber()
    handler.client = await server.open_client(token, mode="legacy", message_handler=handler)
    return handler


@pytest.fixture
async def server(scs_factory: ServerFactory) -> ScsServer:
    return await scs_factory(http=True)


async def session_of(agent: Agent) -> str:
    session_id: str = (await agent.call("create_session", purpose="watch"))["session_id"]
    return session_id


async def test_message_notifications_follow_visibility(server: ScsServer) -> None:
    alice = await server.agent("alice", agent_type="claude")
    bob = await server.agent("bob", agent_type="cursor")
    session_id = await session_of(alice)
    uri = f"session://{session_id}"
    alice_feed = await subscriber(server, alice.token)
    bob_feed = await subscriber(server, bob.token)
    await alice_feed.subscribe(uri)
    await bob_feed.subscribe(f"{uri}/messages/10")

    await alice.call("add_message", session_id=session_id, content="note", visibility="private")
    await alice.call("add_message", session_id=session_id, content="hi", visibility="public")
    # notifications on one connection arrive in order: had bob been told of the private
    # message, it would come before the public one
    assert await alice_feed.wait_for(2) == [uri, uri]
    assert await bob_feed.wait_for(1) == [f"{uri}/messages/10"]

    await alice.call("add_message", session_id=session_id, content="c", visibility="agent_only")
    await bob.call("add_message", session_id=session_id, content="d", visibility="agent_only")
    assert await alice_feed.wait_for(3) == [uri, uri, uri]
    assert await bob_feed.wait_for(2) == [f"{uri}/messages/10"] * 2
    assert len(alice_feed.uris) == 3  # bob's agent_only message (cursor type) was not for alice


async def test_unsubscribe_stops_notifications(server: ScsServer) -> None:
    alice = await server.agent("alice")
    session_id = await session_of(alice)
    feed = await subscriber(server, alice.token)
    await feed.subscribe(f"session://{session_id}")
    await feed.subscribe("agent://alice/memory")
    await feed.unsubscribe(f"session://{session_id}")
    await alice.call("add_message", session_id=session_id, content="unseen")
    await alice.call("set_memory", key="k", value="v")
    assert await feed.wait_for(1) == ["agent://alice/memory"]  # nothing before it

    await feed.unsubscribe("agent://never-subscribed/memory")  # not an error


async def test_without_subscribers_writes_wake_no_relay(server: ScsServer) -> None:
    alice = await server.agent("alice")
    session_id = await session_of(alice)
    relayed = server.app.subscriptions.relayed
    for n in range(3):
        await alice.call("add_message", session_id=session_id, content=f"unwatched {n}")
    assert server.app.subscriptions.relayed == relayed
    feed = await subscriber(server, alice.token)
    await feed.subscribe(f"session://{session_id}")
    await alice.call("add_message", session_id=session_id, content="watched")
    assert await feed.wait_for(1) == [f"session://{session_id}"]
    assert server.app.subscriptions.relayed > relayed


async def test_session_close_and_memory_changes_notify(server: ScsServer) -> None:
    alice = await server.agent("alice")
    admin = await server.agent("root", agent_type="admin")
    session_id = await session_of(alice)
    feed = await subscriber(server, alice.token)
    watcher = await subscriber(server, admin.token)
    await feed.subscribe(f"session://{session_id}")
    await feed.subscribe("agent://alice/memory")
    await watcher.subscribe("agent://alice/memory")  # an admin may read any memory

    await alice.call("close_session", session_id=session_id)
    await alice.call("set_memory", key="k", value=1)
    await alice.call("delete_memory", key="k")
    assert await feed.wait_for(3) == [
        f"session://{session_id}",
        "agent://alice/memory",
        "agent://alice/memory",
    ]
    assert await watcher.wait_for(2) == ["agent://alice/memory"] * 2


async def test_only_what_the_caller_may_read(server: ScsServer) -> None:
    alice = await server.agent("alice")
    bob = await server.agent("bob")
    session_id = await session_of(alice)

    bobs = await subscriber(server, bob.token)
    with pytest.raises(Exception, match="AUTH_005"):
        await bobs.subscribe("agent://alice/memory")
    with pytest.raises(Exception, match="RESOURCE_001"):
        await bobs.subscribe("session://session_0000000000000000")

    anonymous = await subscriber(server, None)
    with pytest.raises(Exception, match="AUTH_001"):
        await anonymous.subscribe(f"session://{session_id}")
    assert server.app.subscriptions.count() == 0

    await bobs.subscribe(f"session://{session_id}")  # sessions are readable by every agent
    await alice.call("add_message", session_id=session_id, content="x")
    assert await bobs.wait_for(1) == [f"session://{session_id}"]


async def test_a_revoked_token_ends_its_subscriptions(server: ScsServer) -> None:
    alice = await server.agent("alice")
    session_id = await session_of(alice)
    feed = await subscriber(server, alice.token)
    await feed.subscribe(f"session://{session_id}")
    assert server.app.subscriptions.count() == 1
    await alice.call("revoke_token", token=alice.token)

    writer = await server.agent("writer")
    await writer.call("add_message", session_id=session_id, content="after revocation")
    # the change reaches subscriptions after the commit (on PostgreSQL via the feed)
    deadline = time.monotonic() + 30
    while server.app.subscriptions.count() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert server.app.subscriptions.count() == 0
    assert feed.uris == []  # (the count above is the proof: dropped before any send)


# -- subscriptions/listen (protocol 2026-07-28) ------------------------------------------


@dataclass
class Listener:
    """A 2026-07-28 client's listen stream: the URIs it was told of, in arrival order."""

    uris: list[str] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_for(self, count: int) -> list[str]:
        deadline = asyncio.get_running_loop().time() + WAIT_S
        while len(self.uris) < count:
            self.arrived.clear()
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(f"expected {count} notifications, got {self.uris}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), remaining)
        return self.uris


async def no_subscriptions_left(server: ScsServer) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while server.app.subscriptions.count():
        assert asyncio.get_running_loop().time() < deadline, "a listen stream outlived its client"
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def listening(
    server: ScsServer, token: str | None, uris: list[str], **kinds: bool
) -> AsyncIterator[tuple[Listener, Any]]:
    """Open a listen stream for ``uris``; collect its events in a task while the body runs."""
    client = await server.open_client(token)
    heard = Listener()
    async with listen(client.session, resource_subscriptions=uris, **kinds) as subscription:

        async def collect() -> None:
            async for event in subscription:
                heard.uris.append(str(event.uri))
                heard.arrived.set()

        task = asyncio.create_task(collect())
        try:
            yield heard, subscription
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def test_listen_streams_follow_visibility(server: ScsServer) -> None:
    alice = await server.agent("alice", agent_type="claude")
    bob = await server.agent("bob", agent_type="cursor")
    session_id = await session_of(alice)
    uri = f"session://{session_id}"
    async with (
        listening(server, alice.token, [uri, "agent://alice/memory"]) as (alices, _),
        listening(server, bob.token, [uri]) as (bobs, subscription),
    ):
        assert subscription.honored.resource_subscriptions == [uri]
        assert server.app.subscriptions.count() == 3
        await alice.call("add_message", session_id=session_id, content="n", visibility="private")
        await alice.call("set_memory", key="k", value=1)
        await alice.call("add_message", session_id=session_id, content="p", visibility="public")
        assert await alices.wait_for(3) == [uri, "agent://alice/memory", uri]
        # in order on bob's stream: had the private message reached him, it would be first
        assert await bobs.wait_for(1) == [uri]
        await alice.call("revoke_token", token=alice.token)
        await bob.call("add_message", session_id=session_id, content="after revocation")
        assert await bobs.wait_for(2) == [uri, uri]
        assert alices.uris == [uri, "agent://alice/memory", uri]
    await no_subscriptions_left(server)  # the client's leaving ends the server's stream


async def test_listen_checks_every_uri_and_acknowledges_what_it_honours(server: ScsServer) -> None:
    alice = await server.agent("alice")
    bob = await server.agent("bob")
    session_id = await session_of(alice)
    client = await server.open_client(bob.token)
    with pytest.raises(Exception, match="AUTH_005"):
        async with listen(client.session, resource_subscriptions=["agent://alice/memory"]):
            pass
    too_many = [f"session://{session_id}/messages/{n}" for n in range(101)]
    with pytest.raises(Exception, match="VALIDATION_002"):
        async with listen(client.session, resource_subscriptions=too_many):
            pass
    await no_subscriptions_left(server)
    async with listening(
        server, bob.token, [f"session://{session_id}"], tools_list_changed=True
    ) as (_, subscription):
        assert subscription.honored.tools_list_changed is True
        assert subscription.honored.resource_subscriptions == [f"session://{session_id}"]


async def test_a_write_through_another_server_notifies_both_kinds_of_subscriber(
    scs_factory: ServerFactory,
) -> None:
    """Two servers on one database (processes on one SQLite file, replicas on PostgreSQL):
    subscribers of b hear of writes made through a, through the change feed."""
    a = await scs_factory(http=True)
    b = await scs_factory(http=True, same_database_as=a)
    alice = await a.agent("alice")
    bob = await a.agent("bob", agent_type="cursor")
    session_id = await session_of(alice)
    uri = f"session://{session_id}"
    legacy = await subscriber(b, bob.token)
    await legacy.subscribe(uri)
    async with listening(b, alice.token, [uri, "agent://alice/memory"]) as (modern, _):
        await alice.call("add_message", session_id=session_id, content="n", visibility="private")
        await alice.call("set_memory", key="k", value=1)
        await alice.call("add_message", session_id=session_id, content="p")
        assert await modern.wait_for(3) == [uri, "agent://alice/memory", uri]
        assert await legacy.wait_for(1) == [uri]  # not told of alice's private message
        await alice.call("close_session", session_id=session_id)
        assert await legacy.wait_for(2) == [uri, uri]
