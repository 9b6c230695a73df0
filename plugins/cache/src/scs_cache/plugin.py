"""Hook implementations of the cache plugin."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from scs import hookimpl

from scs_cache.entries import ResponseCache
from scs_cache.middleware import CacheMiddleware
from scs_cache.settings import CacheSettings

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from fastmcp.server.middleware import Middleware
    from scs.app import App
    from scs.events import Event

log = logging.getLogger("scs.cache")


@hookimpl
def scs_settings() -> type[CacheSettings]:
    return CacheSettings


@hookimpl
def scs_register(app: App) -> None:
    settings: CacheSettings = app.config("cache")
    cache = ResponseCache(
        lambda: (app.db.data_version(), app.unannounced_writes()),
        max_bytes=settings.max_bytes,
        max_entry_bytes=settings.max_entry_bytes,
        ttl_seconds=settings.ttl_seconds,
    )
    app.services.provide(ResponseCache, cache, by="cache")


@hookimpl
def scs_middleware(app: App) -> Sequence[Middleware]:
    settings: CacheSettings = app.config("cache")
    cache = app.services.get(ResponseCache, needed_by="cache")
    return [CacheMiddleware(cache, set(settings.tools), settings.resources)]


@hookimpl
def scs_event(app: App, event: Event) -> None:
    """Drop the cached answers the change can affect (by topic and session)."""
    cache = app.services.find(ResponseCache)
    if cache is not None:
        cache.changed(event)
        log.debug("cache: %s from %s dropped what it affects", event.name, event.source)


@hookimpl
def scs_stats(app: App) -> Mapping[str, Mapping[str, Any]]:
    cache = app.services.find(ResponseCache)
    return {"cache": cache.stats()} if cache is not None else {}
