"""Serving cached answers to read tools (after auth and the rate limiter)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastmcp.resources.base import ResourceResult
from fastmcp.tools.base import ToolResult
from scs_server import current_identity
from scs_server.middleware import INNER_ORDER, DirectMiddleware

from scs_cache.entries import caller_class, canonical
from scs_cache.scopes import resource_scope, tool_scope

if TYPE_CHECKING:
    from collections.abc import Collection

    from fastmcp.server.middleware import CallNext, MiddlewareContext

    from scs_cache.entries import ResponseCache

# After auth (200, the caller is known) and the rate limiter (250, a hit is still a call).
CACHE_ORDER = INNER_ORDER
ENTRY_OVERHEAD = 512


def tool_result_size(result: ToolResult) -> int:
    """Bytes held, roughly: the text blocks, and the structured copy of the same JSON."""
    text = sum(len(getattr(block, "text", "") or "") for block in result.content)
    return ENTRY_OVERHEAD + text * (2 if result.structured_content is not None else 1)


def resource_result_size(result: ResourceResult) -> int:
    return ENTRY_OVERHEAD + sum(len(item.content) for item in result.contents)


class CacheMiddleware(DirectMiddleware):
    """Answers the configured read tools (and session resources) from the cache when fresh."""

    order = CACHE_ORDER

    def __init__(
        self, cache: ResponseCache, tools: set[str], resources: bool, topics: Collection[str]
    ) -> None:
        self.cache = cache
        self.tools = tools
        self.resources = resources
        self.topics = tuple(topics)

    async def on_call_tool(
        self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]
    ) -> Any:
        name = context.message.name
        if name not in self.tools:
            return await call_next(context)
        arguments = context.message.arguments
        identity = current_identity()
        key = (name, canonical(arguments), caller_class(identity))
        cached = self.cache.lookup(key)
        if cached is not None:
            return cached
        started = self.cache.begin()
        result = await call_next(context)
        if isinstance(result, ToolResult) and not result.is_error:
            scope = tool_scope(name, arguments, identity, self.topics)
            self.cache.store(key, result, tool_result_size(result), scope, started)
        return result

    async def on_read_resource(
        self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]
    ) -> Any:
        uri = str(context.message.uri)
        if not self.resources or not uri.startswith("session://"):
            return await call_next(context)
        key = ("resource", uri, caller_class(current_identity()))
        cached = self.cache.lookup(key)
        if cached is not None:
            return cached
        started = self.cache.begin()
        result = await call_next(context)
        if isinstance(result, ResourceResult):
            scope = resource_scope(uri)
            self.cache.store(key, result, resource_result_size(result), scope, started)
        return result
