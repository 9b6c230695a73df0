"""Hook implementations of the cache plugin."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scs_server import hookimpl

from scs_cache.entries import ResponseCache
from scs_cache.middleware import CacheMiddleware
from scs_cache.scopes import TOPICS
from scs_cache.settings import CacheSettings

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from fastmcp.server.middleware import Middleware
    from scs_server.app import App


def topics(settings: CacheSettings) -> tuple[str, ...]:
    """The change-feed topics the cache follows."""
    return tuple(dict.fromkeys((*TOPICS, *settings.extra_topics)))


@hookimpl
def scs_settings() -> type[CacheSettings]:
    return CacheSettings


@hookimpl
def scs_register(app: App) -> None:
    settings: CacheSettings = app.config("cache")
    cache = ResponseCache(
        app.db.changes,
        max_bytes=settings.max_bytes,
        max_entry_bytes=settings.max_entry_bytes,
        ttl_seconds=settings.ttl_seconds,
    )
    app.services.provide(ResponseCache, cache, by="cache")


@hookimpl
def scs_middleware(app: App) -> Sequence[Middleware]:
    settings: CacheSettings = app.config("cache")
    cache = app.services.get(ResponseCache, needed_by="cache")
    return [CacheMiddleware(cache, set(settings.tools), settings.resources, topics(settings))]


@hookimpl
async def scs_startup(app: App) -> None:
    """Follow the changes that can make a cached answer stale (this process's and others')."""
    cache = app.services.get(ResponseCache, needed_by="cache")
    cache.invalidate()  # nothing cached before the subscription may be trusted
    cache.subscription = await app.db.changes.subscribe(
        cache.on_change, topics=topics(app.config("cache"))
    )


@hookimpl
def scs_stats(app: App) -> Mapping[str, Mapping[str, Any]]:
    cache = app.services.find(ResponseCache)
    return {"cache": cache.stats()} if cache is not None else {}


@hookimpl
def scs_shutdown(app: App) -> None:
    cache = app.services.find(ResponseCache)
    if cache is not None and cache.subscription is not None:
        cache.subscription.close()
        cache.subscription = None
