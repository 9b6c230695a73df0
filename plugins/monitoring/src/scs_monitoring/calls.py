"""Counting, timing and logging every tool call, refused ones included.

Runs as the ``scs_call_finished`` hook: the core times each call around everything
else (authentication and the rate limiter's refusals included) and hands over the
record (``scs_server.request.Call``) with the duration, the client's error code and the
verified caller.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scs_server.request import Call

    from scs_monitoring.metrics import Metrics
    from scs_monitoring.settings import MonitoringSettings

log = logging.getLogger("scs.monitoring")


class CallRecorder:
    """Records each finished tool call in the metrics and writes its log line."""

    def __init__(self, metrics: Metrics, settings: MonitoringSettings) -> None:
        self.metrics = metrics
        self.log_level = settings.call_log_level()
        self.slow_s = settings.slow_ms / 1000

    def finished(self, call: Call) -> None:
        if call.kind != "tool":  # resource reads are not timed (yet)
            return
        self.metrics.finished_call(call.name, call.seconds, call.error)
        slow = call.seconds >= self.slow_s
        level = logging.WARNING if slow else self.log_level
        if level is None or not log.isEnabledFor(level):
            return
        identity = call.identity
        fields = {
            "event": "slow_tool_call" if slow else "tool_call",
            "request_id": call.id,
            "tool": call.name,
            "agent": identity.agent_id if identity is not None else "-",
            "agent_type": identity.agent_type if identity is not None else "-",
            "duration_ms": round(call.seconds * 1000, 3),
            "outcome": "ok" if call.error is None else "error",
            "code": call.error or "-",
        }
        text = " ".join(f"{key}={value}" for key, value in fields.items())
        log.log(level, "%s", text, extra={"scs": fields})
