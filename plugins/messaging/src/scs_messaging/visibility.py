"""The one visibility rule. Every read path (get, thread, resources, search...) uses it.

- ``public``: every agent with read.
- ``private``: the sender only.
- ``agent_only``: agents of the sender's agent type.
- ``admin_only``: admins (writing one needs admin too).
Admins see everything; the anonymous reader (``SCS_ALLOW_ANONYMOUS_READ``) sees public only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from scs_server.errors import validation_error

if TYPE_CHECKING:
    from collections.abc import Mapping

    from scs_server import Identity

Visibility = Literal["public", "private", "agent_only", "admin_only"]
LEVELS: tuple[Visibility, ...] = ("public", "private", "agent_only", "admin_only")


def visible_sql(identity: Identity, alias: str = "m") -> tuple[str, list[Any]]:
    """SQL condition (and its parameters) selecting the messages ``identity`` may see."""
    if identity.is_admin:
        return "1 = 1", []
    if identity.anonymous:
        return f"{alias}.visibility = 'public'", []
    return (
        f"({alias}.visibility = 'public'"
        f" OR ({alias}.visibility = 'private' AND {alias}.sender = ?)"
        f" OR ({alias}.visibility = 'agent_only' AND {alias}.sender_type = ?))",
        [identity.agent_id, identity.agent_type],
    )


def can_see(identity: Identity, message: Mapping[str, Any]) -> bool:
    """The same rule in Python, for messages already in memory (indexes, events)."""
    if identity.is_admin:
        return True
    visibility = message["visibility"]
    if visibility == "public":
        return True
    if identity.anonymous:
        return False
    if visibility == "private":
        return bool(message["sender"] == identity.agent_id)
    if visibility == "agent_only":
        return bool(message["sender_type"] == identity.agent_type)
    return False


def check_level(value: str, field: str = "visibility") -> Visibility:
    if value not in LEVELS:
        raise validation_error(f"unknown {field} {value!r}", f"use one of: {', '.join(LEVELS)}")
    return value


def narrow_sql(
    identity: Identity, visibility_filter: str | None, alias: str = "m"
) -> tuple[str, list[Any]]:
    """The visibility condition, narrowed by an optional filter (it can never widen).

    A filter naming a level the caller can never see (``admin_only`` for a
    non-admin) is refused as a validation error rather than answered empty.
    """
    condition, params = visible_sql(identity, alias)
    if visibility_filter is None:
        return condition, params
    level = check_level(visibility_filter, "visibility_filter")
    if level == "admin_only" and not identity.is_admin:
        raise validation_error(
            "visibility_filter 'admin_only' is only available to admins",
            "filter on public, private or agent_only",
        )
    return f"({condition}) AND {alias}.visibility = ?", [*params, level]
