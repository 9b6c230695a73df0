"""Settings of the messaging plugin (prefix ``SCS_MESSAGING_``)."""

from __future__ import annotations

from pydantic import Field
from scs.settings import ScsSettings, settings_config


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
        1024 * 1024,
        ge=1024,
        le=1024**3,
        description="Encoded bytes of the messages of one get_messages/get_thread answer",
    )
