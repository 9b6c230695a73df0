"""Hook implementations of the cache plugin."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from scs import hookimpl

from scs_cache.entries import ResponseCache
from scs_cache.middleware import CacheMiddleware
from scs_cache.settings import CacheSettings
from scs_cache.version import DataVersion

if TYPE_CHECKING:
    from collections.abc import Sequence

    from fastmcp.server.middleware import Middleware
    from scs.app import App
    from scs.events import Event

SERVICE = "cache"
log = logging.getLogger("scs.cache")


@hookimpl
def scs_settings() -> type[CacheSettings]:
    return CacheSettings


@hookimpl
def scs_middleware(app: App) -> Sequence[Middleware]:
    settings: CacheSettings = app.config("cache")
    version = DataVersion(app.db.path)
    version.open()
    cache = ResponseCache(
        version,
        max_bytes=settings.max_bytes,
        max_entry_bytes=settings.max_entry_bytes,
        ttl_seconds=settings.ttl_seconds,
    )
    app.services[SERVICE] = cache
    return [CacheMiddleware(cache, set(settings.tools), settings.resources)]


@hookimpl
def scs_event(app: App, event: Event) -> None:
    """Every domain event is a write: empty the cache (portable; data_version also sees it)."""
    cache: ResponseCache | None = app.services.get(SERVICE)
    if cache is not None:
        cache.invalidate()
        log.debug("cache emptied by event %s from %s", event.name, event.source)


@hookimpl
def scs_shutdown(app: App) -> None:
    cache: ResponseCache | None = app.services.get(SERVICE)
    if cache is not None:
        cache.version.close()
