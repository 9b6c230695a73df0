"""Domain events: emitted after commit, fanned out through the ``scs_event`` hook."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    """Something that happened: ``name`` like ``message.added``, ``data`` its facts."""

    name: str
    data: dict[str, Any] = field(default_factory=dict)
    source: str = ""
