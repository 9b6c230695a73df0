"""The sessions plugin's public module: what other plugins may use.

``service(app)`` is the running ``Sessions`` (``get``, ``view``, ``list_page``, ``close``);
``session_ids`` and ``new_session_id`` serve the archive plugin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scs_sessions.export import session_ids
from scs_sessions.service import SERVICE, Sessions, new_session_id
from scs_sessions.validation import check_session_id

if TYPE_CHECKING:
    from scs.app import App

__all__ = ["SERVICE", "Sessions", "check_session_id", "new_session_id", "service", "session_ids"]


def service(app: App) -> Sessions:
    """The sessions service of ``app`` (the plugin must be enabled)."""
    sessions: Sessions = app.services[SERVICE]
    return sessions
