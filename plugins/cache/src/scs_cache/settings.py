"""Settings of the cache plugin (prefix ``SCS_CACHE_``)."""

from __future__ import annotations

from pydantic import Field
from scs_server.settings import ScsSettings, settings_config

from scs_cache.scopes import CONVERSATION_TOOLS

# Chosen with bench/cache_bench.py: hot reads that got faster (figures in the README):
# the conversation reads the cache knows how to scope (scopes.py), written once there.
DEFAULT_TOOLS = sorted(CONVERSATION_TOOLS)


class CacheSettings(ScsSettings):
    """Which reads are cached, how much memory the cache may use, and for how long."""

    model_config = settings_config("SCS_CACHE_")

    tools: list[str] = Field(
        default_factory=lambda: list(DEFAULT_TOOLS),
        description="read tools whose answers are cached (JSON list)",
    )
    resources: bool = Field(True, description="also cache session:// resource reads")
    ttl_seconds: float = Field(300, gt=0, le=86_400, description="an entry's longest life")
    max_bytes: int = Field(
        64 * 1024 * 1024, ge=1024, description="total size of the cached answers, approximately"
    )
    max_entry_bytes: int = Field(1024 * 1024, ge=256, description="larger answers are not cached")
    extra_topics: list[str] = Field(
        default_factory=list,
        description="change-feed topics of other plugins whose changes also empty the cache "
        "(for their tools listed in SCS_CACHE_TOOLS)",
    )
