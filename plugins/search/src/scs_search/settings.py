"""Settings of the search plugin (prefix ``SCS_SEARCH_``)."""

from __future__ import annotations

import os

from pydantic import Field
from scs_server.settings import ScsSettings, settings_config

from scs_search.text import MAX_SCORED_CHARS

MIB = 1024 * 1024


def _cpus() -> int:
    return os.cpu_count() or 1


class SearchSettings(ScsSettings):
    """How much the search indexes may hold, how much work one search may do, how results look."""

    model_config = settings_config("SCS_SEARCH_")

    index_max_bytes: int = Field(
        256 * MIB,
        ge=1 * MIB,
        le=64 * 1024 * MIB,
        description="Approximate bytes kept in memory over all session indexes (least "
        "recently searched sessions are dropped first)",
    )
    index_max_messages: int = Field(
        300_000,
        ge=1_000,
        le=50_000_000,
        description="Messages kept in memory over all session indexes (a second bound, "
        "next to index_max_bytes)",
    )
    max_query_chars: int = Field(
        256,
        ge=16,
        le=1_000,
        description="Longest query accepted (longer queries are refused: scoring cost "
        "grows with the square of the query length beyond 64 characters)",
    )
    max_scored_chars: int = Field(
        MAX_SCORED_CHARS,
        ge=100,
        le=1_000_000,
        description="Characters of each message's searched text that are scored (the "
        "first ones: sender, content, then metadata values); the rest is not searched",
    )
    budget_ms: int = Field(
        1_000,
        ge=0,
        le=600_000,
        description="Ranking time one search_context call may spend (over all sessions it "
        "searches); past it the call answers with what it ranked and truncated: true",
    )
    concurrency: int = Field(
        default_factory=lambda: max(1, min(4, _cpus()) - 1),
        ge=1,
        le=64,
        description="Searches that rank at the same time; more wait their turn "
        "(default: CPUs - 1, at least 1, at most 3)",
    )
    queue_timeout_ms: int = Field(
        5_000,
        ge=0,
        le=600_000,
        description="How long a search may wait for a ranking slot before it is refused "
        "(RATE_LIMITED, retryable)",
    )
    workers: int = Field(
        default_factory=lambda: min(4, _cpus()),
        ge=1,
        le=64,
        description="Threads that score one big search together (default: CPUs, at most 4)",
    )
    preview_chars: int = Field(
        150, ge=20, le=2_000, description="Length of match_preview, in characters"
    )
