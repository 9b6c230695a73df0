"""The monitoring plugin's public module: what other plugins (the dashboard) may read."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scs_monitoring.history import MINUTES_KEPT, CallHistory, Minute, ToolMinute
from scs_monitoring.metrics import Metrics

if TYPE_CHECKING:
    from scs_server.app import App

__all__ = ["MINUTES_KEPT", "CallHistory", "Metrics", "Minute", "ToolMinute", "history", "snapshot"]


def snapshot(app: App) -> dict[str, Any] | None:
    """What ``get_performance_metrics`` answers, or None when monitoring is not enabled."""
    metrics = app.services.find(Metrics)
    return None if metrics is None else metrics.snapshot()


def history(app: App) -> CallHistory | None:
    """The per-minute call history, or None when monitoring is not enabled."""
    metrics = app.services.find(Metrics)
    return None if metrics is None else metrics.history
