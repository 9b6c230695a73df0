"""Settings of the leases plugin (environment prefix ``SCS_LEASES_``)."""

from __future__ import annotations

from pydantic import Field
from scs_server.settings import ScsSettings, settings_config


class LeasesSettings(ScsSettings):
    """Limits of lease requests, waiting and the expiry sweep."""

    model_config = settings_config("SCS_LEASES_")

    max_resources: int = Field(100, ge=1, le=10_000, description="Resources per request")
    max_path_chars: int = Field(1024, ge=16, le=65_536, description="Longest resource pattern")
    max_segments: int = Field(64, ge=1, le=1024, description="Path segments per pattern")
    max_globstars: int = Field(4, ge=1, le=64, description="`**` segments per pattern")
    max_wildcards: int = Field(32, ge=1, le=1024, description="`*` and `?` per pattern")
    min_ttl_s: int = Field(1, ge=1, le=3600, description="Shortest lease")
    max_ttl_s: int = Field(86_400, ge=1, le=31_536_000, description="Longest lease (and renewal)")
    max_wait_s: float = Field(300.0, ge=0, le=3600, description="Longest wait_s of acquire_lease")
    max_reason_chars: int = Field(500, ge=1, le=10_000, description="Longest reason text")
    max_capacity: int = Field(1000, ge=1, le=1_000_000, description="Largest capacity")
    max_leases_per_agent: int = Field(
        1000, ge=1, le=100_000, description="Live leases one agent may hold"
    )
    wait_poll_s: float = Field(
        1.0,
        gt=0,
        le=60,
        description="A waiter retries at least this often even without a change-feed wake-up",
    )
    sweep_interval_s: float = Field(
        5.0, gt=0, le=86_400, description="Seconds between sweeps of expired leases"
    )
    sweep_batch_size: int = Field(500, ge=1, le=100_000, description="Rows deleted per transaction")
    sweep_max_batches: int = Field(
        100, ge=1, le=100_000, description="Batches per sweep; the rest waits for the next one"
    )
