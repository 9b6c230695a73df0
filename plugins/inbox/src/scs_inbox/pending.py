"""The pending notice: ``"pending": {"inbox": n}`` on successful tool results.

Counts live in memory per agent (and per reader kind, since the visibility rule
narrows mentions). Each is loaded once, lazily, and dropped when the change feed says
the agent's inbox changed (topic ``inbox``, from any process or replica), so a call
costs a dict lookup, and a database read only after a change.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from fastmcp.tools.base import ToolResult
from mcp.types import TextContent
from scs_server import current_identity
from scs_server.middleware import INNER_ORDER, DirectMiddleware

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from fastmcp.server.middleware import CallNext, MiddlewareContext
    from scs_server import Identity
    from scs_server.storage import Change

# After auth and the rate limiter, outside the cache (300): a cached answer gets the
# notice of now, and the notice is never cached.
PENDING_ORDER = INNER_ORDER - 20
ReaderKey = tuple[str, bool, bool]
MAX_AGENTS = 100_000


def reader_key(identity: Identity) -> ReaderKey:
    return (identity.agent_type, identity.is_admin, identity.anonymous)


class PendingCounts:
    """Unread inbox counts per agent, kept from the change feed."""

    def __init__(self, load: Callable[[Identity], Awaitable[int]]) -> None:
        self._load = load
        self.counts: dict[str, dict[ReaderKey, int]] = {}
        self.generation: dict[str, int] = {}
        self.resyncs = 0
        self.loads = 0

    def on_change(self, change: Change) -> None:
        if change.gap:  # changes were missed: every count is reloaded, loads under way kept out
            self.counts.clear()
            self.resyncs += 1
            return
        payload = change.payload
        agent_id = payload.get("agent_id") if isinstance(payload, dict) else None
        if isinstance(agent_id, str):
            self.counts.pop(agent_id, None)
            self.generation[agent_id] = self.generation.get(agent_id, 0) + 1

    async def get(self, identity: Identity) -> int:
        agent_id = identity.agent_id
        known = self.counts.get(agent_id)
        key = reader_key(identity)
        if known is not None and key in known:
            return known[key]
        generation = (self.generation.get(agent_id, 0), self.resyncs)
        count = await self._load(identity)
        self.loads += 1
        # a change that arrived during the load may not be in ``count``: do not keep it
        if (self.generation.get(agent_id, 0), self.resyncs) == generation:
            if len(self.counts) >= MAX_AGENTS:
                self.counts.clear()
            self.counts.setdefault(agent_id, {})[key] = count
        return count


class PendingNotice(DirectMiddleware):
    """Adds the pending notice to successful tool results of agents with unread items."""

    order = PENDING_ORDER

    def __init__(self, counts: PendingCounts) -> None:
        self.counts = counts

    async def on_call_tool(
        self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]
    ) -> Any:
        result = await call_next(context)
        identity = current_identity()
        if identity is None or identity.anonymous or not isinstance(result, ToolResult):
            return result
        body = result.structured_content
        if result.is_error or not isinstance(body, dict) or body.get("success") is not True:
            return result
        pending = await self.counts.get(identity)
        if not pending:
            return result
        return with_notice(result, body, {"inbox": pending})


def with_notice(result: ToolResult, body: dict[str, Any], pending: dict[str, int]) -> ToolResult:
    """``result`` with ``"pending"`` added to its structured content and its JSON text.

    ``ToolResult(structured_content=...)`` would encode the whole answer twice and decode
    it once (its text, and a round trip that proves it JSON), which made a call with
    something pending x1.10-1.17 of one without (bench/realtime_bench.py). The answer is
    JSON already: the notice is spliced into the end of its text instead.
    """
    notice = json.dumps(pending, separators=(",", ":"))
    content = result.content
    if len(content) == 1 and isinstance(content[0], TextContent):
        text = content[0].text.rstrip()
        if text.startswith("{") and text.endswith("}"):
            comma = "," if text[1:-1].strip() else ""
            spliced = TextContent(type="text", text=f'{text[:-1]}{comma}"pending":{notice}}}')
            return ToolResult.model_construct(
                content=[spliced],
                structured_content={**body, "pending": pending},
                meta=result.meta,
                is_error=False,
            )
    return ToolResult(structured_content={**body, "pending": pending}, meta=result.meta)
