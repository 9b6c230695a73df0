"""The message reads the search plugin needs (portable SQL; published through
``scs_messaging.api``, so that search never queries messaging's tables itself).

Visibility conditions come from ``visibility.py`` (``visible_sql``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from scs_server.storage import Executor, Row

COLUMNS = (
    "m.id, m.session_id, m.sender, m.sender_type, m.content, m.visibility,"
    " m.metadata, m.parent_message_id, m.timestamp"
)
INDEX_COLUMNS = "id, sender, sender_type, content, visibility, metadata, timestamp"


async def session_ids(r: Executor) -> list[str]:
    """Every session that has messages, the most recently written to first."""
    rows = await r.fetch_all(
        "SELECT session_id FROM messaging_messages GROUP BY session_id ORDER BY MAX(id) DESC"
    )
    return [row[0] for row in rows]


async def rows_after(
    r: Executor, session_id: str, after_id: int, chunk: int = 10_000
) -> AsyncIterator[list[Row]]:
    """The session's messages with an id above ``after_id``, in id order, ``chunk`` at a time.

    Keyset pages (one statement each): memory stays bounded and no read transaction is
    held. A session's ids follow its commit order (messaging), so a page never skips a
    message that commits while we read.
    """
    while True:
        rows = await r.fetch_all(
            f"SELECT {INDEX_COLUMNS} FROM messaging_messages WHERE session_id = ? AND id > ?"
            " ORDER BY id LIMIT ?",
            (session_id, after_id, chunk),
        )
        if rows:
            yield rows
        if len(rows) < chunk:
            return
        after_id = int(rows[-1]["id"])


async def count_upto(r: Executor, session_id: str, upto: int) -> int:
    """How many messages of the session have an id up to ``upto`` (one index range)."""
    count = await r.fetch_value(
        "SELECT COUNT(*) FROM messaging_messages WHERE session_id = ? AND id <= ?",
        (session_id, upto),
    )
    return int(count)


async def messages_by_id(r: Executor, ids: list[int], visible: tuple[str, list[Any]]) -> list[Row]:
    """The messages with these ids that ``visible`` lets through (any order)."""
    if not ids:
        return []
    condition, params = visible
    marks = ",".join("?" * len(ids))
    return await r.fetch_all(
        f"SELECT {COLUMNS} FROM messaging_messages m WHERE m.id IN ({marks}) AND {condition}",
        (*ids, *params),
    )


async def by_sender(
    r: Executor,
    session_id: str,
    sender: str,
    visible: tuple[str, list[Any]],
    limit: int,
) -> list[Row]:
    """The sender's messages the caller may see, newest first."""
    condition, params = visible
    return await r.fetch_all(
        f"SELECT {COLUMNS} FROM messaging_messages m WHERE m.session_id = ? AND m.sender = ?"
        f" AND {condition} ORDER BY m.id DESC LIMIT ?",
        (session_id, sender, *params, limit),
    )


async def by_timerange(
    r: Executor,
    session_id: str,
    start: str,
    end: str,
    visible: tuple[str, list[Any]],
    limit: int,
) -> list[Row]:
    """Messages the caller may see stamped within ``[start, end]``, oldest first.

    Timestamps are fixed-width ISO-8601 UTC text, so text order is time order.
    """
    condition, params = visible
    return await r.fetch_all(
        f"SELECT {COLUMNS} FROM messaging_messages m WHERE m.session_id = ?"
        f" AND m.timestamp >= ? AND m.timestamp <= ? AND {condition}"
        " ORDER BY m.timestamp, m.id LIMIT ?",
        (session_id, start, end, *params, limit),
    )
