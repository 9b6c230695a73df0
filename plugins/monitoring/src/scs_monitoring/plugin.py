"""Hook implementations of the monitoring plugin."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scs_server import hookimpl, requires
from starlette.routing import Route

from scs_monitoring.calls import CallRecorder
from scs_monitoring.gcpauses import PAUSES
from scs_monitoring.loopstalls import LoopStalls
from scs_monitoring.metrics import Metrics
from scs_monitoring.routes import metrics_endpoint
from scs_monitoring.settings import MonitoringSettings

if TYPE_CHECKING:
    from collections.abc import Sequence

    from fastmcp import FastMCP
    from scs_server.app import App
    from scs_server.request import Call


def _metrics(app: App) -> Metrics:
    """The App's Metrics, created on first use (hooks run in an order we do not rely on)."""
    metrics = app.services.find(Metrics)
    if metrics is None:
        settings: MonitoringSettings = app.config("monitoring")
        metrics = Metrics(app, settings.reservoir_size)
        app.services.provide(Metrics, metrics, by="monitoring")
    return metrics


@hookimpl
def scs_settings() -> type[MonitoringSettings]:
    return MonitoringSettings


@hookimpl
def scs_startup(app: App) -> None:
    PAUSES.acquire()
    settings: MonitoringSettings = app.config("monitoring")
    if settings.loop_stall_ms > 0:
        stalls = LoopStalls(settings.loop_stall_ms / 1000)
        app.services.provide(LoopStalls, stalls, by="monitoring")
        stalls.start()


@hookimpl
def scs_shutdown(app: App) -> None:
    PAUSES.release()
    stalls = app.services.find(LoopStalls)
    if stalls is not None:
        stalls.stop()


@hookimpl
def scs_register(app: App, mcp: FastMCP[Any]) -> None:
    metrics = _metrics(app)

    @mcp.tool(tags=requires("admin"))
    async def get_performance_metrics() -> dict[str, Any]:
        """Measured figures per tool (calls, errors by code, p50/p95/p99 ms), totals,
        in-flight calls, database pool, cache, rate limiter, garbage-collector pauses
        and event-loop stalls. Admin only."""
        return metrics.snapshot()


def _recorder(app: App) -> CallRecorder:
    recorder = app.services.find(CallRecorder)
    if recorder is None:
        recorder = CallRecorder(_metrics(app), app.config("monitoring"))
        app.services.provide(CallRecorder, recorder, by="monitoring")
    return recorder


@hookimpl
def scs_call_finished(app: App, call: Call) -> None:
    _recorder(app).finished(call)


@hookimpl
def scs_http_routes(app: App) -> Sequence[Route]:
    endpoint = metrics_endpoint(app, _metrics(app), app.config("monitoring"))
    return [Route("/metrics", endpoint, methods=["GET"])]
