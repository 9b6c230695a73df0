"""The sessions plugin's public surface for other plugins."""

from __future__ import annotations

from scs_sessions.export import session_ids
from scs_sessions.service import new_session_id

__all__ = ["new_session_id", "session_ids"]
