"""Settings of the sessions plugin (prefix ``SCS_SESSIONS_``)."""

from __future__ import annotations

from pydantic import Field
from scs_server.settings import ScsSettings, settings_config


class SessionsSettings(ScsSettings):
    """Limits on what a session may carry."""

    model_config = settings_config("SCS_SESSIONS_")

    max_purpose_length: int = Field(
        1000, ge=1, le=1_000_000, description="Longest purpose accepted, in characters"
    )
    max_metadata_size_kb: int = Field(
        10, ge=1, le=1024, description="Largest session metadata accepted, in KiB of JSON"
    )
