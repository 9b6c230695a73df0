"""What the search tools do, kept apart from their MCP declarations."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from scs_messaging import api as messaging
from scs_messaging.api import can_see, check_metadata_filter, message_object, visible_sql
from scs_server import ErrorCode, ScsError
from scs_server.budget import fitting
from scs_server.cpu import run_cpu
from scs_server.errors import not_found, validation_error
from scs_server.timestamps import iso_timestamp, parse_iso
from scs_server.validation import check_session_id, check_unicode
from scs_sessions.api import session_state

from scs_search.budget import CHUNK_WORK, INLINE_WORK, SESSION_WORK, Budget, text_work
from scs_search.cache import IndexCache
from scs_search.everything import Everything
from scs_search.scoring import Query, make_query
from scs_search.text import prepare, prepare_query, preview

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Mapping

    import numpy as np
    import numpy.typing as npt
    from scs_server import Identity
    from scs_server.app import App

    from scs_search.corpus import Corpus
    from scs_search.index import Snapshot
    from scs_search.ranking import Best, Hit
    from scs_search.settings import SearchSettings

    # rank()'s arguments: snapshot, query, threshold, limit, allowed classes, wanted rows
    Job = tuple[Snapshot, Query, float, int, npt.NDArray[np.bool_], npt.NDArray[np.bool_] | None]

Scope = Literal["all", "public", "private"]
SCOPES: tuple[Scope, ...] = ("all", "public", "private")
MAX_RESULTS = 100
MAX_SENDER_RESULTS = 100
MAX_TIMERANGE_RESULTS = 200
YIELD_EVERY_S = 0.002  # a search of many small sessions lets the loop run this often
CUT_HINT = (
    "the results stopped at the response byte budget (SCS_MESSAGING_MAX_RESPONSE_BYTES): "
    "has_more is true; ask for a smaller limit or a narrower search"
)
TRUNCATED_HINT = (
    "the search ran out of its time budget (SCS_SEARCH_BUDGET_MS): results are the best "
    "of the messages ranked so far; pass session_id or a shorter, more distinctive query"
)


def relevance(score: float) -> str:
    return "high" if score >= 80 else "medium" if score >= 60 else "low"


def check_query(query: str, threshold: float, limit: int, scope: str, max_chars: int) -> None:
    check_unicode(query, "query")  # a lone surrogate would break the JSON answer echoing it
    if not query.strip():
        raise validation_error("query must not be empty or blank", "send the words to look for")
    if len(query) > max_chars:
        raise validation_error(
            f"query is {len(query)} characters; the limit is {max_chars}",
            "search for a shorter, distinctive part of the text",
        )
    if not 0 <= threshold <= 100:
        raise validation_error(
            f"fuzzy_threshold must be between 0 and 100, not {threshold}",
            "60 finds typos; 100 finds exact substrings only",
        )
    check_limit(limit, MAX_RESULTS)
    if scope not in SCOPES:
        raise validation_error(f"unknown search_scope {scope!r}", "use all, public or private")


def check_limit(limit: int, highest: int) -> None:
    if not 1 <= limit <= highest:
        raise validation_error(f"limit must be between 1 and {highest}, not {limit}")


@dataclass(frozen=True)
class Filters:
    """What narrows a search before ranking: metadata pairs, sender, time range (µs)."""

    metadata: dict[str, Any] | None = None
    sender: str | None = None
    since: int | None = None
    until: int | None = None

    @property
    def by_row(self) -> bool:
        return bool(self.metadata) or self.since is not None or self.until is not None


def check_filters(
    metadata_filter: object, sender: str | None, since: str | None, until: str | None
) -> Filters:
    """The filters of a search, validated (typed errors)."""
    from scs_search.index import micros  # numpy: only when filtering by time

    if sender is not None:
        check_unicode(sender, "sender")
    start = micros(parse_iso(since, "since")) if since is not None else None
    end = micros(parse_iso(until, "until")) if until is not None else None
    if start is not None and end is not None and start > end:
        raise validation_error("since is after until", "swap them, or widen the range")
    return Filters(check_metadata_filter(metadata_filter), sender, start, end)


def scope_rule(
    identity: Identity, scope: Scope, sender: str | None = None
) -> Callable[[Mapping[str, Any]], bool]:
    """Messaging's visibility rule, narrowed by ``search_scope`` and ``sender`` (it can
    never widen)."""

    def may_see(message: Mapping[str, Any]) -> bool:
        if not can_see(identity, message):
            return False
        if sender is not None and message["sender"] != sender:
            return False
        if scope == "public":
            return bool(message["visibility"] == "public")
        if scope == "private":
            return bool(
                message["visibility"] == "private"
                and not identity.anonymous
                and message["sender"] == identity.agent_id
            )
        return True

    return may_see


class Search:
    """Fuzzy search, by sender and by time, over what the caller may see."""

    def __init__(self, app: App) -> None:
        self.app = app
        settings: SearchSettings = app.config("search")
        self.settings = settings
        self.cache = IndexCache(
            app.db,
            settings.index_max_messages,
            settings.index_max_bytes,
            settings.max_scored_chars,
        )
        self.everything = Everything(app.db, self.cache)
        # searches that rank at once; the others wait here instead of taking the CPUs
        self._slots = asyncio.Semaphore(settings.concurrency)
        self.stats = {
            "inline": 0,
            "threaded": 0,
            "truncated": 0,
            "waited": 0,
            "refused": 0,
            "tightened": 0,  # rows given the locality bound (``ranking``)
        }
        self.ranking = 0  # rankings in progress (a loop task can only see threaded ones)

    async def context(
        self,
        identity: Identity,
        session_id: str | None,
        query: str,
        threshold: float = 60.0,
        limit: int = 10,
        search_metadata: bool = True,
        scope: Scope = "all",
        *,
        metadata_filter: object = None,
        sender: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> dict[str, Any]:
        """Rank the visible messages of one session (or all) by relevance (``scoring``)."""
        started = time.perf_counter()
        check_query(query, threshold, limit, scope, self.settings.max_query_chars)
        filters = check_filters(metadata_filter, sender, since, until)
        prepared = make_query(prepare_query(query))
        may_see = scope_rule(identity, scope, filters.sender)
        named = [check_session_id(session_id)] if session_id is not None else None
        budget = Budget(self.settings.budget_ms)
        async with self._slot():  # a queued search holds no database connection
            corpus = await self.everything.fresh() if named is None else None
            if corpus is not None:
                found = await self._rank_corpus(
                    corpus, prepared, threshold, limit, may_see, search_metadata, budget, filters
                )
            else:
                if named is not None:
                    sessions = named
                else:
                    async with self.app.db.read() as r:
                        sessions = await messaging.session_ids(r)
                found = await self._rank_sessions(
                    sessions,
                    session_id is not None,
                    prepared,
                    threshold,
                    limit,
                    may_see,
                    search_metadata,
                    budget,
                    filters,
                )
            results, cut = await self._results(
                identity, prepared.text, found, may_see, search_metadata
            )
        hints = [TRUNCATED_HINT] if budget.truncated else []
        if cut:
            hints.append(CUT_HINT)
        return {
            "success": True,
            "session_id": session_id,
            "query": query,
            "threshold": threshold,
            "search_scope": scope,
            "search_metadata": search_metadata,
            "filters": {
                "metadata_filter": filters.metadata,
                "sender": sender,
                "since": since,
                "until": until,
            },
            "results": results,
            "count": len(results),
            "truncated": budget.truncated,
            "has_more": cut,
            "search_time_ms": round((time.perf_counter() - started) * 1000, 2),
        } | ({"hint": "; ".join(hints)} if hints else {})

    @contextlib.asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        """A ranking slot, waited for at most ``queue_timeout_ms``, else a retryable refusal."""
        if self._slots.locked():
            self.stats["waited"] += 1
        try:
            async with asyncio.timeout(self.settings.queue_timeout_ms / 1000):
                await self._slots.acquire()
        except TimeoutError:
            self.stats["refused"] += 1
            raise ScsError(
                ErrorCode.RATE_LIMITED,
                "too many searches are running; this one waited "
                f"{self.settings.queue_timeout_ms} ms for its turn",
                "retry in a few seconds; nothing was done",
                retryable=True,
                retry_after=2,
            ) from None
        try:
            yield
        finally:
            self._slots.release()

    async def _rank_corpus(
        self,
        corpus: Corpus,
        query: Query,
        threshold: float,
        limit: int,
        may_see: Callable[[Mapping[str, Any]], bool],
        search_metadata: bool,
        budget: Budget,
        filters: Filters,
    ) -> list[Hit]:
        """The best ``limit`` hits over every session: one ranking of the corpus (its
        dead rows, and the rows the filters leave out, are not candidates)."""
        from scs_search.ranking import Best, allowed_classes, estimated_work

        budget.start()
        snapshot = corpus.snapshot()
        allowed = allowed_classes(snapshot.class_keys, may_see)
        rows = (
            corpus.rows_matching(snapshot.n, filters.metadata, filters.since, filters.until)
            if filters.by_row
            else None
        )
        live = corpus.live(snapshot.n)
        if live is not None:
            rows = live if rows is None else rows & live
        found = Best(limit)
        work = SESSION_WORK + estimated_work(snapshot, query, search_metadata)
        await self._rank(
            [(snapshot, query, threshold, limit, allowed, rows)],
            work,
            search_metadata,
            budget,
            found,
        )
        if budget.truncated:
            self.stats["truncated"] += 1
        return found.hits

    async def _rank_sessions(
        self,
        sessions: list[str],
        named: bool,
        query: Query,
        threshold: float,
        limit: int,
        may_see: Callable[[Mapping[str, Any]], bool],
        search_metadata: bool,
        budget: Budget,
        filters: Filters,
    ) -> list[Hit]:
        """The best ``limit`` hits over the sessions, within one budget (its clock starts
        when the first index is ready), best first. Sessions are ranked in batches of
        about ``CHUNK_WORK``: a batch of tiny work ranks on the event loop, any other in a
        worker thread. The k-th best score so far is the bar of every later session.
        """
        from scs_search.ranking import Best, allowed_classes, estimated_work

        found = Best(limit)
        batch: list[Job] = []
        work = 0.0
        resumed = time.monotonic()
        for position, sid in enumerate(sessions):
            if position and budget.spent():
                budget.truncated = True
                break
            if time.monotonic() - resumed > YIELD_EVERY_S:
                await asyncio.sleep(0)  # cached sessions are checked without any await
                resumed = time.monotonic()
            try:
                index = await self.cache.fresh(sid, resident=named)
            except ScsError as error:
                if not named and error.code == ErrorCode.NOT_FOUND:
                    continue  # deleted while we looked: nothing to find there
                raise
            budget.start()
            snapshot = index.snapshot()
            allowed = allowed_classes(snapshot.class_keys, may_see)
            rows = (
                index.rows_matching(snapshot.n, filters.metadata, filters.since, filters.until)
                if filters.by_row
                else None
            )
            batch.append((snapshot, query, threshold, limit, allowed, rows))
            work += SESSION_WORK + estimated_work(snapshot, query, search_metadata)
            if work >= CHUNK_WORK:
                await self._rank(batch, work, search_metadata, budget, found)
                batch, work = [], 0.0
                if budget.truncated:
                    break
        if batch and (not budget.truncated or not budget.chunks):  # at least one chunk
            await self._rank(batch, work, search_metadata, budget, found)
        if budget.truncated:
            self.stats["truncated"] += 1
        return found.hits

    async def _rank(
        self, batch: list[Job], work: float, search_metadata: bool, budget: Budget, best: Best
    ) -> None:
        """Rank a batch of sessions into ``best``: on the event loop when tiny, else in a
        thread."""
        self.ranking += 1
        try:
            if work <= INLINE_WORK:
                self.stats["inline"] += 1
                return self._rank_batch(batch, search_metadata, budget, best)
            self.stats["threaded"] += 1
            try:
                return await run_cpu(self._rank_batch, batch, search_metadata, budget, best)
            except asyncio.CancelledError:
                budget.stop()  # the thread ends at its next chunk
                raise
        finally:
            self.ranking -= 1

    def _rank_batch(
        self, batch: list[Job], search_metadata: bool, budget: Budget, best: Best
    ) -> None:
        from scs_search.ranking import rank

        stats: dict[str, int] = {}
        for position, (snapshot, query, threshold, limit, allowed, rows) in enumerate(batch):
            if position and budget.spent():
                budget.truncated = True
                break
            best.add(
                rank(
                    snapshot,
                    query,
                    threshold,
                    limit,
                    allowed,
                    with_metadata=search_metadata,
                    workers=self.settings.workers,
                    stats=stats,
                    budget=budget,
                    rows_wanted=rows,
                    floor=best.floor,
                    floor_id=best.floor_id,
                )
            )
            self.stats["tightened"] += stats.pop("tightened", 0)
            if budget.truncated:
                break

    async def _results(
        self,
        identity: Identity,
        query: str,
        found: list[Hit],
        may_see: Callable[[Mapping[str, Any]], bool],
        search_metadata: bool,
    ) -> tuple[list[dict[str, Any]], bool]:
        """The answer's results and whether the response byte budget cut some off
        (messaging's ``max_response_bytes``: big answers would also cost the event loop
        their serialisation)."""
        ids = [hit.message_id for hit in found]
        async with self.app.db.read() as r:
            rows = await messaging.messages_by_id(r, ids, visible_sql(identity, "m"))
        by_id = {row["id"]: message_object(row) for row in rows}
        shown = [
            (hit, by_id[hit.message_id])
            for hit in found
            if hit.message_id in by_id and may_see(by_id[hit.message_id])
        ]  # a missing one was deleted since, or was never ours
        kept = fitting([message for _, message in shown], self._response_bytes())
        shown, cut = shown[:kept], kept < len(shown)
        messages = [message for _, message in shown]
        cap = self.settings.max_scored_chars
        work = sum(
            text_work(min(cap, len(m["content"]) + len(m["sender"]) + 1), len(query))
            for m in messages
        )
        if work <= INLINE_WORK:
            previews = self._previews(query, messages, search_metadata)
        else:
            previews = await run_cpu(self._previews, query, messages, search_metadata)
        return [
            {
                "message": message,
                "score": round(hit.score, 2),
                "match_preview": piece,
                "relevance": relevance(hit.score),
            }
            for (hit, message), piece in zip(shown, previews, strict=True)
        ], cut

    def _response_bytes(self) -> int:
        budget: int = self.app.config("messaging").max_response_bytes
        return budget

    def _previews(
        self, query: str, messages: list[dict[str, Any]], search_metadata: bool
    ) -> list[str]:
        """The ``match_preview`` of each message (RapidFuzz alignment: CPU work)."""
        pieces = []
        for message in messages:
            text, base = prepare(
                message["sender"],
                message["content"],
                message["metadata"],
                self.settings.max_scored_chars,
            )
            pieces.append(
                preview(
                    query,
                    text if search_metadata else text[:base],
                    message["sender"],
                    message["content"],
                    self.settings.preview_chars,
                )
            )
        return pieces

    async def by_sender(
        self, identity: Identity, session_id: str, sender: str, limit: int = 20
    ) -> dict[str, Any]:
        """The sender's messages the caller may see, newest first."""
        check_limit(limit, MAX_SENDER_RESULTS)
        check_unicode(sender, "sender")
        check_session_id(session_id)
        async with self.app.db.read() as r:
            if await session_state(r, session_id) == "missing":
                raise not_found("session", session_id)
            rows = await messaging.by_sender(
                r, session_id, sender, visible_sql(identity, "m"), limit + 1
            )
        messages, has_more = self._within_budget(rows, limit)
        return {
            "success": True,
            "session_id": session_id,
            "sender": sender,
            "messages": messages,
            "count": len(messages),
            "has_more": has_more,
        }

    async def by_timerange(
        self,
        identity: Identity,
        session_id: str,
        start_time: str,
        end_time: str,
        limit: int = 50,
    ) -> dict[str, Any]:
        """Messages the caller may see stamped from ``start_time`` to ``end_time`` inclusive."""
        check_limit(limit, MAX_TIMERANGE_RESULTS)
        start = iso_timestamp(parse_iso(start_time, "start_time"))
        end = iso_timestamp(parse_iso(end_time, "end_time"))
        if start > end:
            raise validation_error("start_time is after end_time", "swap them, or widen the range")
        check_session_id(session_id)
        async with self.app.db.read() as r:
            if await session_state(r, session_id) == "missing":
                raise not_found("session", session_id)
            rows = await messaging.by_timerange(
                r, session_id, start, end, visible_sql(identity, "m"), limit + 1
            )
        messages, has_more = self._within_budget(rows, limit)
        return {
            "success": True,
            "session_id": session_id,
            "timerange": {"start": start, "end": end},
            "messages": messages,
            "count": len(messages),
            "has_more": has_more,
        }

    def _within_budget(self, rows: list[Any], limit: int) -> tuple[list[dict[str, Any]], bool]:
        """The first ``limit`` rows that fit messaging's response byte budget, and whether
        any were left out (``rows`` holds one more than ``limit`` when more match)."""
        messages = [message_object(row) for row in rows[:limit]]
        kept = fitting(messages, self._response_bytes())
        return messages[:kept], len(rows) > limit or kept < len(messages)
