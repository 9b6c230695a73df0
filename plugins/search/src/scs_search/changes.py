"""What the change feed announced since each session's index was last checked.

The topics are the plugins' contract: messaging emits ``messages``
``{"session_id", "id"}`` when it adds a message, sessions emits ``sessions``
``{"session_id"}`` on create and close. An announced message id is remembered, so an
index that already holds it (the ``message.added`` event came first) needs no database
check. Anything else (a session change, a ``messages`` payload without an id, say a
deletion, a payload without a session, a feed that could not be read) asks for a
full check of the session, or of every session.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scs_messaging.api import TOPIC as MESSAGES_TOPIC
from scs_sessions.api import TOPIC as SESSIONS_TOPIC

if TYPE_CHECKING:
    from collections.abc import Callable

    from scs_server.storage import Change

TOPICS = (MESSAGES_TOPIC, SESSIONS_TOPIC)
MAX_PENDING_IDS = 256  # more announced ids than this: check the database instead


class Announced:
    """Changes announced per tracked session: the ids of added messages, or None (check)."""

    def __init__(self) -> None:
        self._pending: dict[str, set[int] | None] = {}

    def track(self, session_id: str) -> None:
        """Record the session's changes from now on (its check against the database begins)."""
        self._pending[session_id] = set()

    def forget(self, session_id: str) -> None:
        """Stop recording: the session's next search checks the database."""
        self._pending.pop(session_id, None)

    def everything(self) -> None:
        """Anything may have changed: every tracked session needs a check."""
        for session_id in self._pending:
            self._pending[session_id] = None

    def on_change(self, change: Change) -> None:
        """A change-feed subscriber (called on the event loop; cheap)."""
        payload = change.payload if isinstance(change.payload, dict) else {}
        session_id = payload.get("session_id")
        if not isinstance(session_id, str):
            self.everything()
            return
        if session_id not in self._pending:
            return  # no index of it is resident or being checked
        pending = self._pending[session_id]
        ident = payload.get("id")
        if (
            change.topic != "messages"
            or not isinstance(ident, int)
            or pending is None
            or len(pending) >= MAX_PENDING_IDS
        ):
            self._pending[session_id] = None
        else:
            pending.add(ident)

    def settled(self, session_id: str, holds: Callable[[int], bool]) -> bool:
        """Whether the index of a tracked session holds every change announced since its
        check (``holds(id)``); those are then forgotten. False means: check the database."""
        pending = self._pending.get(session_id)
        if pending is None:  # untracked, or a change that only a check can take in
            return False
        if not all(holds(ident) for ident in pending):
            return False
        pending.clear()
        return True
