"""The response cache: answers keyed by (tool, arguments, caller class), bounded in bytes
and time, dropped when a committed change (the core's change feed) may affect them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cachetools import TTLCache

from scs_cache.scopes import ScopeIndex

if TYPE_CHECKING:
    from scs_server import Identity
    from scs_server.storage import Change, ChangeFeed, Subscription

    from scs_cache.scopes import Scope

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


@dataclass(frozen=True, slots=True)
class Entry:
    value: Any
    size: int
    scope: Scope


def _size(entry: Entry) -> int:
    return entry.size


class ResponseCache:
    """Cached answers plus the bookkeeping that keeps them fresh.

    ``on_change`` (a change-feed subscriber) drops the entries a change can affect and
    moves ``epoch``; an answer computed while the epoch moved is not stored, so a read
    racing a write is never cached. Before every lookup and store ``feed.poll()``
    delivers what other processes committed (SQLite: at once, exact; PostgreSQL: NOTIFY
    arrives within ~1-2 ms of the commit).
    """

    def __init__(
        self,
        feed: ChangeFeed,
        *,
        max_bytes: int,
        max_entry_bytes: int,
        ttl_seconds: float,
    ) -> None:
        self.feed = feed
        self.subscription: Subscription | None = None  # the plugin's, while it runs
        self.max_entry_bytes = max_entry_bytes
        self.entries: TTLCache[Key, Entry] = TTLCache(
            maxsize=max_bytes, ttl=ttl_seconds, getsizeof=_size
        )
        self.index: ScopeIndex[Key] = ScopeIndex()  # what each change may affect
        self.epoch = 0
        self.hits = 0
        self.misses = 0
        self.stores = 0
        self.invalidations = 0
        self.checked = 0  # entries that changes looked at
        self.not_stored = 0

    def on_change(self, change: Change) -> None:
        """Drop every entry ``change`` may affect (called by the change feed); all of
        them on a gap (changes were missed: anything may have changed)."""
        if change.gap:
            self.invalidate()
            return
        self.epoch += 1
        candidates = self.index.candidates(change)
        self.checked += len(candidates)
        for key in candidates:
            entry = self.entries.get(key)  # None: it expired or was evicted meanwhile
            if entry is not None and entry.scope.affected_by(change):
                del self.entries[key]
                self.index.discard(key, entry.scope)
                self.invalidations += 1

    def invalidate(self) -> None:
        """Drop everything (the feed could not be read: anything may have changed)."""
        self.epoch += 1
        self.invalidations += len(self.entries)
        self.entries.clear()
        self.index.rebuild(())

    def refresh(self) -> bool:
        """Take in other processes' changes; False when that failed or the feed's watcher
        is not watching (PostgreSQL: reconnecting, so changes may be unseen): the cache is
        then emptied, and nothing is stored until it watches again."""
        try:
            self.feed.poll()
        except Exception:
            self.invalidate()
            return False
        if not self.feed.live:
            self.invalidate()
            return False
        return True

    def lookup(self, key: Key) -> Any | None:
        """A fresh answer for ``key``, or None. Always takes in pending changes first."""
        self.refresh()
        entry = self.entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        self.hits += 1
        return entry.value

    def begin(self) -> int:
        """Remember the state before computing an answer."""
        return self.epoch

    def store(self, key: Key, value: Any, size: int, scope: Scope, started: int) -> bool:
        """Keep ``value`` unless the database may have changed while it was computed."""
        fresh = self.refresh()
        if not fresh or started != self.epoch or size > self.max_entry_bytes:
            self.not_stored += 1
            return False
        self.entries[key] = Entry(value, size, scope)
        self.index.add(key, scope)
        if self.index.filed > 2 * len(self.entries) + 64:  # drop expired and evicted keys
            self.index.rebuild((key, entry.scope) for key, entry in self.entries.items())
        self.stores += 1
        return True

    def stats(self) -> dict[str, Any]:
        """The figures the plugin reports through ``scs_stats`` (monitoring shows them)."""
        looked_up = self.hits + self.misses
        return {
            "hits": self.hits,
            "misses": self.misses,
            "hit_ratio": round(self.hits / looked_up, 4) if looked_up else 0.0,
            "stores": self.stores,
            "not_stored": self.not_stored,
            "invalidations": self.invalidations,
            "checked": self.checked,
            "entries": len(self.entries),
            "bytes": int(self.entries.currsize),
            "max_bytes": int(self.entries.maxsize),
        }
