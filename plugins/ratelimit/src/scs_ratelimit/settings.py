"""Settings of the ratelimit plugin (prefix ``SCS_RATELIMIT_``)."""

from __future__ import annotations

from pydantic import Field
from scs_server.settings import ScsSettings, settings_config

RATE_CLASSES: tuple[str, ...] = ("auth", "read", "write", "search", "admin")


class RatelimitSettings(ScsSettings):
    """Token-bucket sizes per tool class; ``*_PER_MINUTE`` refills, ``*_BURST`` is the bucket."""

    model_config = settings_config("SCS_RATELIMIT_")

    auth_per_minute: float = Field(300, gt=0, description="authenticate/refresh/revoke per address")
    auth_burst: int = Field(60, ge=1)
    read_per_minute: float = Field(1200, gt=0, description="reads per agent")
    read_burst: int = Field(200, ge=1)
    write_per_minute: float = Field(600, gt=0, description="writes per agent")
    write_burst: int = Field(100, ge=1)
    search_per_minute: float = Field(30, gt=0, description="searches per agent")
    search_burst: int = Field(10, ge=1)
    admin_per_minute: float = Field(300, gt=0, description="admin tools per agent")
    admin_burst: int = Field(60, ge=1)
    credential_multiplier: float = Field(
        10,
        ge=1,
        description="aggregate of all agents of one credential, in per-agent rates/bursts",
    )
    source_multiplier: float = Field(
        20, ge=1, description="aggregate of all agents of one client address, likewise"
    )
    exempt_admins: bool = Field(True, description="admin tokens are not limited")
    max_buckets: int = Field(10_000, ge=10, description="buckets kept in memory at most")

    def rate(self, rate_class: str) -> tuple[float, int]:
        """(tokens per second, burst) of a tool class; unknown classes count as read."""
        name = rate_class if rate_class in RATE_CLASSES else "read"
        per_minute: float = getattr(self, f"{name}_per_minute")
        burst: int = getattr(self, f"{name}_burst")
        return per_minute / 60.0, burst
