"""Timing every tool call (outside auth, so refusals count) and naming its caller.

``CallTimer`` (order 100) starts the clock and, once the call has finished, counts
and logs it. The caller comes from the core's call record (``scs.request.current_call``),
which the auth middleware fills in: the identity context itself only lasts as long
as the inner call.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from fastmcp.exceptions import NotFoundError, ToolError
from fastmcp.exceptions import ValidationError as FastMCPValidationError
from fastmcp.server.middleware import Middleware
from pydantic import ValidationError as PydanticValidationError
from scs import ScsError
from scs.middleware import OUTER_ORDER
from scs.request import current_call

if TYPE_CHECKING:
    from fastmcp.server.middleware import CallNext, MiddlewareContext

    from scs_monitoring.metrics import Metrics
    from scs_monitoring.settings import MonitoringSettings

log = logging.getLogger("scs.monitoring")

TIMER_ORDER = OUTER_ORDER


def error_code(error: BaseException) -> str:
    """The code the client will see, the same way the core's ErrorMiddleware decides it."""
    if isinstance(error, ScsError):
        return error.code
    if isinstance(error.__cause__, ScsError):
        return error.__cause__.code
    if isinstance(error, NotFoundError):
        return "RESOURCE_001"
    if isinstance(error, FastMCPValidationError | PydanticValidationError):
        return "VALIDATION_001"
    if isinstance(error, ToolError) and error.__cause__ is None:
        return "TOOL_ERROR"
    return "INTERNAL_001"


class CallTimer(Middleware):
    """Counts, times and logs every tool call, including refused ones."""

    order = TIMER_ORDER

    def __init__(self, metrics: Metrics, settings: MonitoringSettings) -> None:
        self.metrics = metrics
        self.settings = settings
        self.log_level = settings.call_log_level()
        self.slow_s = settings.slow_ms / 1000

    async def on_call_tool(
        self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]
    ) -> Any:
        tool = str(context.message.name)
        code: str | None = None
        self.metrics.started_call()
        started = time.perf_counter()
        try:
            return await call_next(context)
        except BaseException as error:
            code = error_code(error) if isinstance(error, Exception) else "CANCELLED"
            raise
        finally:
            seconds = time.perf_counter() - started
            self.metrics.finished_call(tool, seconds, code)
            self._log(tool, seconds, code)

    def _log(self, tool: str, seconds: float, code: str | None) -> None:
        slow = seconds >= self.slow_s
        level = logging.WARNING if slow else self.log_level
        if level is None or not log.isEnabledFor(level):
            return
        call = current_call()
        identity = call.identity if call is not None else None
        fields = {
            "event": "slow_tool_call" if slow else "tool_call",
            "request_id": call.id if call is not None else "-",
            "tool": tool,
            "agent": identity.agent_id if identity is not None else "-",
            "agent_type": identity.agent_type if identity is not None else "-",
            "duration_ms": round(seconds * 1000, 3),
            "outcome": "ok" if code is None else "error",
            "code": code or "-",
        }
        text = " ".join(f"{key}={value}" for key, value in fields.items())
        log.log(level, "%s", text, extra={"scs": fields})
