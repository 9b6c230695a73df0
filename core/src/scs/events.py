"""Domain events: their names (the one list, also in docs/plugins.md) and the event.

An event is delivered after its write committed, in-process, through the
``scs_event`` hook, one plugin after the other, before the writing call returns; the
delivery finishes even when that call is cancelled (``App.commit`` / ``App.emit``).
Events are not persisted: another server process on the same database does not see
them (the cache also watches SQLite's data version for that).
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
"""A memory entry was written. Data: ``agent_id``, ``key``, ``session_id`` (None: global),
``version``."""
MEMORY_DELETED = "memory.deleted"
"""A memory entry was deleted. Data: ``agent_id``, ``key``, ``session_id``."""
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
