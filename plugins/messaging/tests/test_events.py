"""Events fire after commit, with the documented data; refusals fire nothing.

A probe plugin (an object with an ``scs_event`` hook) is installed next to the
real ones (``extra_plugins``). The change feed carries the ``sessions`` and ``messages``
topics of the same writes.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from scs_server import hookimpl

if TYPE_CHECKING:
    from scs_server.app import App
    from scs_server.events import Event
    from scs_server.storage import Change
    from scs_server.testing import ServerFactory


async def wait_for_change(changes: list[Change], payload: dict[str, Any]) -> None:
    """Poll (bounded in count and time) until a change with ``payload`` has arrived."""
    deadline = time.monotonic() + 30
    for _ in range(3000):
        if any(change.payload == payload for change in changes):
            return
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.01)
    raise AssertionError(f"no change {payload} within 30 s; got {changes}")


class Probe:
    """Records every event, and what the database held when it arrived."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any], str]] = []
        self.committed: list[int] = []

    @hookimpl
    async def scs_event(self, app: App, event: Event) -> None:
        self.events.append((event.name, event.data, event.source))
        if event.name == "message.added":
            # read through another connection: the row must already be committed
            async with app.db.read() as r:
                count = await r.fetch_value(
                    "SELECT COUNT(*) FROM messaging_messages WHERE id = ?",
                    (event.data["message"]["id"],),
                )
            self.committed.append(int(count))


async def test_events_fire_after_commit(scs_factory: ServerFactory) -> None:
    probe = Probe()
    server = await scs_factory(plugins="sessions,messaging,probe", extra_plugins={"probe": probe})
    changes: list[Change] = []
    feed = await server.app.db.changes.subscribe(changes.append, topics=("sessions", "messages"))
    try:
        alice = await server.agent("alice")
        created = await alice.call("create_session", purpose="events", metadata={"a": 1})
        sid = created["session_id"]
        added = await alice.call(
            "add_message", session_id=sid, content="hi", metadata={"k": "v"}, visibility="private"
        )
        await alice.fails("add_message", session_id=sid, content="  ")
        await alice.call("close_session", session_id=sid)
        await alice.call("close_session", session_id=sid)  # already closed: no second event
        await alice.fails("add_message", session_id=sid, content="late")
        # a last change to wait for: every earlier one is delivered before it
        marker = await alice.call("create_session", purpose="marker")
        await wait_for_change(changes, {"session_id": marker["session_id"]})
    finally:
        feed.close()

    # the change feed: one change per committed write, none for refusals
    assert [(c.topic, c.payload) for c in changes] == [
        ("sessions", {"session_id": sid}),
        ("messages", {"session_id": sid, "id": added["message_id"]}),
        ("sessions", {"session_id": sid}),
        ("sessions", {"session_id": marker["session_id"]}),
    ]
    probe.events = probe.events[:3]  # the marker's session.created is not under test

    names = [name for name, _, _ in probe.events]
    assert names == ["session.created", "message.added", "session.closed"]
    (_, session_data, source1), (_, message_data, source2), (_, closed_data, source3) = probe.events
    assert (source1, source2, source3) == ("sessions", "messaging", "sessions")
    assert session_data["session"]["id"] == sid
    assert session_data["session"]["purpose"] == "events"
    assert session_data["session"]["metadata"] == {"a": 1}
    assert message_data["message"] == {
        "id": added["message_id"],
        "session_id": sid,
        "sender": "alice",
        "sender_type": "claude",
        "content": "hi",
        "visibility": "private",
        "metadata": {"k": "v"},
        "parent_message_id": None,
        "timestamp": added["timestamp"],
    }
    assert closed_data == {"session_id": sid}
    assert probe.committed == [1]
