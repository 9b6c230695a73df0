"""Identity-filtered event streams: what ``GET /events`` sends, reusable by other routes.

``EventHub.open(identity, sessions, last_event_id)`` yields an async iterator of
``StreamEvent`` (``None`` = time for a heartbeat) for one reader: messages it may see
(in ``sessions``, or every session), and its inbox items (direct messages, mentions).
It is woken by the change feed (so writes through other processes and replicas
arrive too) and re-reads with the reader's visibility, so nothing it may not see is
ever sent.

Event ids are ``s<feed seq>.m<message id>.i<inbox id>``. Messages are sent in the change
feed's commit order, and only up to the feed's gap-free position, so ``s`` says "every
message committed up to here was sent": a ``last_event_id`` replays the feed's durable
changes after it. (A message id alone is not such a mark on PostgreSQL: ids of
different sessions are taken before their commits, so a lower id can commit after a
higher one was sent.) Inbox item ids grow in commit order (their inserts are
serialised), so ``i`` is one. ``m`` is the fallback when the feed no longer holds the
changes after ``s`` (``SCS_CHANGES_RETENTION_S``), and the older ``m<id>.i<id>`` ids
still resume that way.

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

from scs_messaging.api import TOPIC as MESSAGES_TOPIC
from scs_server import ErrorCode, ScsError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from scs_messaging.api import Messaging
    from scs_server import Identity
    from scs_server.storage import Change, ChangeFeed

    from scs_inbox.inbox import Inbox

"""``app.services`` key of the app's ``EventHub``."""

MAX_BATCH = 1000
_EVENT_ID = re.compile(r"^(?:s(\d{1,19})\.)?m(\d{1,19})\.i(\d{1,19})$")
# a change of this process waits for the feed's position to pass it: re-check after
FIRST_RECHECK_S = 0.002
LAST_RECHECK_S = 0.5


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
    seq_mark: int = 0  # every message change up to this feed seq was handled
    message_mark: int = 0
    inbox_mark: int = 0
    changes: dict[int, tuple[str, int]] = field(default_factory=dict)  # seq: (session, id)
    backfill: bool = True
    inbox_dirty: bool = False
    published: list[StreamEvent] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def position(self) -> str:
        return f"s{self.seq_mark}.m{self.message_mark}.i{self.inbox_mark}"

    def wants(self, session_id: object) -> bool:
        return isinstance(session_id, str) and (
            self.sessions is None or session_id in self.sessions
        )

    def note(self, change: Change) -> None:
        payload = change.payload
        if change.seq > self.seq_mark and isinstance(payload, dict):
            session_id, message_id = payload.get("session_id"), payload.get("id")
            if self.wants(session_id) and isinstance(message_id, int):
                self.changes[change.seq] = (str(session_id), message_id)


def parse_event_id(value: str | None) -> tuple[int | None, int, int] | None:
    """``(feed seq or None, message mark, inbox mark)`` of a ``Last-Event-ID``; None when
    absent or not one of ours (``m<id>.i<id>``, from before feed positions: seq None)."""
    if not value:
        return None
    match = _EVENT_ID.match(value.strip())
    if match is None:
        return None
    seq = match.group(1)
    return (int(seq) if seq is not None else None, int(match.group(2)), int(match.group(3)))


