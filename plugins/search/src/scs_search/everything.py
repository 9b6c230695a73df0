"""The corpus of every session (``corpus.py``), kept current and within the memory budget.

Built in the background, started by the first search without ``session_id`` (until it
is ready such searches go session by session, within their time budget: reading a
million messages takes most of a minute); afterwards only the sessions the
change feed named since the last search are checked (the same check as a session
index's: messages above the session's watermark, then its count up to the watermark;
a difference means a deletion: the session's rows are marked dead and read again).
Anything the feed cannot say precisely (a payload without a session, a feed that could
not be read) makes the next search check every session; one check lists the sessions
that have messages and syncs each.

The corpus shares the index budgets (``SCS_SEARCH_INDEX_MAX_BYTES`` / ``_MESSAGES``)
with the session indexes: they get what it leaves (``IndexCache.reserve``). When it
outgrows them it is dropped for good (until a restart) and searches without
``session_id`` go session by session again, within their time budget.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from scs_messaging import api as messaging
from scs_server import ScsError

from scs_search.cache import add_rows, index_message
from scs_search.changes import MAX_PENDING_IDS, TOPICS

if TYPE_CHECKING:
    from collections.abc import Mapping

    from scs_server.storage import Change, Database, Row, Subscription

    from scs_search.cache import IndexCache
    from scs_search.corpus import Corpus

log = logging.getLogger("scs.search")
REBUILD_DEAD_SHARE = 0.25  # rebuild the corpus once this share of its rows is dead


class Named:
    """What the change feed named since the corpus's last check: per session the ids of
    added messages (None: check the session), or ``everything``."""

    def __init__(self) -> None:
        self.everything = True
        self.sessions: dict[str, set[int] | None] = {}

    def on_change(self, change: Change) -> None:
        """A change-feed subscriber (called on the event loop; cheap)."""
        payload = change.payload if isinstance(change.payload, dict) else {}
        session_id = payload.get("session_id")
        if not isinstance(session_id, str):
            self.everything = True
            return
        ident = payload.get("id")
        pending = self.sessions.setdefault(session_id, set())
        if (
            change.topic != messaging.TOPIC
            or not isinstance(ident, int)
            or pending is None
            or len(pending) >= MAX_PENDING_IDS
        ):
            self.sessions[session_id] = None
        else:
            pending.add(ident)

    def take(self) -> tuple[bool, dict[str, set[int] | None]]:
        """What was named so far; recording starts afresh."""
        taken = (self.everything, self.sessions)
        self.everything, self.sessions = False, {}
        return taken


class Everything:
    """The corpus of every session, or None when it does not fit the budgets."""

    def __init__(self, db: Database, cache: IndexCache) -> None:
        self.db = db
        self.cache = cache
        self.corpus: Corpus | None = None
        self.too_big = False
        self.named = Named()
        self._subscription: Subscription | None = None
        self._lock = asyncio.Lock()
        self._building: asyncio.Task[None] | None = None
        self.stats = {"builds": 0, "checks": 0, "session_checks": 0, "dropped": 0, "events": 0}

    async def follow(self) -> None:
        """Subscribe to the change feed; until then every search checks every session."""
        if self._subscription is None:
            self._subscription = await self.db.changes.subscribe(
                self.named.on_change, topics=TOPICS
            )

    def close(self) -> None:
        self.corpus = None
        if self._building is not None:
            self._building.cancel()
            self._building = None
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None

    async def fresh(self) -> Corpus | None:
        """The corpus, up to date with the database; None while it is being built (in
        the background: the first call starts it) or when it does not fit the budgets."""
        if self.too_big:
            return None
        corpus = self.corpus
        if corpus is not None and corpus.dead_rows > REBUILD_DEAD_SHARE * len(corpus):
            self.corpus = corpus = None  # rebuilt without its dead rows
            self.cache.reserve(0, 0)
        if corpus is None:
            self._start_build()
            return None
        async with self._lock:
            try:
                if self._subscription is None or not self.db.changes.live:
                    self.named.everything = True  # changes may be unseen: check them all
                else:
                    self.db.changes.poll()  # other processes' commits, delivered now
            except ScsError:
                self.named.everything = True
            everything, sessions = self.named.take()
            try:
                await self._bring_up_to_date(corpus, everything, sessions)
            except BaseException:
                self.named.everything = True  # the next search checks everything again
                raise
            self._account()
            return self.corpus

    def _start_build(self) -> None:
        if self._building is None or self._building.done():
            self._building = asyncio.get_running_loop().create_task(self._build())

    async def _build(self) -> None:
        """Read every session into a new corpus (a background task: searches without
        ``session_id`` go session by session until it is ready)."""
        from scs_search.corpus import Corpus  # numpy: paid on the first search

        async with self._lock:
            self.named.take()  # the build reads what is committed from now on
            corpus = Corpus(self.cache.max_chars)
            self.stats["builds"] += 1
            try:
                async with self.db.read() as r:
                    sessions = await messaging.session_ids(r)
                for session_id in sessions:
                    if not await self._sync(corpus, session_id):
                        return
            except Exception:
                log.exception("building the search corpus failed; retried at the next search")
                self.named.everything = True
                return
            corpus.compact()  # the build grew it by quarters: up to a fifth was empty
            self.corpus = corpus
            self._account()

    async def _bring_up_to_date(
        self, corpus: Corpus, everything: bool, sessions: dict[str, set[int] | None]
    ) -> None:
        if everything:
            async with self.db.read() as r:
                stale = await messaging.session_ids(r)
            for gone in set(corpus.parts) - set(stale):
                corpus.drop_session(gone)  # its messages are all gone
        else:
            stale = [
                session_id
                for session_id, pending in sessions.items()
                if pending is None
                or not all(corpus.holds_in(session_id, ident) for ident in pending)
            ]
        if stale:
            self.stats["checks"] += 1
        for session_id in stale:
            if not await self._sync(corpus, session_id):
                return  # too big: dropped

    async def _sync(self, corpus: Corpus, session_id: str) -> bool:
        """Bring one session's rows up to date; False when the corpus outgrew the budgets
        (it is then dropped)."""
        for _ in range(2):
            self.stats["session_checks"] += 1
            part = corpus.part(session_id)
            async with self.db.read() as r:
                async for rows in messaging.rows_after(r, session_id, part.synced_id):
                    await add_rows(rows, self.cache.max_chars, _add_rows, corpus, session_id)
                    if not self._fits(corpus):
                        self._give_up(corpus)
                        return False
                count = await messaging.count_upto(r, session_id, part.synced_id)
            if count == part.synced_rows:
                return True
            log.info("corpus rows of session %s are out of step; reading it again", session_id)
            corpus.drop_session(session_id)
            self.stats["dropped"] += 1
        self.named.sessions[session_id] = None  # changed twice while we read it: next time
        return True

    def _fits(self, corpus: Corpus) -> bool:
        if corpus.nbytes() > self.cache.max_bytes:
            corpus.vocabulary.drop_tables()  # a cache of the locality bound: the rows first
        return corpus.nbytes() <= self.cache.max_bytes and len(corpus) <= self.cache.max_messages

    def _give_up(self, corpus: Corpus) -> None:
        log.warning(
            "the search corpus of every session outgrew the index budgets at %d messages "
            "(SCS_SEARCH_INDEX_MAX_BYTES / _MESSAGES); searches without session_id go "
            "session by session",
            len(corpus),
        )
        self.too_big = True
        self.corpus = None
        self.cache.reserve(0, 0)

    def _account(self) -> None:
        """Hold the corpus's size in the index budgets (drop it if it no longer fits)."""
        corpus = self.corpus
        if corpus is None:
            return
        if not self._fits(corpus):
            self._give_up(corpus)
            return
        self.cache.reserve(corpus.nbytes(), len(corpus))

    def added(self, message: Mapping[str, Any]) -> None:
        """A ``message.added`` event: add it now if the corpus exists."""
        corpus, session_id = self.corpus, message.get("session_id")
        if corpus is None or not isinstance(session_id, str):
            return
        if corpus.add_session_event(session_id, message):
            self.stats["events"] += 1
            self._account()


def _add_rows(corpus: Corpus, session_id: str, rows: list[Row]) -> None:
    corpus.add_session_rows(session_id, [index_message(row) for row in rows])
