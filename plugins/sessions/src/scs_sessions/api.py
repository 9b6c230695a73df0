"""The sessions plugin's public module: what other plugins may use.

``service(app)`` is the running ``Sessions`` (``get``, ``view``, ``list_page``, ``close``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scs_sessions.service import SERVICE, Sessions
from scs_sessions.validation import check_session_id

if TYPE_CHECKING:
    from scs.app import App

__all__ = ["SERVICE", "Sessions", "check_session_id", "service"]


def service(app: App) -> Sessions:
    """The sessions service of ``app`` (the plugin must be enabled)."""
    sessions: Sessions = app.services[SERVICE]
    return sessions
