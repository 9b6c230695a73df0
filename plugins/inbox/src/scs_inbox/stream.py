"""Identity-filtered event streams: what ``GET /events`` sends, reusable by other routes.

``EventHub.open(identity, sessions, last_event_id)`` yields an async iterator of
``StreamEvent`` (``None`` = time for a heartbeat) for one reader: messages it may see
(in ``sessions``, or every session), and its inbox items (direct messages, mentions).
It is woken by the change feed (so writes through other processes and replicas
arrive too) and re-queries with the reader's visibility, so nothing it may not see is
ever sent. Event ids (``m<message id>.i<inbox id>``) are the high-water marks; a
``last_event_id`` replays what came after them.

Other plugins publish their own events through ``EventHub.publish(event, data,
visible_to)``: live only (no replay), to every open stream whose reader ``visible_to``
accepts. Publish from a change-feed subscription to reach streams on every process.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scs import ErrorCode, ScsError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from scs import Identity
    from scs.storage import Change
    from scs_messaging.api import Messaging

    from scs_inbox.inbox import Inbox

"""``app.services`` key of the app's ``EventHub``."""

MAX_BATCH = 1000
_EVENT_ID = re.compile(r"^m(\d{1,19})\.i(\d{1,19})$")


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One event: ``event`` (``message``, ``inbox`` or a plugin's name), JSON ``data``,
    and the stream position ``id`` (None for published events: they are not replayed)."""

    event: str
    data: dict[str, Any]
    id: str | None = None


@dataclass(eq=False)
class _Stream:
    identity: Identity
    sessions: frozenset[str] | None
    message_mark: int = 0
    inbox_mark: int = 0
    session_marks: dict[str, int] = field(default_factory=dict)
    dirty_sessions: set[str] = field(default_factory=set)
    inbox_dirty: bool = False
    resync: bool = False  # a change-feed gap: re-read every session from message_mark
    published: list[StreamEvent] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def position(self) -> str:
        return f"m{self.message_mark}.i{self.inbox_mark}"


def parse_event_id(value: str | None) -> tuple[int, int] | None:
    """The marks of a ``Last-Event-ID``; None when absent or not one of ours."""
    if not value:
        return None
    match = _EVENT_ID.match(value.strip())
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2))


class EventHub:
    """Open streams of this process, woken from the change feed."""

    def __init__(self, messaging: Messaging, inbox: Inbox, max_per_agent: int) -> None:
        self.messaging = messaging
        self.inbox = inbox
        self.max_per_agent = max_per_agent
        self.streams: set[_Stream] = set()
        self.per_agent: Counter[str] = Counter()

    def on_change(self, change: Change) -> None:
        payload = change.payload
        if change.gap:  # changes were missed: every stream re-reads from its marks
            for stream in self.streams:
                stream.resync = stream.inbox_dirty = True
                stream.wake.set()
            return
        if not isinstance(payload, dict) or not self.streams:
            return
        if change.topic == "messages":
            session_id = payload.get("session_id")
            for stream in self.streams:
                if isinstance(session_id, str) and (
                    stream.sessions is None or session_id in stream.sessions
                ):
                    stream.dirty_sessions.add(session_id)
                    stream.wake.set()
        else:
            agent_id = payload.get("agent_id")
            for stream in self.streams:
                if stream.identity.agent_id == agent_id and payload.get("id") is not None:
                    stream.inbox_dirty = True
                    stream.wake.set()

    def publish(
        self, event: str, data: dict[str, Any], visible_to: Callable[[Identity], bool]
    ) -> int:
        """Send ``event`` to every open stream whose reader ``visible_to`` accepts; how many."""
        sent = 0
        for stream in self.streams:
            if visible_to(stream.identity):
                stream.published.append(StreamEvent(event, data))
                stream.wake.set()
                sent += 1
        return sent

    def admit(self, identity: Identity) -> None:
        """Refuse a new stream over the per-agent cap (``open`` checks again)."""
        agent_id = identity.agent_id
        if self.per_agent[agent_id] >= self.max_per_agent:
            raise ScsError(
                ErrorCode.LIMIT_EXCEEDED,
                f"agent {agent_id} already has {self.max_per_agent} event streams open",
                "close one first, or raise SCS_INBOX_EVENTS_MAX_CONNECTIONS",
                limit=self.max_per_agent,
            )

    @contextlib.asynccontextmanager
    async def open(
        self,
        identity: Identity,
        sessions: frozenset[str] | None = None,
        last_event_id: str | None = None,
        heartbeat_s: float = 15.0,
    ) -> AsyncIterator[AsyncIterator[StreamEvent | None]]:
        """One reader's stream (refused over the per-agent cap); closed on exit."""
        agent_id = identity.agent_id
        self.admit(identity)
        stream = _Stream(identity, sessions)
        self.per_agent[agent_id] += 1
        self.streams.add(stream)  # before reading the marks: nothing falls in between
        try:
            marks = parse_event_id(last_event_id)
            if marks is None:
                stream.message_mark = await self.messaging.last_message_id()
                stream.inbox_mark = await self.inbox.last_id(identity)
            else:
                stream.message_mark, stream.inbox_mark = marks
                stream.inbox_dirty = True
            yield self._events(stream, resume=marks is not None, heartbeat_s=heartbeat_s)
        finally:
            self.streams.discard(stream)
            self.per_agent[agent_id] -= 1
            if self.per_agent[agent_id] <= 0:
                del self.per_agent[agent_id]

    async def _events(
        self, stream: _Stream, *, resume: bool, heartbeat_s: float
    ) -> AsyncIterator[StreamEvent | None]:
        start = stream.message_mark
        stream.resync = stream.resync or resume
        while True:
            if stream.resync:  # a resumed stream, or a change-feed gap: all after the mark
                stream.resync = False
                sessions = sorted(stream.sessions) if stream.sessions is not None else None
                for message in await self.messaging.after_any(
                    stream.identity, stream.message_mark, sessions, MAX_BATCH
                ):
                    yield self._message_event(stream, message)
            if not (stream.wake.is_set() or stream.published or stream.inbox_dirty):
                try:
                    async with asyncio.timeout(heartbeat_s):
                        await stream.wake.wait()
                except TimeoutError:
                    yield None
                    continue
            stream.wake.clear()
            published, stream.published = stream.published, []
            for event in published:
                yield event
            dirty, stream.dirty_sessions = stream.dirty_sessions, set()
            for session_id in sorted(dirty):
                mark = stream.session_marks.get(session_id, start)
                for message in await self.messaging.after(
                    stream.identity, session_id, mark, MAX_BATCH
                ):
                    yield self._message_event(stream, message)
            if stream.inbox_dirty:
                stream.inbox_dirty = False
                for item in await self.inbox.after(stream.identity, stream.inbox_mark, MAX_BATCH):
                    stream.inbox_mark = max(stream.inbox_mark, item["id"])
                    yield StreamEvent("inbox", item, stream.position())

    @staticmethod
    def _message_event(stream: _Stream, message: dict[str, Any]) -> StreamEvent:
        session_id = message["session_id"]
        stream.session_marks[session_id] = max(
            stream.session_marks.get(session_id, 0), message["id"]
        )
        stream.message_mark = max(stream.message_mark, message["id"])
        return StreamEvent("message", message, stream.position())
