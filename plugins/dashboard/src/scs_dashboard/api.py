"""The dashboard plugin's public module: the service keys that fill its extra pages.

A plugin that wants the Inbox or Leases page provides an object with
``async dashboard_rows(identity) -> list[dict]`` under the page's key::

    app.services.provide(InboxRows, rows, by="inbox")
"""

from __future__ import annotations

from scs_dashboard.pages import InboxRows, LeaseRows, RowsProvider

__all__ = ["InboxRows", "LeaseRows", "RowsProvider"]
