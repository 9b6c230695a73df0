"""Settings of the dashboard plugin (prefix ``SCS_DASHBOARD_``)."""

from __future__ import annotations

from pydantic import Field
from scs_server.settings import ScsSettings, settings_config


class DashboardSettings(ScsSettings):
    """Login sessions, the admin view's identity and the live stream."""

    model_config = settings_config("SCS_DASHBOARD_")

    session_ttl_s: int = Field(
        8 * 3600,
        ge=60,
        le=30 * 86400,
        description="a login lasts this long (at most the token's own life)",
    )
    admin_agent_id: str = Field(
        "dashboard-admin",
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9_.:@-]+$",
        description="the identity of a login with the admin API key (sender of its messages)",
    )
    messages_shown: int = Field(
        200, ge=10, le=1000, description="newest messages on a session page"
    )
    stream_max_s: float = Field(
        300,
        ge=5,
        le=3600,
        description="one live stream response lasts this long; the browser reconnects",
    )
    heartbeat_s: float = Field(15, gt=0, le=300, description="comment line sent on an idle stream")
