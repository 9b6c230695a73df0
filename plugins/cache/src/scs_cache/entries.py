"""The response cache: answers keyed by (tool, arguments, caller class), bounded in bytes
and time, emptied whenever the database may have changed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cachetools import TTLCache

if TYPE_CHECKING:
    from scs import Identity

    from scs_cache.version import DataVersion

Key = tuple[str, str, tuple[str, ...]]


def caller_class(identity: Identity | None) -> tuple[str, ...]:
    """Who may see what: by id, type and rights, for admins too.

    This is finer than the visibility rule needs (visibility.py decides by admin /
    anonymous / agent_id / agent_type), but some answers depend on who asks whatever
    the visibility (``search_scope=private``, "messages I sent"; memory is per agent), so
    admins are told apart by id as well; the permissions are included so that a change
    in them can never reuse an answer.
    """
    if identity is None:
        return ("none",)
    if identity.is_admin:
        return ("admin", identity.agent_id)
    if identity.anonymous:
        return ("anonymous",)
    return ("agent", identity.agent_id, identity.agent_type, ",".join(sorted(identity.permissions)))


def canonical(arguments: dict[str, Any] | None) -> str:
    return json.dumps(arguments or {}, sort_keys=True, separators=(",", ":"), default=str)


@dataclass(frozen=True)
class Entry:
    value: Any
    size: int


def _size(entry: Entry) -> int:
    return entry.size


class ResponseCache:
    """Cached answers plus the bookkeeping that keeps them fresh.

    ``epoch`` moves on every invalidation; an answer computed while it moved (or while
    the data version moved) is not stored, so a read racing a write is never cached.
    """

    def __init__(
        self,
        version: DataVersion,
        *,
        max_bytes: int,
        max_entry_bytes: int,
        ttl_seconds: float,
    ) -> None:
        self.version = version
        self.max_entry_bytes = max_entry_bytes
        self.entries: TTLCache[Key, Entry] = TTLCache(
            maxsize=max_bytes, ttl=ttl_seconds, getsizeof=_size
        )
        self.seen_version: int | None = None
        self.epoch = 0
        self.hits = 0
        self.misses = 0
        self.stores = 0
        self.invalidations = 0
        self.not_stored = 0

    def invalidate(self) -> None:
        self.epoch += 1
        self.invalidations += 1
        self.entries.clear()

    def refresh(self) -> int | None:
        """Read the data version; empty the cache if it moved (or cannot be read)."""
        current = self.version.read()
        if current is None or current != self.seen_version:
            if self.entries:
                self.invalidate()
            else:
                self.epoch += 1
            self.seen_version = current
        return current

    def lookup(self, key: Key) -> Any | None:
        """A fresh answer for ``key``, or None. Always checks the data version first."""
        self.refresh()
        entry = self.entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        self.hits += 1
        return entry.value

    def begin(self) -> tuple[int, int | None]:
        """Remember the state before computing an answer."""
        return self.epoch, self.seen_version

    def store(self, key: Key, value: Any, size: int, started: tuple[int, int | None]) -> bool:
        """Keep ``value`` unless the database may have changed while it was computed."""
        current = self.refresh()
        if current is None or started != (self.epoch, current) or size > self.max_entry_bytes:
            self.not_stored += 1
            return False
        self.entries[key] = Entry(value, size)
        self.stores += 1
        return True

    def stats(self) -> dict[str, Any]:
        """Read by the monitoring plugin (``app.services["cache"].stats()``)."""
        looked_up = self.hits + self.misses
        return {
            "hits": self.hits,
            "misses": self.misses,
            "hit_ratio": round(self.hits / looked_up, 4) if looked_up else 0.0,
            "stores": self.stores,
            "not_stored": self.not_stored,
            "invalidations": self.invalidations,
            "entries": len(self.entries),
            "bytes": int(self.entries.currsize),
            "max_bytes": int(self.entries.maxsize),
        }
