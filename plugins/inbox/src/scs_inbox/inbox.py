"""What the inbox tools do, kept apart from their MCP declarations.

Direct messages are visible only to their sender and recipients: admins have no tool
path to other agents' direct messages (they are not in ``messages``, so search,
``get_messages`` and the session resources never see them either).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from scs_messaging.api import Messaging, visible_sql
from scs_server.auth.tokens import AGENT_ID_RE
from scs_server.errors import not_found, validation_error
from scs_server.timestamps import utc_now
from scs_server.validation import check_session_id, clean_text
from scs_sessions.api import Sessions

from scs_inbox import store

if TYPE_CHECKING:
    from collections.abc import Mapping

    from scs_server import Identity
    from scs_server.app import App

    from scs_inbox.settings import InboxSettings

IMPORTANCE = ("low", "normal", "high", "urgent")
MAX_LIMIT = 1000
MAX_IDS = 1000
MAX_UNREAD_SESSIONS = 1000  # get_unread(): sessions with unread messages listed at most
MENTION = re.compile(r"(?<![\w@.])@([A-Za-z0-9][A-Za-z0-9_.:@-]{0,99})")


def item_object(row: Mapping[str, Any]) -> dict[str, Any]:
    """An inbox item as every tool and the /events stream shows it."""
    return {
        "id": row["id"],
        "kind": row["kind"],
        "sender": row["sender"],
        "sender_type": row["sender_type"],
        "subject": row["subject"],
        "content": row["content"],
        "session_id": row["session_id"],
        "message_id": row["source_message_id"],
        "importance": row["importance"],
        "ack_required": bool(row["ack_required"]),
        "reply_to": row["reply_to"],
        "created_at": row["created_at"],
        "read_at": row["read_at"],
        "acked_at": row["acked_at"],
    }


def mentioned(content: str, limit: int) -> list[str]:
    """Agent ids named as ``@agent_id`` in ``content`` (first ``limit``, no repeats)."""
    found: list[str] = []
    for match in MENTION.finditer(content):
        agent_id = match.group(1).rstrip(".:-@")
        if agent_id and agent_id not in found and AGENT_ID_RE.match(agent_id):
            found.append(agent_id)
            if len(found) >= limit:
                break
    return found


def _check_ids(ids: list[int], field: str) -> list[int]:
    if not ids:
        raise validation_error(f"{field} must name at least one message id")
    if len(ids) > MAX_IDS:
        raise validation_error(f"{field} may name at most {MAX_IDS} ids, not {len(ids)}")
    for value in ids:
        if not 1 <= value < 2**63:
            raise validation_error(f"{field}: {value} is not a message id")
    return sorted(set(ids))


class Inbox:
    """Inbox operations over the app's database."""

    def __init__(self, app: App) -> None:
        self.app = app

    @property
    def settings(self) -> InboxSettings:
        settings: InboxSettings = self.app.config("inbox")
        return settings

    @property
    def messaging(self) -> Messaging:
        return self.app.services.get(Messaging, needed_by="inbox")

    async def send(
        self,
        identity: Identity,
        to: list[str] | str,
        content: str,
        subject: str | None,
        session_id: str | None,
        importance: str,
        ack_required: bool,
        reply_to: int | None,
    ) -> dict[str, Any]:
        """Check everything, then one transaction: the message and its recipients."""
        settings = self.settings
        recipients = self._recipients(to)
        if importance not in IMPORTANCE:
            raise validation_error(
                f"unknown importance {importance!r}", f"use one of: {', '.join(IMPORTANCE)}"
            )
        messaging_settings = self.messaging.settings
        content = clean_text(content, "content", messaging_settings.max_message_length)
        if subject is not None:
            subject = clean_text(subject, "subject", settings.max_subject_length)
        if session_id is not None:
            check_session_id(session_id)
            sessions = self.app.services.get(Sessions, needed_by="inbox")
            if await sessions.get(session_id) is None:
                raise not_found("session", session_id, "omit session_id or check it")
        if reply_to is not None and (
            not 1 <= reply_to < 2**63
            or not await self.app.db.lookup(store.readable_by, reply_to, identity.agent_id)
        ):
            raise not_found("direct message", reply_to, "reply to a message you sent or received")
        now = utc_now()
        db = self.app.db

        async def insert(tx: Any) -> int:
            await store.lock_inbox(tx, db.dialect)
            return await store.insert_item(
                tx,
                recipients,
                created_at=now,
                kind="direct",
                sender=identity.agent_id,
                sender_type=identity.agent_type,
                visibility="direct",
                subject=subject,
                content=content,
                session_id=session_id,
                importance=importance,
                ack_required=ack_required,
                reply_to=reply_to,
            )

        message_id = await db.write(insert)
        return {
            "success": True,
            "message_id": message_id,
            "to": recipients,
            "created_at": now,
        }

    def _recipients(self, to: list[str] | str) -> list[str]:
        names = [to] if isinstance(to, str) else list(to)
        recipients: list[str] = []
        for name in names:
            if not isinstance(name, str) or not AGENT_ID_RE.match(name):
                raise validation_error(
                    f"{str(name)[:40]!r} is not an agent id",
                    "use the ids agents authenticated with",
                )
            if name not in recipients:
                recipients.append(name)
        if not recipients:
            raise validation_error("to must name at least one agent")
        if len(recipients) > self.settings.max_recipients:
            raise validation_error(
                f"at most {self.settings.max_recipients} recipients, not {len(recipients)}",
                "raise SCS_INBOX_MAX_RECIPIENTS or send in batches",
            )
        return recipients

    async def add_mentions(self, message: Mapping[str, Any]) -> int | None:
        """The inbox item for ``@agent_id`` mentions in a new session message, if any.

        A private message is seen by its sender (and admins) only: its mentions are not
        recorded. Other levels are recorded and shown only to recipients who may see
        the message (the visibility rule is applied when the inbox is read).
        """
        if message["visibility"] == "private" or self.settings.max_mentions == 0:
            return None
        names = [
            name
            for name in mentioned(message["content"], self.settings.max_mentions)
            if name != message["sender"]
        ]
        if not names:
            return None
        db = self.app.db

        async def insert(tx: Any) -> int:
            await store.lock_inbox(tx, db.dialect)
            return await store.insert_item(
                tx,
                names,
                created_at=message["timestamp"],
                kind="mention",
                sender=message["sender"],
                sender_type=message["sender_type"],
                visibility=message["visibility"],
                content=message["content"],
                session_id=message["session_id"],
                source_message_id=message["id"],
            )

        return await db.write(insert)

    async def fetch(
        self,
        identity: Identity,
        *,
        unread_only: bool,
        after_id: int | None,
        limit: int,
        mark_read: bool,
    ) -> dict[str, Any]:
        if not 1 <= limit <= MAX_LIMIT:
            raise validation_error(f"limit must be between 1 and {MAX_LIMIT}, not {limit}")
        async with self.app.db.read() as r:
            rows = await store.items(
                r,
                identity.agent_id,
                visible_sql(identity, "im"),
                after_id=after_id,
                unread_only=unread_only,
                limit=limit + 1,
            )
        has_more = len(rows) > limit
        shown = [item_object(row) for row in rows[:limit]]
        if mark_read and shown:
            now = utc_now()
            ids = [item["id"] for item in shown]
            await self.app.db.write(store.mark_items, identity.agent_id, ids, now, ack=False)
            for item in shown:
                item["read_at"] = item["read_at"] or now
        return {
            "success": True,
            "messages": shown,
            "count": len(shown),
            "has_more": has_more,
            "next_after_id": max((item["id"] for item in shown), default=after_id),
        }

    async def acknowledge(self, identity: Identity, message_ids: list[int]) -> dict[str, Any]:
        """Acknowledge (and mark read) items the caller received; again changes nothing."""
        ids = _check_ids(message_ids, "message_ids")
        own = await self.app.db.lookup(store.own_ids, identity.agent_id, ids)
        missing = [i for i in ids if i not in own]
        if missing:
            raise not_found("direct message", missing[0], "acknowledge messages of your inbox")
        changed = await self.app.db.write(
            store.mark_items, identity.agent_id, ids, utc_now(), ack=True
        )
        return {"success": True, "acknowledged": ids, "changed": changed}

    async def receipts(self, identity: Identity, message_id: int) -> dict[str, Any]:
        """Per recipient read_at/acked_at, for the sender only (others: not found)."""
        if not 1 <= message_id < 2**63:
            raise not_found("direct message", message_id)
        async with self.app.db.read() as r:
            sent = await store.sent_item(r, message_id, identity.agent_id)
            if sent is None or sent["kind"] != "direct":
                raise not_found(
                    "direct message", message_id, "receipts are shown to the sender only"
                )
            rows = await store.receipts(r, message_id)
        return {
            "success": True,
            "message_id": message_id,
            "receipts": [dict(row) for row in rows],
        }

    async def mark_read(self, identity: Identity, session_id: str, up_to: int) -> dict[str, Any]:
        check_session_id(session_id)
        if not 0 <= up_to < 2**63:
            raise validation_error(f"up_to_message_id must be a message id, not {up_to}")
        sessions = self.app.services.get(Sessions, needed_by="inbox")
        if await sessions.get(session_id) is None:
            raise not_found("session", session_id, "list_sessions shows the sessions there are")
        now = utc_now()

        async def move(tx: Any) -> int:
            cursor = await store.set_cursor(tx, identity.agent_id, session_id, up_to, now)
            await store.mark_mentions_read(tx, identity.agent_id, session_id, cursor, now)
            return cursor

        cursor = await self.app.db.write(move)
        unread = await self.messaging.unread_counts(identity, {session_id: cursor})
        return {
            "success": True,
            "session_id": session_id,
            "last_read_id": cursor,
            "unread": unread.get(session_id, 0),
        }

    async def unread(self, identity: Identity, session_id: str | None) -> dict[str, Any]:
        """Unread counts: the given session, or every session with a read cursor or with
        unread messages (a never-read session: every visible message from others); the
        inbox."""
        if session_id is not None:
            check_session_id(session_id)
            sessions = self.app.services.get(Sessions, needed_by="inbox")
            if await sessions.get(session_id) is None:
                raise not_found("session", session_id)
        async with self.app.db.read() as r:
            cursors = await store.cursors(
                r, identity.agent_id, [session_id] if session_id is not None else None
            )
            inbox = await store.unread_count(r, identity.agent_id, visible_sql(identity, "im"))
        if session_id is not None:
            cursors.setdefault(session_id, 0)
            counts = await self.messaging.unread_counts(identity, cursors)
            listed = [session_id]
        else:
            counts = await self.messaging.unread_anywhere(identity, cursors, MAX_UNREAD_SESSIONS)
            listed = sorted(set(cursors) | set(counts))
        return {
            "success": True,
            "sessions": [
                {
                    "session_id": sid,
                    "last_read_id": cursors.get(sid, 0),
                    "unread": counts.get(sid, 0),
                }
                for sid in listed
            ],
            "inbox": inbox,
        }

    async def session_unread(self, identity: Identity, session_ids: list[str]) -> dict[str, int]:
        """For ``list_sessions``: unread per session (no cursor: every visible message
        from others)."""
        if identity.anonymous or not session_ids:
            return {}
        cursors = await self.app.db.lookup(store.cursors, identity.agent_id, session_ids)
        return await self.messaging.unread_counts(
            identity, {sid: cursors.get(sid, 0) for sid in session_ids}
        )

    async def unread_inbox(self, identity: Identity) -> int:
        """Unread items the caller may see (the pending notice's count; one query)."""
        return await self.app.db.lookup(
            store.unread_count, identity.agent_id, visible_sql(identity, "im")
        )

    # the messaging plugin's InboxSource: wait_for_messages without a session
    async def last_id(self, identity: Identity) -> int:
        return await self.app.db.lookup(store.last_item_id, identity.agent_id)

    async def after(self, identity: Identity, after_id: int, limit: int) -> list[dict[str, Any]]:
        async with self.app.db.read() as r:
            rows = await store.items(
                r,
                identity.agent_id,
                visible_sql(identity, "im"),
                after_id=after_id,
                unread_only=False,
                limit=limit,
            )
        return [item_object(row) for row in rows]
