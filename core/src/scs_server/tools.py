"""Helpers for plugin tools: declare what a tool needs, read its policy back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Requirement = Literal["none", "read", "write", "admin", "debug"]
RateClass = Literal["auth", "read", "write", "search", "admin"]

_PERM = "scs:perm:"
_RATE = "scs:rate:"
_DEFAULT_RATE: dict[str, RateClass] = {
    "none": "auth",
    "read": "read",
    "write": "write",
    "admin": "admin",
    "debug": "admin",
}


def requires(permission: Requirement, *, rate: RateClass | None = None) -> set[str]:
    """Tags for ``@mcp.tool(tags=requires("write"))``: the permission and the rate class.

    ``"none"`` marks a tool callable without a token (authenticate_agent).
    A tool without these tags needs ``read``. On a resource or resource template,
    ``requires("none")`` makes it readable without a token (every other resource
    needs a Bearer token).
    """
    return {_PERM + permission, _RATE + (rate or _DEFAULT_RATE[permission])}


@dataclass(frozen=True)
class ToolPolicy:
    """What calling a tool takes, and which plugin provides it."""

    name: str
    plugin: str
    permission: Requirement = "read"
    rate_class: RateClass = "read"
    text_only: bool = False  # answers without structuredContent (SCS_STRUCTURED_CONTENT=false)

    @classmethod
    def from_tags(
        cls, name: str, plugin: str, tags: set[str], *, text_only: bool = False
    ) -> ToolPolicy:
        permission = permission_of(tags)
        rate: RateClass | None = None
        for tag in tags:
            if tag.startswith(_RATE):
                rate = tag.removeprefix(_RATE)  # type: ignore[assignment]
        return cls(name, plugin, permission, rate or _DEFAULT_RATE[permission], text_only)


OPEN_OBJECT_SCHEMA: dict[str, Any] = {"type": "object", "additionalProperties": True}
"""The output schema FastMCP gives a tool returning ``dict[str, Any]``: it says no more
than "an object", yet obliges every result to carry its data twice (structured and as
JSON text). With ``SCS_STRUCTURED_CONTENT=false`` such tools declare none and answer in
text only; a tool with a schema of its own keeps it."""


def permission_of(tags: set[str]) -> Requirement:
    """The permission a component's tags declare (``read`` when they declare none)."""
    for tag in tags:
        if tag.startswith(_PERM):
            return tag.removeprefix(_PERM)  # type: ignore[return-value]
    return "read"
