"""What the sessions tools and resources do, kept apart from their MCP declarations.

Other plugins reach sessions through ``app.services.get(Sessions, needed_by=...)``.
Messages are not ours: when messaging is enabled it provides a ``MessageReader``
(``app.services.provide(MessageReader, ...)``) and ``view`` uses it; without it a
session has no messages.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any, Protocol

import mcp_types
from scs_server import ErrorCode, ScsError
from scs_server.completions import MAX_VALUES as MAX_COMPLETIONS
from scs_server.errors import not_found
from scs_server.events import SESSION_CLOSED, SESSION_CREATED
from scs_server.paging import decode_cursor, encode_cursor
from scs_server.timestamps import utc_now
from scs_server.validation import check_session_id, check_unicode, clean_text

from scs_sessions import store
from scs_sessions.validation import decode_metadata, encode_metadata

if TYPE_CHECKING:
    from collections.abc import Mapping

    from scs_server import Identity
    from scs_server.app import App
    from scs_server.storage import Executor, OneStatement

    from scs_sessions.settings import SessionsSettings

RECENT_MESSAGES = 50
SOURCE = "sessions"


class MessageReader(Protocol):
    """What messaging offers sessions: the newest visible messages and their count."""

    async def recent(
        self, r: Executor, identity: Identity, session_id: str, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        """Up to ``limit`` newest messages ``identity`` may see (oldest first), and how many it may see."""
        ...


class UnreadCounter(Protocol):
    """Optional: when present, every ``list_sessions`` entry carries ``unread`` for the caller."""

    async def session_unread(self, identity: Identity, session_ids: list[str]) -> dict[str, int]:
        """Per session id: messages from others the caller may see and has not marked read."""
        ...


def new_session_id() -> str:
    return f"session_{secrets.token_hex(8)}"


def session_object(row: Mapping[str, Any]) -> dict[str, Any]:
    """A session as every tool, resource and event shows it."""
    return {
        "id": row["id"],
        "session_id": row["id"],
        "purpose": row["purpose"],
        "metadata": decode_metadata(row["metadata"]),
        "created_by": row["created_by"],
        "created_by_type": row["created_by_type"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "closed_at": row["closed_at"],
        "is_active": row["closed_at"] is None,
    }


class Sessions:
    """Session operations over the app's database."""

    def __init__(self, app: App) -> None:
        self.app = app

    @property
    def settings(self) -> SessionsSettings:
        settings: SessionsSettings = self.app.config("sessions")
        return settings

    async def get(self, session_id: str) -> dict[str, Any] | None:
        """The session object, or None when there is no such session."""
        try:
            check_session_id(session_id)
        except ScsError:
            return None
        row = await self.app.db.lookup(store.get, session_id)
        return session_object(row) if row is not None else None

    async def create(
        self, identity: Identity, purpose: str, metadata: dict[str, Any] | str | None
    ) -> dict[str, Any]:
        settings = self.settings
        purpose = clean_text(purpose, "purpose", settings.max_purpose_length)
        stored = encode_metadata(metadata, settings.max_metadata_size_kb)
        session_id = new_session_id()
        now = utc_now()
        session = {
            "id": session_id,
            "session_id": session_id,
            "purpose": purpose,
            "metadata": decode_metadata(stored),
            "created_by": identity.agent_id,
            "created_by_type": identity.agent_type,
            "created_at": now,
            "updated_at": now,
            "closed_at": None,
            "is_active": True,
        }

        async def insert(one: OneStatement) -> None:
            await store.insert(
                one,
                session_id=session_id,
                purpose=purpose,
                metadata=stored,
                created_by=identity.agent_id,
                created_by_type=identity.agent_type,
                created_at=now,
            )
            self.app.announce(one, SESSION_CREATED, SOURCE, session_id=session_id, session=session)

        await self.app.db.write_one(insert)
        return session

    async def view(
        self, identity: Identity, session_id: str, limit: int = RECENT_MESSAGES
    ) -> dict[str, Any]:
        """The session, the newest ``limit`` messages the caller may see, and counts."""
        check_session_id(session_id)
        reader = self.app.services.find(MessageReader)
        async with self.app.db.read() as r:
            row = await store.get(r, session_id)
            if row is None:
                raise not_found("session", session_id, "list_sessions shows the sessions there are")
            messages: list[dict[str, Any]] = []
            total = 0
            if reader is not None:
                messages, total = await reader.recent(r, identity, session_id, limit)
        return {
            "success": True,
            "session": session_object(row),
            "messages": messages,
            "message_count": len(messages),
            "total_count": total,
            "has_more": total > len(messages),
        }

    async def list_page(
        self,
        limit: int,
        cursor: str | None,
        include_closed: bool,
        identity: Identity | None = None,
    ) -> dict[str, Any]:
        before: tuple[str, str] | None = None
        if cursor:
            created_at, session_id = decode_cursor(cursor, 2, "list_sessions")
            before = (created_at, session_id)
        async with self.app.db.read() as r:
            rows = await store.page(
                r, limit=limit + 1, before=before, include_closed=include_closed
            )
        has_more = len(rows) > limit
        rows = rows[:limit]
        sessions = [session_object(row) for row in rows]
        counter = self.app.services.find(UnreadCounter)
        if counter is not None and identity is not None and not identity.anonymous:
            unread = await counter.session_unread(identity, [s["id"] for s in sessions])
            for session in sessions:
                session["unread"] = unread.get(session["id"], 0)
        return {
            "success": True,
            "sessions": sessions,
            "count": len(rows),
            "has_more": has_more,
            "next_cursor": encode_cursor(rows[-1]["created_at"], rows[-1]["id"])
            if has_more
            else None,
        }

    async def complete_ids(self, identity: Identity | None, typed: str) -> mcp_types.Completion:
        """Completion candidates for a session id: those starting with ``typed`` (any
        caller with a token may read every session, as ``list_sessions`` shows; without
        one, none)."""
        if identity is None:
            return mcp_types.Completion(values=[])
        try:
            check_unicode(typed, "session_id")
        except ScsError:  # no id holds such text (and PostgreSQL refuses NUL)
            return mcp_types.Completion(values=[])
        db = self.app.db
        async with db.read() as r:
            ids = await store.ids_from(r, db.dialect, typed, MAX_COMPLETIONS + 1)
        return mcp_types.Completion(
            values=ids[:MAX_COMPLETIONS], has_more=len(ids) > MAX_COMPLETIONS
        )

    async def close(self, identity: Identity, session_id: str) -> dict[str, Any]:
        """Close a session (its creator or an admin); closing a closed one changes nothing."""
        check_session_id(session_id)
        now = utc_now()
        async with self.app.db.transaction() as tx:
            row = await store.get(tx, session_id)
            if row is None:
                raise not_found("session", session_id)
            if row["created_by"] != identity.agent_id and not identity.is_admin:
                raise ScsError(
                    ErrorCode.AUTH_FORBIDDEN,
                    f"only the creator of session {session_id} or an admin may close it",
                    f"ask {row['created_by']} or an admin",
                )
            closed = await store.close(tx, session_id, now)
            if closed:
                self.app.announce(tx, SESSION_CLOSED, SOURCE, session_id=session_id)
            # PostgreSQL (read committed): a close that committed since our read wins
            closed_at = row["closed_at"] if closed or row["closed_at"] else None
            if not closed and closed_at is None:
                closed_at = await store.closed_at(tx, session_id)
        if not closed:
            return {
                "success": True,
                "session_id": session_id,
                "closed_at": closed_at,
                "already_closed": True,
            }
        return {
            "success": True,
            "session_id": session_id,
            "closed_at": now,
            "already_closed": False,
        }
