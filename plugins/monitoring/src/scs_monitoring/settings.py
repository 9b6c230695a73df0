"""Settings of the monitoring plugin (prefix ``SCS_MONITORING_``)."""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from scs_server.settings import ScsSettings, check_secret, settings_config


class MonitoringSettings(ScsSettings):
    """Call log, slow-call threshold, quantile window and the /metrics credential."""

    model_config = settings_config("SCS_MONITORING_")

    log_level: Literal["DEBUG", "INFO", "WARNING", "OFF"] = Field(
        "INFO", description="level of the one-line-per-call log (OFF: none)"
    )
    slow_ms: float = Field(1000, gt=0, description="calls slower than this log at WARNING")
    reservoir_size: int = Field(
        1024, ge=16, le=1_000_000, description="latest calls per tool kept for p50/p95/p99"
    )
    loop_stall_ms: float = Field(
        200,
        ge=0,
        description="event-loop turns later than this are counted, with where the loop was"
        " (0: not watched)",
    )
    metrics_token: SecretStr | None = Field(
        None, description="extra credential accepted by GET /metrics (X-API-Key or Bearer)"
    )

    @field_validator("metrics_token")
    @classmethod
    def _strong(cls, value: SecretStr | None) -> SecretStr | None:
        return check_secret("SCS_MONITORING_METRICS_TOKEN", value)

    def call_log_level(self) -> int | None:
        """The logging level of the per-call line, or None when it is off."""
        levels = {
            "DEBUG": logging.DEBUG,
            "INFO": logging.INFO,
            "WARNING": logging.WARNING,
        }
        return levels.get(self.log_level)
