"""Timing every tool call (outside auth, so refusals count) and naming its caller.

Two middlewares share one record per call through a context variable: the outer
``CallTimer`` (order 100) starts the clock, creates the record and, once the call
has finished, counts and logs it; the inner ``CallerTagger`` (order 210, just after
auth) writes the verified caller into the record. The caller cannot be read in the
outer one: auth sets the identity only for the duration of the inner call.
"""

from __future__ import annotations

import logging
import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastmcp.exceptions import NotFoundError, ToolError
from fastmcp.exceptions import ValidationError as FastMCPValidationError
from fastmcp.server.middleware import Middleware
from pydantic import ValidationError as PydanticValidationError
from scs import ScsError, current_identity
from scs.middleware import AUTH_ORDER, OUTER_ORDER
from scs.request import request_id

if TYPE_CHECKING:
    from fastmcp.server.middleware import CallNext, MiddlewareContext

    from scs_monitoring.metrics import Metrics
    from scs_monitoring.settings import MonitoringSettings

log = logging.getLogger("scs.monitoring")

TIMER_ORDER = OUTER_ORDER
TAGGER_ORDER = AUTH_ORDER + 10


@dataclass
class CallRecord:
    agent: str = "-"
    agent_type: str = "-"


_record: ContextVar[CallRecord | None] = ContextVar("scs_monitoring_call", default=None)


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
        record = CallRecord()
        marker = _record.set(record)
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
            _record.reset(marker)
            self.metrics.finished_call(tool, seconds, code)
            self._log(tool, record, seconds, code)

    def _log(self, tool: str, record: CallRecord, seconds: float, code: str | None) -> None:
        slow = seconds >= self.slow_s
        level = logging.WARNING if slow else self.log_level
        if level is None or not log.isEnabledFor(level):
            return
        fields = {
            "event": "slow_tool_call" if slow else "tool_call",
            "request_id": request_id(),
            "tool": tool,
            "agent": record.agent,
            "agent_type": record.agent_type,
            "duration_ms": round(seconds * 1000, 3),
            "outcome": "ok" if code is None else "error",
            "code": code or "-",
        }
        text = " ".join(f"{key}={value}" for key, value in fields.items())
        log.log(level, "%s", text, extra={"scs": fields})


class CallerTagger(Middleware):
    """Writes the verified caller into the current call's record."""

    order = TAGGER_ORDER

    async def on_call_tool(
        self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]
    ) -> Any:
        record = _record.get()
        identity = current_identity()
        if record is not None and identity is not None:
            record.agent = identity.agent_id
            record.agent_type = identity.agent_type
        return await call_next(context)
