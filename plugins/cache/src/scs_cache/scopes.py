"""What a cached answer depends on, so that a change empties only the answers it can affect.

The change-feed topics are a contract between plugins (docs/architecture.md): sessions
emit ``{"session_id": id}``, messaging ``{"session_id": sid, "id": message_id}``, memory
``{"agent_id": id}`` (``None``: any agent, an expiry sweep), inbox ``{"agent_id": id, ...}``
(read cursors and inbox items: the ``unread`` of ``list_sessions``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable

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

# per topic, the payload key (and the Scope field) naming the one session / agent a
# change is about, as the topics' contract (module docstring) says
NARROWED_BY = {
    **dict.fromkeys(CONVERSATION, "session_id"),
    **dict.fromkeys(MEMORY, "agent_id"),
    INBOX: "agent_id",
}
K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class Scope:
    """The topics an answer depends on, narrowed to one session / one agent when known."""

    topics: frozenset[str]
    session_id: str | None = None  # None: the answer may span sessions
    agent_id: str | None = None  # None: the answer may span agents

    def narrowed(self, topic: str) -> str | None:
        """The one session / agent this answer follows on ``topic``; None: all of them."""
        field = NARROWED_BY.get(topic)  # None: another plugin's topic, no finer contract
        return None if field is None else getattr(self, field)

    def affected_by(self, change: Change) -> bool:
        if change.topic not in self.topics:
            return False
        mine, changed = self.narrowed(change.topic), changed_value(change)
        return mine is None or changed is None or mine == changed


def changed_value(change: Change) -> str | None:
    """The session (conversation topics) or agent (memory, inbox) a change is about;
    None when it names none (any may be affected) or its topic has no such contract."""
    field = NARROWED_BY.get(change.topic)
    payload = change.payload if isinstance(change.payload, dict) else {}
    value = payload.get(field) if field is not None else None
    return value if isinstance(value, str) else None


class ScopeIndex(Generic[K]):
    """Keys filed by topic and by the session / agent their scope follows there, so that
    a change visits only the keys it may affect instead of every cached answer.

    A key leaves it only through ``discard`` or ``rebuild``: one whose entry left the
    cache some other way (expiry, eviction) stays until then, so ``candidates`` is a
    superset (the caller checks each against its entry).
    """

    def __init__(self) -> None:
        self._keys: dict[str, dict[str | None, set[K]]] = {}
        self.filed = 0  # additions since the last rebuild (an upper bound of its size)

    def add(self, key: K, scope: Scope) -> None:
        for topic in scope.topics:
            self._keys.setdefault(topic, {}).setdefault(scope.narrowed(topic), set()).add(key)
        self.filed += 1

    def discard(self, key: K, scope: Scope) -> None:
        for topic in scope.topics:
            by_value, value = self._keys.get(topic, {}), scope.narrowed(topic)
            keys = by_value.get(value)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del by_value[value]

    def candidates(self, change: Change) -> set[K]:
        """Every key whose scope ``change`` may affect (and perhaps a few stale ones)."""
        by_value = self._keys.get(change.topic)
        if not by_value:
            return set()
        changed = changed_value(change)
        if changed is None:
            return set().union(*by_value.values())
        return by_value.get(None, set()) | by_value.get(changed, set())

    def rebuild(self, entries: Iterable[tuple[K, Scope]]) -> None:
        """File exactly ``entries`` (drops keys whose entries left the cache)."""
        self._keys.clear()
        self.filed = 0
        for key, scope in entries:
            self.add(key, scope)


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
