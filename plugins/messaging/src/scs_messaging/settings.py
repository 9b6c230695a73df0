"""Settings of the messaging plugin (prefix ``SCS_MESSAGING_``)."""

from __future__ import annotations

from pydantic import Field
from scs_server.settings import ScsSettings, settings_config


class MessagingSettings(ScsSettings):
    """Limits on what a message may carry."""

    model_config = settings_config("SCS_MESSAGING_")

    max_message_length: int = Field(
        100_000, ge=1, le=10_000_000, description="Longest content accepted, in characters"
    )
    max_metadata_size_kb: int = Field(
        10, ge=1, le=1024, description="Largest message metadata accepted, in KiB of JSON"
    )
    max_thread_messages: int = Field(
        1000, ge=1, le=100_000, description="Most messages get_thread returns"
    )
    max_response_bytes: int = Field(
        256 * 1024,
        ge=1024,
        le=1024**3,
        description="Encoded bytes of the messages of one get_messages/get_thread answer",
    )
    max_wait_s: int = Field(
        120, ge=1, le=3600, description="Longest timeout_s wait_for_messages accepts, in seconds"
    )
    max_waits_per_agent: int = Field(
        10, ge=1, le=10_000, description="wait_for_messages calls one agent may have running"
    )
    wait_progress_s: float = Field(
        10.0,
        ge=0.05,
        le=600,
        description="Seconds between progress notifications of a wait (when the client "
        "sent a progress token)",
    )
