"""What the messaging tools and resources do, kept apart from their MCP declarations.

Every read goes through ``visibility.py``; every write is one short transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from scs_server import ErrorCode, ScsError
from scs_server.budget import fitting
from scs_server.errors import not_found, validation_error
from scs_server.events import MESSAGE_ADDED
from scs_server.timestamps import utc_now
from scs_server.validation import check_session_id, clean_text
from scs_sessions.api import decode_metadata, encode_metadata, session_state

from scs_messaging import search_store, store
from scs_messaging.metadata_filter import check_metadata_filter, matches
from scs_messaging.visibility import check_level, narrow_sql, visible_sql
from scs_messaging.waits import Wakeups, wait_until

SOURCE = "messaging"

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from scs_server import Identity
    from scs_server.app import App
    from scs_server.storage import Dialect, Executor, OneStatement, Row

    from scs_messaging.settings import MessagingSettings

MAX_LIMIT = 1000
FILTER_PAGE = 500  # rows read per statement while filtering by metadata


def message_object(row: Mapping[str, Any]) -> dict[str, Any]:
    """A message as every tool, resource and event shows it."""
    metadata = row["metadata"]
    return {
        "id": row["id"],
        "session_id": row["session_id"],
        "sender": row["sender"],
        "sender_type": row["sender_type"],
        "content": row["content"],
        "visibility": row["visibility"],
        "metadata": decode_metadata(metadata) if isinstance(metadata, str) else metadata,
        "parent_message_id": row["parent_message_id"],
        "timestamp": row["timestamp"],
    }


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise validation_error(f"limit must be between 1 and {MAX_LIMIT}, not {limit}")
    return limit


async def _insert_now(
    one: OneStatement, /, dialect: Dialect, session_id: str, **fields: Any
) -> tuple[int | None, str]:
    """The insert, timestamped inside the write transaction once the session's writers
    are serialised (``store.insert``): with ids allocated there too, id order is commit
    order and time order within a session, even with several server processes. On
    PostgreSQL the database's clock stamps it (one clock for every replica)."""
    timestamp = None if dialect == "postgresql" else utc_now()
    return await store.insert(one, dialect, session_id=session_id, timestamp=timestamp, **fields)


async def _matching(
    r: Executor,
    session_id: str,
    visible: tuple[str, list[Any]],
    after_id: int | None,
    limit: int,
    offset: int,
    wanted: dict[str, Any],
) -> list[Row]:
    """Up to ``limit`` visible messages matching ``wanted`` after ``after_id``, skipping
    ``offset`` matches: keyset pages of the session, filtered here (the same rule on
    every engine)."""
    found: list[Row] = []
    skip = offset
    while True:
        rows = await store.page(
            r, session_id, visible, after_id=after_id, limit=FILTER_PAGE, offset=0
        )
        for row in rows:
            if not matches(message_object(row)["metadata"], wanted):
                continue
            if skip:
                skip -= 1
                continue
            found.append(row)
            if len(found) >= limit:
                return found
        if len(rows) < FILTER_PAGE:
            return found
        after_id = int(rows[-1]["id"])


