"""The response cache: answers keyed by (tool, arguments, caller class), bounded in bytes
and time. An event drops the answers its change can affect (``scs_cache.topics``); a
change the server was not told about (another process, an unannounced write) empties it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cachetools import TTLCache

from scs_cache.topics import ANY

if TYPE_CHECKING:
    from collections.abc import Callable

    from scs import Identity
    from scs.events import Event

    from scs_cache.topics import Tag

Key = tuple[str, str, tuple[str, ...]]
# (SQLite's data version as this process's writer sees it, writes not announced by an event)
Changes = tuple[int | None, int]


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
    tags: tuple[Tag, ...]


def _size(entry: Entry) -> int:
    return entry.size


class ResponseCache:
    """Cached answers plus the bookkeeping that keeps them fresh.

    ``epoch`` moves on every invalidation; an answer computed while it moved (or while
    the database changed) is not stored, so a read racing a write is never cached.
    ``changes`` tells what the server was not told about by events (``Changes``).
    """

    def __init__(
        self,
        changes: Callable[[], Changes],
        *,
        max_bytes: int,
        max_entry_bytes: int,
        ttl_seconds: float,
    ) -> None:
        self.changes = changes
        self.max_entry_bytes = max_entry_bytes
        self.entries: TTLCache[Key, Entry] = TTLCache(
            maxsize=max_bytes, ttl=ttl_seconds, getsizeof=_size
        )
        self.by_tag: dict[str, dict[str | None, set[Key]]] = {}
        self.indexed = 0  # keys in by_tag, stale ones included
        self.seen: Changes | None = None
        self.epoch = 0
        self.hits = 0
        self.misses = 0
        self.stores = 0
        self.invalidations = 0
        self.dropped = 0
        self.not_stored = 0

    def invalidate(self) -> None:
        """Forget everything (a change we cannot name)."""
        self.epoch += 1
        self.invalidations += 1
        self.entries.clear()
        self.by_tag.clear()
        self.indexed = 0

    def changed(self, event: Event) -> None:
        """Drop the answers ``event`` can affect; keep the others."""
        self.epoch += 1
        keys: set[Key] = set()
        for topic in (event.topic, ANY):
            scopes = self.by_tag.get(topic)
            if not scopes:
                continue
            if topic == ANY or event.session_id is None:
                unindexed = list(scopes.values())
                del self.by_tag[topic]
            else:
                unindexed = [scopes.pop(event.session_id, set()), scopes.pop(None, set())]
            for scoped in unindexed:
                self.indexed -= len(scoped)
                keys |= scoped
        for key in keys:
            if self.entries.pop(key, None) is not None:
                self.dropped += 1

    def refresh(self) -> Changes | None:
        """Empty the cache if the database changed unannounced (or that is unknown)."""
        current = self.changes()
        if current[0] is None or current != self.seen:
            if self.entries:
                self.invalidate()
            else:
                self.epoch += 1
            self.seen = current if current[0] is not None else None
        return self.seen

    def lookup(self, key: Key) -> Any | None:
        """A fresh answer for ``key``, or None. Always checks the data version first."""
        self.refresh()
        entry = self.entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        self.hits += 1
        return entry.value

    def begin(self) -> tuple[int, Changes | None]:
        """Remember the state before computing an answer."""
        return self.epoch, self.seen

    def store(
        self,
        key: Key,
        value: Any,
        size: int,
        tags: tuple[Tag, ...],
        started: tuple[int, Changes | None],
    ) -> bool:
        """Keep ``value`` unless the database may have changed while it was computed."""
        current = self.refresh()
        if current is None or started != (self.epoch, current) or size > self.max_entry_bytes:
            self.not_stored += 1
            return False
        self.entries[key] = Entry(value, size, tags)
        self._index(key, tags)
        self.stores += 1
        return True

    def _index(self, key: Key, tags: tuple[Tag, ...]) -> None:
        for topic, session in tags:
            self.by_tag.setdefault(topic, {}).setdefault(session, set()).add(key)
        self.indexed += len(tags)
        # entries that expired or were evicted leave keys behind: rebuild now and then
        if self.indexed > 4 * len(self.entries) + 1024:
            self.by_tag.clear()
            self.indexed = 0
            for kept, entry in list(self.entries.items()):
                for topic, session in entry.tags:
                    self.by_tag.setdefault(topic, {}).setdefault(session, set()).add(kept)
                self.indexed += len(entry.tags)

    def stats(self) -> dict[str, Any]:
        """The cache's figures (the ``scs_stats`` hook hands them to monitoring)."""
        looked_up = self.hits + self.misses
        return {
            "hits": self.hits,
            "misses": self.misses,
            "hit_ratio": round(self.hits / looked_up, 4) if looked_up else 0.0,
            "stores": self.stores,
            "not_stored": self.not_stored,
            "invalidations": self.invalidations,
            "dropped": self.dropped,
            "entries": len(self.entries),
            "bytes": int(self.entries.currsize),
            "max_bytes": int(self.entries.maxsize),
        }
