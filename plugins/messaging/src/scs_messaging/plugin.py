"""Hook implementations of the messaging plugin."""

from __future__ import annotations

from scs import hookimpl


@hookimpl
def scs_requires() -> list[str]:
    return ["sessions"]
