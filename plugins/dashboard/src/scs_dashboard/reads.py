"""Unread counts and read marks: the inbox plugin's read cursors, through ``scs_inbox.api``.

Opening a session page moves the viewer's cursor as ``mark_read`` would (mentions up to
it count as read too), and the sessions list shows the ``unread`` that ``list_sessions``
gives. Without the inbox plugin there are no cursors: no unread column, nothing marked.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scs_inbox.api import Inbox
    from scs_server import Identity
    from scs_server.app import App


class ReadCursors:
    """The inbox's per-agent, per-session read cursors as the dashboard uses them."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    async def unread(self, identity: Identity, session_ids: list[str]) -> dict[str, int]:
        """Per session: messages from others the viewer may see above its cursor."""
        return await self.inbox.session_unread(identity, session_ids)

    async def mark_read(self, identity: Identity, session_id: str, up_to: int) -> None:
        """Move the viewer's cursor forward to ``up_to`` (never back)."""
        await self.inbox.mark_read(identity, session_id, up_to)


def read_cursors(app: App) -> ReadCursors | None:
    """The cursors of the enabled inbox plugin, or None (not installed or not enabled)."""
    with contextlib.suppress(ImportError):
        from scs_inbox.api import Inbox

        inbox = app.services.find(Inbox)
        if inbox is not None:
            return ReadCursors(inbox)
    return None
