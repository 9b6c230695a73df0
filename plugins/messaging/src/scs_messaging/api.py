"""The messaging plugin's public module: what other plugins may use.

``service(app)`` is the running ``Messaging`` (``add``, ``page``, ``latest``, ``thread``),
which applies the visibility rule of the MCP tools; ``can_see`` is that rule in Python.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scs_messaging.messages import SERVICE, Messaging
from scs_messaging.visibility import LEVELS, Visibility, can_see

if TYPE_CHECKING:
    from scs.app import App

TOPIC = "messages"  # change-feed topic, payload {"session_id", "id"}

__all__ = ["LEVELS", "SERVICE", "TOPIC", "Messaging", "Visibility", "can_see", "service"]


def service(app: App) -> Messaging:
    """The messaging service of ``app`` (the plugin must be enabled)."""
    messaging: Messaging = app.services[SERVICE]
    return messaging
