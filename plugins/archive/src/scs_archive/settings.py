"""Settings of the archive plugin (``SCS_ARCHIVE_*``)."""

from __future__ import annotations

from pydantic import Field
from scs_server.settings import ScsSettings, settings_config


class ArchiveSettings(ScsSettings):
    model_config = settings_config("SCS_ARCHIVE_")

    message_retention_days: int = Field(
        0, ge=0, description="Delete messages older than this many days (0: keep forever)"
    )
    retention_interval_s: float = Field(
        3600, gt=0, description="Seconds between retention runs (when any retention is set)"
    )
    retention_batch_size: int = Field(
        500, ge=1, le=100_000, description="Rows per delete transaction of a retention run"
    )
    export_max_bytes: int = Field(
        4 * 1024 * 1024,
        ge=1024,
        le=1024**3,
        description="Largest NDJSON export_session returns (beyond: use scs export)",
    )
