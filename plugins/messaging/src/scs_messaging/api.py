"""The messaging plugin's public API: what other plugins may import (stable through 1.x).

Everything else in ``scs_messaging`` is private: its modules and its table may change.

- ``Messaging``: the service (``app.services.get(Messaging, needed_by=...)``).
- The visibility rule: ``can_see(identity, message)`` in Python, ``visible_sql(identity,
  alias)`` as a SQL condition (``(sql, params)``), ``narrow_sql`` with a filter;
  ``VISIBILITY_LEVELS`` and ``check_level``.
- ``message_object(row)``: a message as tools, resources and events show it.
- The reads a search index needs (``scs_messaging.search_store``): ``session_ids``,
  ``rows_after``, ``count_upto``, ``messages_by_id``, ``by_sender``, ``by_timerange``
  and ``INDEX_COLUMNS``, the columns ``rows_after`` returns.
- ``InboxSource`` (the Protocol an inbox provides so that ``wait_for_messages`` without a
  session waits on it) and ``Wakeups`` (the service other plugins add wake-up topics to).
- ``check_metadata_filter``, ``metadata_matches`` and ``metadata_canonical``: the
  ``metadata_filter`` rule (search applies it in its index).
- ``service(app)``: the running ``Messaging`` (``add``, ``page``, ``latest``, ``thread``,
  applying the visibility rule for the identity given).
- ``TOPIC``: the change-feed topic (``{"session_id", "id"}`` when a message is added).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scs_messaging.messages import InboxSource, Messaging, message_object
from scs_messaging.metadata_filter import canonical as metadata_canonical
from scs_messaging.metadata_filter import check_metadata_filter
from scs_messaging.metadata_filter import matches as metadata_matches
from scs_messaging.search_store import (
    INDEX_COLUMNS,
    by_sender,
    by_timerange,
    count_upto,
    messages_by_id,
    rows_after,
    session_ids,
)
from scs_messaging.store import TOPIC
from scs_messaging.visibility import LEVELS as VISIBILITY_LEVELS
from scs_messaging.visibility import can_see, check_level, narrow_sql, visible_sql
from scs_messaging.waits import Wakeups

if TYPE_CHECKING:
    from scs_server.app import App

__all__ = [
    "INDEX_COLUMNS",
    "InboxSource",
    "TOPIC",
    "Wakeups",
    "VISIBILITY_LEVELS",
    "Messaging",
    "by_sender",
    "by_timerange",
    "can_see",
    "check_metadata_filter",
    "check_level",
    "count_upto",
    "message_object",
    "messages_by_id",
    "metadata_canonical",
    "metadata_matches",
    "narrow_sql",
    "rows_after",
    "service",
    "session_ids",
    "visible_sql",
]


def service(app: App) -> Messaging:
    """The messaging service of ``app`` (the plugin must be enabled)."""
    return app.services.get(Messaging, needed_by="a user of scs_messaging.api")