class Messaging:
    """Message operations over the app's database (also the sessions plugin's MessageReader)."""

    def __init__(self, app: App) -> None:
        self.app = app

    @property
    def settings(self) -> MessagingSettings:
        settings: MessagingSettings = self.app.config("messaging")
        return settings

    async def add(
        self,
        identity: Identity,
        session_id: str,
        content: str,
        visibility: str = "public",
        metadata: dict[str, Any] | str | None = None,
        parent_message_id: int | None = None,
    ) -> dict[str, Any]:
        """Check everything, then one transaction: session open, parent valid, insert."""
        settings = self.settings
        level = check_level(visibility)
        if level == "admin_only" and not identity.is_admin:
            raise ScsError(
                ErrorCode.AUTH_FORBIDDEN,
                "writing an admin_only message needs the 'admin' permission",
                "use public, private or agent_only",
            )
        check_session_id(session_id)
        content = clean_text(content, "content", settings.max_message_length)
        stored = encode_metadata(metadata, settings.max_metadata_size_kb)
        if parent_message_id is not None and not 1 <= parent_message_id < 2**63:
            raise validation_error(f"parent_message_id {parent_message_id} does not exist")
        app = self.app
        fields: dict[str, Any] = {
            "sender": identity.agent_id,
            "sender_type": identity.agent_type,
            "content": content,
            "visibility": level,
            "metadata": stored,
            "parent_id": parent_message_id,
        }

        async def insert(one: OneStatement) -> tuple[int | None, str]:
            written = await _insert_now(
                one, app.db.dialect, session_id, parent_visible=visible_sql(identity, "m"), **fields
            )
            message_id, timestamp = written
            if message_id is not None:
                row = {**fields, "id": message_id, "session_id": session_id, "timestamp": timestamp}
                row["parent_message_id"] = parent_message_id
                message = message_object(row)
                app.announce(one, MESSAGE_ADDED, SOURCE, session_id=session_id, message=message)
            return written

        message_id, timestamp = await app.db.write_one(insert)
        if message_id is None:
            raise await self._refusal(session_id, parent_message_id)
        return {
            "success": True,
            "message_id": message_id,
            "session_id": session_id,
            "timestamp": timestamp,
            "visibility": level,
            "parent_message_id": parent_message_id,
        }

    async def _refusal(self, session_id: str, parent_message_id: int | None) -> ScsError:
        """Why the insert matched nothing (asked only on that rare path)."""
        state = await self.app.db.lookup(session_state, session_id)
        if state == "missing":
            return not_found("session", session_id, "create_session first, or check the id")
        if state == "closed":
            return ScsError(
                ErrorCode.SESSION_CLOSED,
                f"session {session_id} is closed; it takes no new messages",
                "create a new session to continue",
            )
        return validation_error(
            f"parent_message_id {parent_message_id} is not a message of session {session_id}",
            "reply to a message of the same session that you can see, or omit parent_message_id",
        )

    async def page(
        self,
        identity: Identity,
        session_id: str,
        *,
        limit: int = 50,
        offset: int = 0,
        after_id: int | None = None,
        visibility_filter: str | None = None,
        metadata_filter: object = None,
    ) -> dict[str, Any]:
        """Messages the caller may see, oldest first: after ``after_id``, then skip ``offset``.

        With a ``metadata_filter`` only matching messages count (``total_count`` stays
        the number of messages the caller may see).
        """
        check_limit(limit)
        wanted = check_metadata_filter(metadata_filter)
        if not 0 <= offset < 2**63:
            raise validation_error(f"offset must be 0 or more, not {offset}")
        if after_id is not None and not 0 <= after_id < 2**63:
            raise validation_error(f"after_id must be a message id (0 or more), not {after_id}")
        visible = narrow_sql(identity, visibility_filter, "m")
        check_session_id(session_id)
        total: int | None = None
        rows: list[Row] = []
        async with self.app.db.read() as r:
            if wanted is None:
                counted = await store.count_and_page(
                    r,
                    session_id,
                    visible,
                    after_id=after_id,
                    limit=first_batch(limit + 1),
                    offset=offset,
                )
                if counted is not None:
                    total, first = counted
                    rows = await within_bytes(
                        lambda cursor, n: store.page(
                            r, session_id, visible, after_id=cursor, limit=n, offset=0
                        ),
                        limit + 1,
                        self.settings.max_response_bytes,
                        first=first,
                    )
            else:
                total = await store.count_visible(r, session_id, visible)
                if total is not None:
                    rows = await _matching(
                        r, session_id, visible, after_id, limit + 1, offset, wanted
                    )
        if total is None:
            raise not_found("session", session_id, "list_sessions shows the sessions there are")
        messages = [message_object(row) for row in rows[:limit]]
        kept = fitting(messages, self.settings.max_response_bytes)
        has_more = len(rows) > limit or kept < len(messages)
        messages = messages[:kept]
        return {
            "success": True,
            "session_id": session_id,
            "messages": messages,
            "count": len(messages),
            "total_count": total,
            "has_more": has_more,
            "next_cursor": messages[-1]["id"] if has_more else None,
        }

    async def recent(
        self, r: Executor, identity: Identity, session_id: str, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        """The newest ``limit`` messages the caller may see (oldest first) and their total."""
        visible = visible_sql(identity, "m")
        counted = await store.count_and_newest(r, session_id, visible, first_batch(limit))
        if counted is None:
            return [], 0
        total, first = counted
        rows = await within_bytes(  # newest first
            lambda cursor, n: store.newest(r, session_id, visible, n, before_id=cursor),
            limit,
            self.settings.max_response_bytes,
            first=first,
        )
        newest_first = [message_object(row) for row in rows]
        kept = fitting(newest_first, self.settings.max_response_bytes)  # keep the newest
        return newest_first[:kept][::-1], total

    async def latest(self, identity: Identity, session_id: str, limit: int) -> dict[str, Any]:
        """For the messages resource: the newest ``limit`` visible messages, oldest first."""
        check_limit(limit)
        check_session_id(session_id)
        async with self.app.db.read() as r:
            if await session_state(r, session_id) == "missing":
                raise not_found("session", session_id)
            messages, total = await self.recent(r, identity, session_id, limit)
        return {
            "success": True,
            "session_id": session_id,
            "messages": messages,
            "count": len(messages),
            "total_count": total,
            "has_more": total > len(messages),
        }

    async def thread(self, identity: Identity, message_id: int) -> dict[str, Any]:
        """The root of the message's thread and every reply in it the caller may see."""
        if not 1 <= message_id < 2**63:
            raise not_found("message", message_id)
        visible = visible_sql(identity, "m")
        cap = self.settings.max_thread_messages
        async with self.app.db.read() as r:
            start = await store.get(r, message_id, visible)
            if start is None:
                raise not_found("message", message_id, "get_messages shows the ids you can see")
            root = await store.root_id(r, message_id)
            rows = await within_bytes(
                lambda cursor, n: store.thread(r, root, visible, n, after_id=cursor),
                cap + 1,
                self.settings.max_response_bytes,
            )
        messages = [message_object(row) for row in rows[:cap]]
        kept = fitting(messages, self.settings.max_response_bytes)
        truncated = len(rows) > cap or kept < len(messages)
        messages = messages[:kept]
        root_message = messages[0] if messages and messages[0]["id"] == root else None
        replies = messages[1:] if root_message is not None else messages
        return {
            "success": True,
            "session_id": start["session_id"],
            "message_id": message_id,
            "root_id": root,
            "root": root_message,
            "replies": replies,
            "count": len(messages),
            "truncated": truncated,
        }

    async def after(
        self, identity: Identity, session_id: str, after_id: int, limit: int
    ) -> list[dict[str, Any]]:
        """Up to ``limit`` messages the caller may see with an id above ``after_id``, oldest first."""
        async with self.app.db.read() as r:
            rows = await store.page(
                r, session_id, visible_sql(identity, "m"), after_id=after_id, limit=limit, offset=0
            )
        return [message_object(row) for row in rows]

    async def last_message_id(self) -> int:
        """The largest message id of every session (where "from now" starts)."""
        return await self.app.db.lookup(store.max_id)

    async def after_any(
        self, identity: Identity, after_id: int, session_ids: list[str] | None, limit: int
    ) -> list[dict[str, Any]]:
        """Visible messages above ``after_id`` in ``session_ids`` (None: all), oldest first."""
        async with self.app.db.read() as r:
            rows = await store.after_any(
                r, after_id, session_ids, visible_sql(identity, "m"), limit
            )
        return [message_object(row) for row in rows]

    async def visible_by_ids(self, identity: Identity, ids: list[int]) -> list[dict[str, Any]]:
        """Of the messages with these ids, those the caller may see (any order)."""
        async with self.app.db.read() as r:
            rows = await search_store.messages_by_id(r, ids, visible_sql(identity, "m"))
        return [message_object(row) for row in rows]

    async def by_id(self, message_id: int) -> dict[str, Any] | None:
        """One message whoever may see it: filter with ``visibility.can_see`` before showing it."""
        row = await self.app.db.lookup(store.by_id, message_id)
        return message_object(row) if row is not None else None

    async def unread_counts(self, identity: Identity, cursors: dict[str, int]) -> dict[str, int]:
        """Per session: messages from others the caller may see above its read cursor."""
        async with self.app.db.read() as r:
            return await store.count_after(
                r, cursors, visible_sql(identity, "m"), identity.agent_id
            )

    async def unread_anywhere(
        self, identity: Identity, cursors: dict[str, int], limit: int = 1000
    ) -> dict[str, int]:
        """Every session where the caller has unread messages: messages from others it
        may see above its cursor there (a session without a cursor: all of them); at
        most ``limit`` sessions, in session id order. Sessions with none are left out."""
        async with self.app.db.read() as r:
            return await store.count_unread_anywhere(
                r, cursors, visible_sql(identity, "m"), identity.agent_id, limit
            )

    async def wait(
        self,
        identity: Identity,
        session_id: str,
        after_id: int | None,
        timeout_s: float,
        limit: int,
        progress: Callable[[float, float], Awaitable[None]] | None,
    ) -> dict[str, Any]:
        """``wait_for_messages`` on one session: see ``waits.wait_until``."""
        check_limit(limit)
        check_session_id(session_id)
        settings = self.settings
        wakeups = self.app.services.get(Wakeups, needed_by="messaging")
        if await self.app.db.lookup(session_state, session_id) == "missing":
            raise not_found("session", session_id, "list_sessions shows the sessions there are")
        start = (
            after_id
            if after_id is not None
            else await self.app.db.lookup(store.last_id, session_id)
        )

        async def query() -> list[dict[str, Any]]:
            return await self.after(identity, session_id, start, limit)

        messages, timed_out = await wait_until(
            wakeups,
            identity.agent_id,
            ("session", session_id),
            query,
            timeout_s,
            progress,
            settings.wait_progress_s,
        )
        kept = fitting(messages, settings.max_response_bytes)
        messages = messages[: max(kept, 1)] if messages else []
        return {
            "success": True,
            "session_id": session_id,
            "messages": messages,
            "count": len(messages),
            "next_after_id": messages[-1]["id"] if messages else start,
            "timed_out": timed_out,
        }

    async def wait_inbox(
        self,
        identity: Identity,
        after_id: int | None,
        timeout_s: float,
        limit: int,
        progress: Callable[[float, float], Awaitable[None]] | None,
    ) -> dict[str, Any]:
        """``wait_for_messages`` without a session: the caller's inbox (the inbox plugin)."""
        check_limit(limit)
        source = self.app.services.find(InboxSource)
        if source is None:
            raise validation_error(
                "waiting without session_id waits on your inbox, and the inbox plugin is off",
                "give a session_id, or enable the inbox plugin",
            )
        start = after_id if after_id is not None else await source.last_id(identity)

        async def query() -> list[dict[str, Any]]:
            return await source.after(identity, start, limit)

        items, timed_out = await wait_until(
            self.app.services.get(Wakeups, needed_by="messaging"),
            identity.agent_id,
            ("agent", identity.agent_id),
            query,
            timeout_s,
            progress,
            self.settings.wait_progress_s,
        )
        return {
            "success": True,
            "session_id": None,
            "messages": items,
            "count": len(items),
            "next_after_id": items[-1]["id"] if items else start,
            "timed_out": timed_out,
        }


class InboxSource(Protocol):
    """What ``wait_for_messages`` without ``session_id`` waits on (the inbox plugin's
    entries, woken by changes it emits with a key ``("agent", agent_id)``)."""

    async def last_id(self, identity: Identity) -> int:
        """The largest inbox entry id of the caller (0 when none)."""
        ...

    async def after(self, identity: Identity, after_id: int, limit: int) -> list[dict[str, Any]]:
        """Up to ``limit`` entries of the caller above ``after_id``, oldest first."""
        ...


PAGE_BATCH = 50  # rows read at a time by within_bytes


def first_batch(limit: int) -> int:
    """How many rows ``within_bytes`` reads first for ``limit`` rows."""
    return min(PAGE_BATCH, limit)


async def within_bytes(
    read: Callable[[int | None, int], Awaitable[list[Row]]],
    limit: int,
    budget: int,
    first: list[Row] | None = None,
) -> list[Row]:
    """Up to ``limit`` rows from ``read(cursor, n)`` (the next ``n`` rows past the row
    whose id is ``cursor``; ``None``: from the start), read ``PAGE_BATCH`` at a time and
    stopping once their contents alone pass ``budget`` bytes: 1,001 messages of 100k
    characters would otherwise be read and decoded (~100 MB in memory per call in
    flight) for an answer cut to 256 KiB. The row that passes the budget is kept, so
    the caller's ``fitting`` cut still reports more. ``first``: the first batch, read
    already (``first_batch(limit)`` rows from the start)."""
    rows: list[Row] = []
    chars = 0
    cursor: int | None = None
    while len(rows) < limit:
        wanted = first_batch(limit - len(rows))
        batch = first if first is not None and cursor is None else await read(cursor, wanted)
        rows.extend(batch)
        chars += sum(len(row["content"]) for row in batch)
        if len(batch) < wanted or chars > budget:
            break
        cursor = int(batch[-1]["id"])
    return rows
