"""The search plugin's public module: what other plugins may use.

``service(app)`` is the running ``Search`` (``context(identity, session_id, query, ...)``
ranks only what ``identity`` may see), or None when search is not enabled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scs_search.service import Search

if TYPE_CHECKING:
    from scs_server.app import App

__all__ = ["Search", "service"]


def service(app: App) -> Search | None:
    """The search service of ``app``, or None when the plugin is not enabled."""
    return app.services.find(Search)
