"""The memory plugin's public module: what other plugins may use.

``service(app)`` is the running ``MemoryService`` (``snapshot(identity, agent_id)`` reads
an agent's live memory for that agent or an admin), or None when memory is not enabled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scs_memory.rules import may_read_memory_of
from scs_memory.service import MemoryService

if TYPE_CHECKING:
    from scs_server.app import App

__all__ = ["MemoryService", "may_read_memory_of", "service"]


def service(app: App) -> MemoryService | None:
    """The memory service of ``app``, or None when the plugin is not enabled."""
    return app.services.find(MemoryService)
