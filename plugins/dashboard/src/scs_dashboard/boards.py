"""The Inbox and Leases pages for the built-in inbox and leases plugins, through their
public modules; each board is offered only when its plugin is installed and enabled."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from scs_dashboard.pages import InboxRows, LeaseRows

if TYPE_CHECKING:
    from scs_server import Identity
    from scs_server.app import App

INBOX_SHOWN = 50


class InboxBoard:
    """The viewer's direct messages and mentions, newest first, with receipts."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def dashboard_rows(self, identity: Identity) -> list[dict[str, Any]]:
        from scs_inbox.api import inbox

        page = await inbox(self.app).fetch(
            identity, unread_only=False, after_id=None, limit=INBOX_SHOWN, mark_read=False
        )
        return [
            {
                "from": item["sender"],
                "kind": item["kind"],
                "subject": item["subject"] or "",
                "content": item["content"],
                "session": item["session_id"] or "",
                "sent": item["created_at"],
                "read": item["read_at"] or "",
                "acknowledged": item["acked_at"] or ("pending" if item["ack_required"] else ""),
            }
            for item in page["messages"]
        ]


class LeaseBoard:
    """Who holds what, until when (every agent sees every live lease, as list_leases)."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def dashboard_rows(self, identity: Identity) -> list[dict[str, Any]]:  # noqa: ARG002
        from scs_leases.api import active_leases

        return [
            {
                "holder": lease["holder"],
                "resources": ", ".join(lease["resources"]),
                "mode": lease["mode"],
                "expires": lease["expires_at"],
                "reason": lease["reason"] or "",
                "fencing token": lease["fencing_token"],
                "lease id": lease["lease_id"],
            }
            for lease in await active_leases(self.app)
        ]

    async def force_release(self, identity: Identity, lease_id: str) -> dict[str, Any]:
        """As the ``force_release_lease`` tool (admins only; audited; rate-limited)."""
        from scs_leases.api import force_release

        return await self.app.calls.as_tool(
            identity, "force_release_lease", lambda: force_release(self.app, identity, lease_id)
        )


def offer_boards(app: App) -> None:
    """Offer the boards of the enabled built-in plugins (a plugin that provides its own
    ``InboxRows``/``LeaseRows`` first keeps it)."""
    if "inbox" in app.plugins and app.services.find(InboxRows) is None:
        with contextlib.suppress(ImportError):
            import scs_inbox.api  # noqa: F401 - only to learn it is installed

            inbox_board: InboxRows = InboxBoard(app)
            app.services.provide(InboxRows, inbox_board, by="dashboard")
    if "leases" in app.plugins and app.services.find(LeaseRows) is None:
        with contextlib.suppress(ImportError):
            import scs_leases.api  # noqa: F401

            lease_board: LeaseRows = LeaseBoard(app)
            app.services.provide(LeaseRows, lease_board, by="dashboard")
