"""What the search tools do, kept apart from their MCP declarations."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, Literal

from scs import ErrorCode, ScsError
from scs.budget import fitting
from scs.errors import not_found, validation_error
from scs.timestamps import iso_timestamp, parse_iso
from scs_messaging.messages import message_object
from scs_messaging.visibility import can_see, visible_sql
from scs_sessions.validation import check_session_id, check_unicode

from scs_search import store
from scs_search.cache import IndexCache
from scs_search.ranking import Hit, allowed_classes, rank
from scs_search.text import prepare, prepare_query, preview

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from scs import Identity
    from scs.app import App

    from scs_search.settings import SearchSettings

SERVICE = "search"
Scope = Literal["all", "public", "private"]
SCOPES: tuple[Scope, ...] = ("all", "public", "private")
MAX_QUERY_CHARS = 1000
MAX_RESULTS = 100
MAX_SENDER_RESULTS = 100
MAX_TIMERANGE_RESULTS = 200
INLINE_ROWS = 2000  # rank small sessions on the event loop; a thread costs more


def relevance(score: float) -> str:
    return "high" if score >= 80 else "medium" if score >= 60 else "low"


def check_query(query: str, threshold: float, limit: int, scope: str) -> None:
    check_unicode(query, "query")  # a lone surrogate would break the JSON answer echoing it
    if not query.strip():
        raise validation_error("query must not be empty or blank", "send the words to look for")
    if len(query) > MAX_QUERY_CHARS:
        raise validation_error(
            f"query is {len(query)} characters; the limit is {MAX_QUERY_CHARS}",
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


def scope_rule(identity: Identity, scope: Scope) -> Callable[[Mapping[str, Any]], bool]:
    """Messaging's visibility rule, narrowed by ``search_scope`` (it can never widen)."""

    def may_see(message: Mapping[str, Any]) -> bool:
        if not can_see(identity, message):
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
        self.cache = IndexCache(app.db, settings.index_max_messages)

    async def context(
        self,
        identity: Identity,
        session_id: str | None,
        query: str,
        threshold: float = 60.0,
        limit: int = 10,
        search_metadata: bool = True,
        scope: Scope = "all",
    ) -> dict[str, Any]:
        """Rank the visible messages of one session (or all) by ``partial_ratio``."""
        started = time.perf_counter()
        check_query(query, threshold, limit, scope)
        prepared = prepare_query(query)
        may_see = scope_rule(identity, scope)
        if session_id is not None:
            sessions = [check_session_id(session_id)]
        else:
            async with self.app.db.read() as conn:
                sessions = await store.session_ids(conn)
        found: list[Hit] = []
        for sid in sessions:
            try:
                index = await self.cache.fresh(sid)
            except ScsError as error:
                if session_id is None and error.code == ErrorCode.NOT_FOUND:
                    continue  # deleted while we looked: nothing to find there
                raise
            snapshot = index.snapshot()
            allowed = allowed_classes(snapshot.class_keys, may_see)
            args = (snapshot, prepared, threshold, limit, allowed)
            if snapshot.n <= INLINE_ROWS:
                hits = rank(*args, with_metadata=search_metadata)
            else:
                hits = await asyncio.to_thread(
                    rank, *args, with_metadata=search_metadata, workers=self.settings.workers
                )
            found.extend(hits)
        found.sort(key=lambda hit: (-hit.score, -hit.message_id))
        found = found[:limit]
        results = await self._results(identity, prepared, found, may_see, search_metadata)
        return {
            "success": True,
            "session_id": session_id,
            "query": query,
            "threshold": threshold,
            "search_scope": scope,
            "search_metadata": search_metadata,
            "results": results,
            "count": len(results),
            "search_time_ms": round((time.perf_counter() - started) * 1000, 2),
        }

    async def _results(
        self,
        identity: Identity,
        query: str,
        found: list[Hit],
        may_see: Callable[[Mapping[str, Any]], bool],
        search_metadata: bool,
    ) -> list[dict[str, Any]]:
        ids = [hit.message_id for hit in found]
        async with self.app.db.read() as conn:
            rows = await store.messages_by_id(conn, ids, visible_sql(identity, "m"))
        by_id = {row["id"]: message_object(row) for row in rows}
        results = []
        for hit in found:
            message = by_id.get(hit.message_id)
            if message is None or not may_see(message):  # deleted since, or never ours
                continue
            text, base = prepare(message["sender"], message["content"], message["metadata"])
            shown = preview(
                query,
                text if search_metadata else text[:base],
                message["sender"],
                message["content"],
                self.settings.preview_chars,
            )
            results.append(
                {
                    "message": message,
                    "score": round(hit.score, 2),
                    "match_preview": shown,
                    "relevance": relevance(hit.score),
                }
            )
        return results

    async def by_sender(
        self, identity: Identity, session_id: str, sender: str, limit: int = 20
    ) -> dict[str, Any]:
        """The sender's messages the caller may see, newest first."""
        check_limit(limit, MAX_SENDER_RESULTS)
        check_unicode(sender, "sender")
        check_session_id(session_id)
        async with self.app.db.read() as conn:
            if not await store.session_exists(conn, session_id):
                raise not_found("session", session_id)
            rows = await store.by_sender(
                conn, session_id, sender, visible_sql(identity, "m"), limit + 1
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
        async with self.app.db.read() as conn:
            if not await store.session_exists(conn, session_id):
                raise not_found("session", session_id)
            rows = await store.by_timerange(
                conn, session_id, start, end, visible_sql(identity, "m"), limit + 1
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
        budget: int = self.app.config("messaging").max_response_bytes
        kept = fitting(messages, budget)
        return messages[:kept], len(rows) > limit or kept < len(messages)
