"""The monitoring plugin's public module: what other plugins (the dashboard) may read."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scs_monitoring.history import MINUTES_KEPT, CallHistory, Minute, ToolMinute

if TYPE_CHECKING:
    from scs.app import App

SERVICE = "monitoring"

__all__ = ["MINUTES_KEPT", "SERVICE", "CallHistory", "Minute", "ToolMinute", "history", "snapshot"]


def snapshot(app: App) -> dict[str, Any] | None:
    """What ``get_performance_metrics`` answers, or None when monitoring is not enabled."""
    metrics = app.services.get(SERVICE)
    return None if metrics is None else metrics.snapshot()


def history(app: App) -> CallHistory | None:
    """The per-minute call history, or None when monitoring is not enabled."""
    metrics = app.services.get(SERVICE)
    return None if metrics is None else metrics.history