class EventHub:
    """Open streams of this process, woken from the change feed."""

    def __init__(
        self, messaging: Messaging, inbox: Inbox, max_per_agent: int, feed: ChangeFeed
    ) -> None:
        self.messaging = messaging
        self.inbox = inbox
        self.feed = feed
        self.max_per_agent = max_per_agent
        self.streams: set[_Stream] = set()
        self.per_agent: Counter[str] = Counter()
        self.stopped = False

    def stop(self) -> None:
        """The server stops: every open stream ends now (and new ones at once), so that
        a shutdown does not wait for them (``App.when_stopping``)."""
        self.stopped = True
        for stream in self.streams:
            stream.wake.set()

    def on_change(self, change: Change) -> None:
        payload = change.payload
        if change.gap:  # changes were missed: every stream re-reads from its marks (the
            # durable feed after its seq, or, if that was pruned, messages after its id)
            for stream in self.streams:
                stream.backfill = stream.inbox_dirty = True
                stream.wake.set()
            return
        if not isinstance(payload, dict) or not self.streams:
            return
        if change.topic == MESSAGES_TOPIC:
            for stream in self.streams:
                if stream.wants(payload.get("session_id")):
                    stream.note(change)
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
            legacy = None
            if marks is None:
                self._poll()
                stream.seq_mark = self.feed.position
                stream.message_mark = await self.messaging.last_message_id()
                stream.inbox_mark = await self.inbox.last_id(identity)
            else:
                seq, stream.message_mark, stream.inbox_mark = marks
                stream.inbox_dirty = True
                if seq is None:  # an id from before feed positions: by message id
                    legacy = stream.message_mark
                    self._poll()
                    stream.seq_mark = self.feed.position
                else:
                    stream.seq_mark = seq
            yield self._events(stream, legacy, heartbeat_s)
        finally:
            self.streams.discard(stream)
            self.per_agent[agent_id] -= 1
            if self.per_agent[agent_id] <= 0:
                del self.per_agent[agent_id]

    def _poll(self) -> None:
        with contextlib.suppress(ScsError):  # cannot look now: the watcher catches up
            self.feed.poll()

    async def _by_message_id(self, stream: _Stream, after: int) -> list[StreamEvent]:
        """The fallback resume: visible messages above a message id (may repeat some)."""
        sessions = sorted(stream.sessions) if stream.sessions is not None else None
        found = await self.messaging.after_any(stream.identity, after, sessions, MAX_BATCH)
        return [self._message_event(stream, message) for message in found]

    async def _ready_messages(self, stream: _Stream) -> tuple[list[StreamEvent], bool]:
        """Messages of the changes up to the feed's position, in commit order; and
        whether changes of this process wait above it (re-check soon)."""
        if stream.backfill:  # what the durable feed holds after the mark
            found, complete = await self.feed.since(stream.seq_mark, (MESSAGES_TOPIC,), MAX_BATCH)
            stream.backfill = len(found) >= MAX_BATCH
            if not complete:  # pruned: what came after the message mark instead
                stream.backfill = False
                replayed = await self._by_message_id(stream, stream.message_mark)
                self._poll()
                stream.seq_mark = max(stream.seq_mark, self.feed.position)
                stream.changes = {k: v for k, v in stream.changes.items() if k > stream.seq_mark}
                return replayed, False
            for change in found:
                stream.note(change)
        self._poll()
        limit = self.feed.position
        ready = sorted(seq for seq in stream.changes if seq <= limit)
        waiting = len(ready) < len(stream.changes)
        events: list[StreamEvent] = []
        for start in range(0, len(ready), MAX_BATCH):
            chunk = [(seq, stream.changes.pop(seq)) for seq in ready[start : start + MAX_BATCH]]
            ids = [message_id for _, (_, message_id) in chunk]
            shown = {m["id"]: m for m in await self.messaging.visible_by_ids(stream.identity, ids)}
            for seq, (_, message_id) in chunk:
                stream.seq_mark = max(stream.seq_mark, seq)
                message = shown.get(message_id)
                if message is not None:
                    events.append(self._message_event(stream, message))
        if ready:
            stream.seq_mark = max(stream.seq_mark, ready[-1])
        return events, waiting

    async def _events(
        self, stream: _Stream, legacy: int | None, heartbeat_s: float
    ) -> AsyncIterator[StreamEvent | None]:
        loop = asyncio.get_running_loop()
        if legacy is not None:
            for event in await self._by_message_id(stream, legacy):
                yield event
        recheck = FIRST_RECHECK_S
        while not self.stopped:
            if not (
                stream.wake.is_set() or stream.published or stream.inbox_dirty or stream.backfill
            ):
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
            events, waiting = await self._ready_messages(stream)
            for event in events:
                yield event
            if waiting:  # bounded back-off until the feed's position passes them
                loop.call_later(recheck, stream.wake.set)
                recheck = min(recheck * 2, LAST_RECHECK_S)
            else:
                recheck = FIRST_RECHECK_S
            if stream.inbox_dirty:
                stream.inbox_dirty = False
                for item in await self.inbox.after(stream.identity, stream.inbox_mark, MAX_BATCH):
                    stream.inbox_mark = max(stream.inbox_mark, item["id"])
                    yield StreamEvent("inbox", item, stream.position())

    @staticmethod
    def _message_event(stream: _Stream, message: dict[str, Any]) -> StreamEvent:
        stream.message_mark = max(stream.message_mark, message["id"])
        return StreamEvent("message", message, stream.position())
