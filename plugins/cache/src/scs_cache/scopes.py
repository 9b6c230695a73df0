"""What a cached answer depends on, so that a change empties only the answers it can affect.

The change-feed topics are a contract between plugins (docs/architecture.md): sessions
emit ``{"session_id": id}``, messaging ``{"session_id": sid, "id": message_id}``, memory
``{"agent_id": id}`` (``None``: any agent, an expiry sweep), inbox ``{"agent_id": id, ...}``
(read cursors and inbox items: the ``unread`` of ``list_sessions``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Collection

    from scs_server import Identity
    from scs_server.storage import Change

CONVERSATION = frozenset({"sessions", "messages"})
MEMORY = frozenset({"memory"})
INBOX = "inbox"
TOPICS = ("sessions", "messages", "memory", INBOX)

# Reads of one session's conversation (scoped by their session_id argument when given)
# and of the caller's own memory; any other configured tool depends on every topic.
CONVERSATION_TOOLS = frozenset(
    {
        "get_messages",
        "get_session",
        "get_thread",
        "list_sessions",
        "search_context",
        "search_by_sender",
        "search_by_timerange",
    }
)
MEMORY_TOOLS = frozenset({"get_memory", "list_memory"})


@dataclass(frozen=True, slots=True)
class Scope:
    """The topics an answer depends on, narrowed to one session / one agent when known."""

    topics: frozenset[str]
    session_id: str | None = None  # None: the answer may span sessions
    agent_id: str | None = None  # None: the answer may span agents

    def affected_by(self, change: Change) -> bool:
        if change.topic not in self.topics:
            return False
        payload = change.payload if isinstance(change.payload, dict) else {}
        if change.topic in ("memory", INBOX):
            return _overlaps(self.agent_id, payload.get("agent_id"))
        if change.topic in CONVERSATION:
            return _overlaps(self.session_id, payload.get("session_id"))
        return True  # another plugin's topic: no finer contract to go by


def _overlaps(mine: str | None, changed: Any) -> bool:
    return mine is None or not isinstance(changed, str) or mine == changed


def tool_scope(
    name: str, arguments: dict[str, Any] | None, identity: Identity | None, every: Collection[str]
) -> Scope:
    """The scope of a tool's answer (``every``: all topics the cache follows)."""
    if name == "list_sessions":  # its unread counts follow the caller's read cursors
        return Scope(
            CONVERSATION | {INBOX}, agent_id=identity.agent_id if identity is not None else None
        )
    if name in CONVERSATION_TOOLS:
        session_id = (arguments or {}).get("session_id")
        return Scope(CONVERSATION, session_id if isinstance(session_id, str) else None)
    if name in MEMORY_TOOLS:
        if (arguments or {}).get("scope") == "shared":  # a session's, written by anyone
            return Scope(MEMORY)
        return Scope(MEMORY, agent_id=identity.agent_id if identity is not None else None)
    return Scope(frozenset(every))


def resource_scope(uri: str) -> Scope:
    """``session://{session_id}[/...]``: that session's conversation."""
    session_id = uri.removeprefix("session://").split("/", 1)[0]
    return Scope(CONVERSATION, session_id or None)
