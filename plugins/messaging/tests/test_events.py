"""Events fire after commit, with the documented data; refusals fire nothing.

A probe plugin (an object with an ``scs_event`` hook) is installed next to the
real ones through ``create_app(installed=...)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scs import hookimpl
from scs.app import create_app
from scs.plugins import PluginInfo, discover
from scs.testing import ScsServer, make_settings

if TYPE_CHECKING:
    from pathlib import Path

    import pytest
    from scs.app import App
    from scs.events import Event


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
                    "SELECT COUNT(*) FROM messages WHERE id = ?", (event.data["message"]["id"],)
                )
            self.committed.append(int(count))


async def test_events_fire_after_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    probe = Probe()
    installed = discover()
    installed["probe"] = PluginInfo("probe", "test-probe", "0", probe)
    app = await create_app(make_settings(tmp_path, "sessions,messaging,probe"), installed=installed)
    server = ScsServer(app, tmp_path)
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
    finally:
        await server.close()

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
