"""GET /events: identity-filtered SSE with Last-Event-ID resume, heartbeats and a cap."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import TYPE_CHECKING, Any

import httpx2
import pytest
from scs_inbox.api import EventHub

from .conftest import DEADLINE_S, until

pytestmark = pytest.mark.slow  # real HTTP servers and streams

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from scs_server.testing import ScsServer

    from .conftest import CrewFactory


def events_url(server: ScsServer) -> str:
    assert server.url is not None
    return server.url.removesuffix("/mcp") + "/events"


class Reader:
    """One open /events stream, read frame by frame."""

    def __init__(self, response: httpx2.Response) -> None:
        self.response = response
        self.lines = response.aiter_lines()

    async def next(self, skip_heartbeats: bool = True) -> dict[str, Any]:
        async with asyncio.timeout(DEADLINE_S):
            frame: dict[str, Any] = {}
            async for line in self.lines:
                if line == "":
                    if frame.get("comment") in ("connected", "heartbeat") and skip_heartbeats:
                        frame = {}
                        continue
                    if frame:
                        return frame
                    continue
                if line.startswith(":"):
                    frame["comment"] = line[1:].strip()
                    continue
                name, _, value = line.partition(": ")
                frame[name] = json.loads(value) if name == "data" else value
        raise AssertionError("stream ended")


@contextlib.asynccontextmanager
async def stream(
    server: ScsServer, token: str | None, **headers: str
) -> AsyncIterator[tuple[httpx2.Response, Reader]]:
    sent = dict(headers)
    if token is not None:
        sent["authorization"] = f"Bearer {token}"
    async with (
        httpx2.AsyncClient(timeout=DEADLINE_S) as client,
        client.stream("GET", events_url(server), headers=sent) as response,
    ):
        yield response, Reader(response)


def hub_streams(server: ScsServer) -> int:
    return len(server.app.services.get(EventHub, needed_by="test").streams)


async def test_events_follow_visibility_and_resume(make_crew: CrewFactory) -> None:
    crew = await make_crew(http=True)
    sid = crew.session_id
    async with stream(crew.server, crew.carol.token) as (response, events):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        await until(lambda: hub_streams(crew.server) == 1)
        await crew.alice.call(
            "add_message", session_id=sid, content="claude only", visibility="agent_only"
        )
        public = await crew.alice.call("add_message", session_id=sid, content="for all")
        first = await events.next()
        assert (first["event"], first["data"]["id"]) == ("message", public["message_id"])
        dm = await crew.alice.call("send_direct_message", to="carol", content="psst")
        await crew.alice.call("send_direct_message", to="bob", content="not carol's")
        second = await events.next()
        assert (second["event"], second["data"]["id"], second["data"]["content"]) == (
            "inbox",
            dm["message_id"],
            "psst",
        )
        last_id = second["id"]
    await until(lambda: hub_streams(crew.server) == 0)

    later = await crew.alice.call("add_message", session_id=sid, content="while away")
    await crew.alice.call("add_message", session_id=sid, content="hidden", visibility="private")
    dm2 = await crew.bob.call("send_direct_message", to="carol", content="back?")
    async with stream(crew.server, crew.carol.token, **{"last-event-id": last_id}) as (_, events):
        replayed = [await events.next(), await events.next()]
        assert [(e["event"], e["data"]["id"]) for e in replayed] == [
            ("message", later["message_id"]),
            ("inbox", dm2["message_id"]),
        ]


async def test_events_refuse_missing_and_bad_tokens_and_foreign_hosts(
    make_crew: CrewFactory,
) -> None:
    crew = await make_crew(http=True)
    async with httpx2.AsyncClient(timeout=DEADLINE_S) as client:
        missing = await client.get(events_url(crew.server))
        assert (missing.status_code, missing.json()["code"]) == (401, "AUTH_001")
        bad = await client.get(events_url(crew.server), headers={"authorization": "Bearer nope"})
        assert bad.status_code == 401
        assert bad.json()["code"] == "AUTH_002"
        foreign = await client.get(
            events_url(crew.server),
            headers={"authorization": f"Bearer {crew.bob.token}", "host": "evil.example"},
        )
        assert foreign.status_code == 421
        cross = await client.get(
            events_url(crew.server),
            headers={"authorization": f"Bearer {crew.bob.token}", "origin": "http://evil.example"},
        )
        assert cross.status_code == 403
    assert hub_streams(crew.server) == 0


async def test_the_per_agent_stream_cap_and_heartbeats(make_crew: CrewFactory) -> None:
    crew = await make_crew(
        http=True,
        env={"SCS_INBOX_EVENTS_MAX_CONNECTIONS": "1", "SCS_INBOX_EVENTS_HEARTBEAT_S": "0.05"},
    )
    async with stream(crew.server, crew.bob.token) as (_, events):
        beat = await events.next(skip_heartbeats=False)
        assert beat == {"comment": "connected"}
        beat = await events.next(skip_heartbeats=False)
        assert beat == {"comment": "heartbeat"}
        async with httpx2.AsyncClient(timeout=DEADLINE_S) as client:
            second = await client.get(
                events_url(crew.server), headers={"authorization": f"Bearer {crew.bob.token}"}
            )
            assert (second.status_code, second.json()["code"]) == (429, "LIMIT_EXCEEDED")
        async with stream(crew.server, crew.alice.token) as (other, _):
            assert other.status_code == 200


async def test_publish_reaches_only_the_streams_that_may_see_it(make_crew: CrewFactory) -> None:
    from scs_inbox.api import hub

    crew = await make_crew(http=True)
    async with (
        stream(crew.server, crew.bob.token) as (_, bob_events),
        stream(crew.server, crew.carol.token) as (_, carol_events),
    ):
        await until(lambda: hub_streams(crew.server) == 2)
        sent = hub(crew.server.app).publish(
            "lease.granted", {"lease": "x"}, lambda identity: identity.agent_id == "bob"
        )
        assert sent == 1
        got = await bob_events.next()
        assert (got["event"], got["data"]) == ("lease.granted", {"lease": "x"})
        public = await crew.alice.call("add_message", session_id=crew.session_id, content="hi")
        carol_first = await carol_events.next()
        assert carol_first["data"]["id"] == public["message_id"]  # nothing published before it


async def test_lease_changes_reach_the_streams_of_every_agent(make_crew: CrewFactory) -> None:
    crew = await make_crew(http=True)
    async with stream(crew.server, crew.carol.token) as (_, events):
        await until(lambda: hub_streams(crew.server) == 1)
        granted = await crew.alice.call("acquire_lease", resources=["src/app.py"], ttl_s=60)
        got = await events.next()
        assert (got["event"], got["data"]) == (
            "lease.acquired",
            {"lease_id": granted["lease_id"], "what": "acquired"},
        )
        await crew.alice.call("release_lease", lease_id=granted["lease_id"])
        got = await events.next()
        assert (got["event"], got["data"]["lease_id"]) == ("lease.released", granted["lease_id"])


@contextlib.asynccontextmanager
async def late_message(server: ScsServer, session_id: str, content: str) -> AsyncIterator[None]:
    """A message whose id is taken now and committed at the end of the block (PostgreSQL:
    its transaction stays open meanwhile, so messages of other sessions committed in the
    block get higher ids and commit first; SQLite has one writer: it is written at the end)."""
    from scs_messaging import store as messaging_store  # to hold its transaction open
    from scs_server.storage import one_statement_in

    db = server.app.db

    async def insert(tx: Any) -> None:
        await messaging_store.insert(  # it locks the session row itself on PostgreSQL
            one_statement_in(tx),
            db.dialect,
            session_id=session_id,
            sender="alice",
            sender_type="claude",
            content=content,
            visibility="public",
            metadata=None,
            parent_id=None,
            timestamp="2026-11-30T10:00:00.000000Z",
            parent_visible=("1 = 1", []),
        )

    if db.dialect != "postgresql":
        yield
        await db.write(insert)
        return
    async with db.transaction() as tx:
        await insert(tx)
        yield


async def test_a_late_commit_of_a_lower_id_is_streamed_and_resumed(make_crew: CrewFactory) -> None:
    crew = await make_crew(http=True)
    held, other = (
        crew.session_id,
        (await crew.bob.call("create_session", purpose="y"))["session_id"],
    )

    def ids(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
        return [(e["data"]["session_id"], e["data"]["content"]) for e in events]

    async with stream(crew.server, crew.carol.token) as (_, events):
        await until(lambda: hub_streams(crew.server) == 1)
        async with late_message(crew.server, held, "A1 late"):  # live: both arrive
            await crew.bob.call("add_message", session_id=other, content="B1")
            first = await events.next()
        second = await events.next()
        assert ids([first, second]) == [(other, "B1"), (held, "A1 late")]
        async with late_message(crew.server, held, "A2 late"):  # then the reader goes away
            await crew.bob.call("add_message", session_id=other, content="B2")
            seen = await events.next()
            assert ids([seen]) == [(other, "B2")]
    await until(lambda: hub_streams(crew.server) == 0)
    if crew.server.app.db.dialect == "postgresql":
        assert second["data"]["id"] < first["data"]["id"]  # the forced order: lower id later
    after_b2 = await crew.bob.call("add_message", session_id=other, content="B3")
    async with stream(crew.server, crew.carol.token, **{"last-event-id": seen["id"]}) as (_, ev):
        replayed = [await ev.next(), await ev.next()]
        assert ids(replayed) == [(held, "A2 late"), (other, "B3")]  # nothing missed or repeated
        assert replayed[1]["data"]["id"] == after_b2["message_id"]
    # an id of the older form (message and inbox marks only) still resumes by message id
    older = f"m{first['data']['id']}.i0"
    async with stream(crew.server, crew.carol.token, **{"last-event-id": older}) as (_, ev):
        again = await ev.next()
        assert again["event"] == "message"
        assert again["data"]["id"] > first["data"]["id"]
