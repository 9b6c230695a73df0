"""Settings of the sessions plugin (prefix ``SCS_SESSIONS_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict
from scs.settings import ScsSettings


class SessionsSettings(ScsSettings):
    """Limits on what a session may carry."""

    model_config = SettingsConfigDict(
        env_prefix="SCS_SESSIONS_", env_file=".env", extra="ignore", validate_default=True
    )

    max_purpose_length: int = Field(
        1000, ge=1, le=1_000_000, description="Longest purpose accepted, in characters"
    )
    max_metadata_size_kb: int = Field(
        10, ge=1, le=1024, description="Largest session metadata accepted, in KiB of JSON"
    )
