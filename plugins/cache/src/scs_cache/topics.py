"""What each cached answer depends on, and what each event changes: (topic, session).

A topic is the first part of an event name (``message`` for ``message.added``). An
answer tagged ``(topic, session_id)`` is dropped by an event of that topic for that
session or for no particular session; one tagged ``(topic, None)`` by every event of
that topic. Answers of tools not listed here (a third-party tool in
``SCS_CACHE_TOOLS``) are tagged ``ANY``: every event drops them.
"""

from __future__ import annotations

from typing import Any

Tag = tuple[str, str | None]
ANY = "*"
EVERYTHING: tuple[Tag, ...] = ((ANY, None),)

SESSION = "session"
MESSAGE = "message"
MEMORY = "memory"

# Tools answering from one session (when given one) or from all of them.
_SESSION_READS = {
    "get_messages": (MESSAGE, SESSION),
    "get_session": (SESSION, MESSAGE),
    "search_context": (MESSAGE, SESSION),
    "search_by_sender": (MESSAGE, SESSION),
    "search_by_timerange": (MESSAGE, SESSION),
}
_GLOBAL_READS: dict[str, tuple[str, ...]] = {
    "get_thread": (MESSAGE, SESSION),
    "list_sessions": (SESSION,),
    "get_memory": (MEMORY,),
    "list_memory": (MEMORY,),
}


def tool_tags(name: str, arguments: dict[str, Any] | None) -> tuple[Tag, ...]:
    """The (topic, session) pairs the answer of tool ``name`` depends on."""
    if name in _SESSION_READS:
        session = (arguments or {}).get("session_id")
        scope = session if isinstance(session, str) and session else None
        return tuple((topic, scope) for topic in _SESSION_READS[name])
    if name in _GLOBAL_READS:
        return tuple((topic, None) for topic in _GLOBAL_READS[name])
    return EVERYTHING


def resource_tags(uri: str) -> tuple[Tag, ...]:
    """``session://<id>`` and ``session://<id>/messages/<n>`` depend on that session."""
    session = uri.removeprefix("session://").split("/", 1)[0]
    return ((SESSION, session or None), (MESSAGE, session or None))
