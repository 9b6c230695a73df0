"""Settings of the search plugin (prefix ``SCS_SEARCH_``)."""

from __future__ import annotations

import os

from pydantic import Field
from scs.settings import ScsSettings, settings_config


class SearchSettings(ScsSettings):
    """How much the in-memory search indexes may hold, and how results look."""

    model_config = settings_config("SCS_SEARCH_")

    index_max_messages: int = Field(
        300_000,
        ge=1_000,
        le=50_000_000,
        description="Messages kept in memory over all session indexes (least recently "
        "searched sessions are dropped first; about 200 bytes plus the text per message)",
    )
    workers: int = Field(
        default_factory=lambda: min(4, os.cpu_count() or 1),
        ge=1,
        le=64,
        description="Threads that score one big search together (default: CPUs, at most 4)",
    )
    preview_chars: int = Field(
        150, ge=20, le=2_000, description="Length of match_preview, in characters"
    )
