"""The inbox plugin's public module: what other plugins (dashboard, leases...) may use.

- ``hub(app)``: the ``EventHub`` (``stream.py``): ``async with hub(app).open(identity,
  sessions, last_event_id) as events`` for an identity-filtered stream of
  ``StreamEvent``s, and ``hub(app).publish(event, data, visible_to)`` to send a
  plugin's own events to the open streams that may see them.
- ``format_event``: one ``StreamEvent`` as an SSE frame.
- ``inbox(app)``: the ``Inbox`` service (unread counts, items).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scs_inbox.inbox import Inbox
from scs_inbox.routes import format_event
from scs_inbox.store import TOPIC
from scs_inbox.stream import EventHub, StreamEvent, parse_event_id

if TYPE_CHECKING:
    from scs_server.app import App


def hub(app: App) -> EventHub:
    """The app's event hub (the inbox plugin must be enabled)."""
    return app.services.get(EventHub, needed_by="a user of scs_inbox.api")


def inbox(app: App) -> Inbox:
    """The app's inbox service (the inbox plugin must be enabled)."""
    return app.services.get(Inbox, needed_by="a user of scs_inbox.api")


__all__ = [
    "TOPIC",
    "EventHub",
    "Inbox",
    "StreamEvent",
    "format_event",
    "hub",
    "inbox",
    "parse_event_id",
]
