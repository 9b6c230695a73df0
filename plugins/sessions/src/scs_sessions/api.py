"""The sessions plugin's public API: what other plugins may import (stable through 1.x).

Everything else in ``scs_sessions`` is private: its modules and its table may change.

- ``Sessions``: the service (``app.services.get(Sessions, needed_by=...)``).
- ``UnreadCounter``: the optional Protocol an inbox provides so that ``list_sessions``
  entries carry ``unread``.
- ``MessageReader``: the Protocol a messaging plugin provides so that ``get_session``
  shows messages.
- ``session_state(r, session_id)``: ``"open"``, ``"closed"`` or ``"missing"``, inside a
  write transaction or a read (the "is this session open" check of a write).
- ``lock_session(tx, dialect, session_id)``: serialise one session's writers in ``tx``.
- ``session_object(row)``: a session as tools and events show it.
- ``encode_metadata`` / ``decode_metadata``: session and message metadata, stored as
  JSON text.
- ``service(app)``: the running ``Sessions`` (``get``, ``view``, ``list_page``, ``close``);
  ``check_session_id``: the session-id rule.
- ``session_ids`` and ``new_session_id``: for the archive plugin's export and import.
- ``TOPIC``: the change-feed topic (``{"session_id": ...}`` on create and close);
  ``TABLE``: the table name, only for a statement that must join it atomically.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scs_server.validation import check_session_id

from scs_sessions.export import session_ids
from scs_sessions.service import (
    MessageReader,
    Sessions,
    UnreadCounter,
    new_session_id,
    session_object,
)
from scs_sessions.store import TABLE, TOPIC, SessionState, lock_session, session_state
from scs_sessions.validation import decode_metadata, encode_metadata

if TYPE_CHECKING:
    from scs_server.app import App

__all__ = [
    "TABLE",
    "TOPIC",
    "MessageReader",
    "SessionState",
    "Sessions",
    "UnreadCounter",
    "check_session_id",
    "decode_metadata",
    "encode_metadata",
    "lock_session",
    "new_session_id",
    "service",
    "session_ids",
    "session_object",
    "session_state",
]


def service(app: App) -> Sessions:
    """The sessions service of ``app`` (the plugin must be enabled)."""
    return app.services.get(Sessions, needed_by="a user of scs_sessions.api")
