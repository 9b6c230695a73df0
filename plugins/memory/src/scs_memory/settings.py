"""Settings of the memory plugin (environment prefix ``SCS_MEMORY_``)."""

from __future__ import annotations

from pydantic import Field
from scs_server.settings import ScsSettings, settings_config


class MemorySettings(ScsSettings):
    """Limits of the per-agent memory and the expiry sweep."""

    model_config = settings_config("SCS_MEMORY_")

    max_value_kb: int = Field(64, ge=1, le=10_240, description="Largest value (JSON encoding), KiB")
    max_metadata_kb: int = Field(16, ge=1, le=1024, description="Largest metadata object, KiB")
    max_entries_per_agent: int = Field(
        # at most 100,000: set_memory counts the agent's entries (~3 ms at 100,000)
        1000,
        ge=1,
        le=100_000,
        description="Live entries one agent may hold, all scopes",
    )
    max_bytes_per_agent: int = Field(
        64 * 1024 * 1024,
        ge=1024,
        le=2**40,
        description="Value bytes (JSON encoding) one agent may hold, all scopes",
    )
    sweep_interval_s: float = Field(
        60.0, gt=0, le=86_400, description="Seconds between sweeps of expired entries"
    )
    sweep_batch_size: int = Field(500, ge=1, le=100_000, description="Rows deleted per transaction")
    sweep_max_batches: int = Field(
        100, ge=1, le=100_000, description="Batches per sweep; the rest waits for the next one"
    )
    resource_max_kb: int = Field(
        1024, ge=1, le=1_048_576, description="Value bytes included in agent://{id}/memory"
    )

    @property
    def max_value_bytes(self) -> int:
        return self.max_value_kb * 1024

    @property
    def max_metadata_bytes(self) -> int:
        return self.max_metadata_kb * 1024

    @property
    def resource_max_bytes(self) -> int:
        return self.resource_max_kb * 1024
