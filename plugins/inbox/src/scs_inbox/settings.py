"""Settings of the inbox plugin (prefix ``SCS_INBOX_``)."""

from __future__ import annotations

from pydantic import Field
from scs_server.settings import ScsSettings, settings_config


class InboxSettings(ScsSettings):
    """Limits of direct messages and of the /events stream; the pending notice switch."""

    model_config = settings_config("SCS_INBOX_")

    max_recipients: int = Field(50, ge=1, le=10_000, description="Recipients of one direct message")
    max_subject_length: int = Field(
        200, ge=1, le=10_000, description="Longest subject, in characters"
    )
    max_mentions: int = Field(
        20, ge=0, le=1000, description="Mentions recorded per session message (0: none)"
    )
    pending_notice: bool = Field(
        True, description="Add 'pending': {'inbox': n} to tool results of agents with unread items"
    )
    events_max_connections: int = Field(
        5, ge=1, le=1000, description="Open GET /events streams per agent"
    )
    events_heartbeat_s: float = Field(
        15.0, ge=0.05, le=3600, description="Seconds between SSE heartbeat comments"
    )
