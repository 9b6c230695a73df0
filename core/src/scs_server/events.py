"""Domain events: their names (the one list, also in docs/plugins.md) and the event.

A plugin announces an event inside its write transaction (``app.announce(tx, name,
source, **data)``); the delivery starts in the transaction's commit path (never for a
rollback), in its own task, through the ``scs_event`` hook, one plugin after the other.
A tool call returns after the deliveries it started; a call cancelled after its commit
does not stop them. Events are in-process: another server process on the same
database learns of the write through the change feed (``app.db.changes``), not here.
Plugins may announce their own events (prefixed by the plugin's name).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SESSION_CREATED = "session.created"
"""A session was created. Data: ``session_id``, ``session`` (the session object)."""
SESSION_CLOSED = "session.closed"
"""A session was closed. Data: ``session_id``."""
MESSAGE_ADDED = "message.added"
"""A message was added. Data: ``session_id``, ``message`` (the message object)."""
MEMORY_SET = "memory.set"
"""A memory entry was written. Data: ``agent_id`` (the writer), ``key``, ``session_id``
(None: global), ``version``, ``scope`` (``private``, or ``shared``: the session's)."""
MEMORY_DELETED = "memory.deleted"
"""A memory entry was deleted. Data: ``agent_id`` (the writer), ``key``, ``session_id``,
``scope``."""
MEMORY_EXPIRED = "memory.expired"
"""The sweeper deleted expired memory entries. Data: ``count``, ``session_id`` (None)."""

EVENT_NAMES = (
    SESSION_CREATED,
    SESSION_CLOSED,
    MESSAGE_ADDED,
    MEMORY_SET,
    MEMORY_DELETED,
    MEMORY_EXPIRED,
)


@dataclass(frozen=True)
class Event:
    """Something that happened: ``name`` like ``message.added``, ``data`` its facts."""

    name: str
    data: dict[str, Any] = field(default_factory=dict)
    source: str = ""

    @property
    def topic(self) -> str:
        """What kind of thing changed: ``session``, ``message``, ``memory``..."""
        return self.name.partition(".")[0]

    @property
    def session_id(self) -> str | None:
        """The session the change belongs to; None when global or not known."""
        value = self.data.get("session_id")
        return value if isinstance(value, str) else None
