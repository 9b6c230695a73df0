"""The call path around every tool call, resource read and prompt: the call record and
the plugins' call hooks (``CallMiddleware``), cheaper than a FastMCP middleware per
concern (each layer costs every call a few coroutine frames).

The hooks sit where a plugin needs them: ``scs_call_started`` before authentication
(it may refuse), ``scs_call_admitted`` once the caller is verified and allowed (it may
refuse; ``AuthMiddleware`` runs it), ``scs_call_finished`` after the call, whatever
its outcome (it may only observe).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any, TypeVar

from fastmcp.tools.base import ToolResult

from scs_server.errors import ScsError
from scs_server.identity import acting_as
from scs_server.middleware import DirectMiddleware, error_code, internal_error, on_the_wire
from scs_server.request import bearer_token, begin_call, current_call, end_call, presented_token

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from fastmcp.server.middleware import CallNext, MiddlewareContext

    from scs_server.app import App
    from scs_server.identity import Identity
    from scs_server.request import Call

log = logging.getLogger("scs.calls")
T = TypeVar("T")

# Outside ErrorMiddleware (0): the record exists before anything runs and until the
# client's error is known; the hooks see the typed error code (``error_code``).
CALL_ORDER = -100


async def delivered(tasks: list[asyncio.Task[None]]) -> None:
    """Wait until ``tasks`` are done, neither raising their errors nor cancelling them if
    the caller is, and without a needless turn of the event loop.

    ``asyncio.wait`` takes two turns for a task still to run and one for a task done
    already: each behind every callback ready to run, which under load is milliseconds
    (an ``add_message`` in load.py's open loop waited 11 ms at p99 here). A delivery
    started by a commit that answered this caller ran before the caller resumed; one
    started in the caller's own step runs its first step, usually its last, in the
    turn a ``sleep(0)`` yields.
    """
    pending = [task for task in tasks if not task.done()]
    if pending:
        await asyncio.sleep(0)
        pending = [task for task in pending if not task.done()]
        if pending:
            await asyncio.wait(pending)


class CallHooks:
    """Runs the enabled plugins' call hooks (through the plugin host) and counts calls
    in flight by kind."""

    def __init__(self, app: App | None = None) -> None:
        self.app = app
        self.in_flight: dict[str, int] = {"tool": 0, "resource": 0, "prompt": 0}

    async def run(self, call: Call, proceed: Callable[[], Awaitable[Any]]) -> Any:
        """Run the started hooks, the call, then the finished hooks (always)."""
        app = self.app
        if app is None:  # an App still being assembled has no hooks to run
            return await proceed()
        host = app.host
        self.in_flight[call.kind] = self.in_flight.get(call.kind, 0) + 1
        started = time.perf_counter()
        try:
            try:
                host.call_started(app, call)
            except ScsError:
                raise
            except Exception as error:  # a plugin's bug: typed like any internal error
                raise internal_error(error, "a call_started hook") from None
            result = await proceed()
            if call.deliveries:  # the events of this call's writes, delivered before it returns
                await delivered(call.deliveries)
        except BaseException as error:
            call.error = error_code(error)
            raise
        else:
            return result
        finally:
            self.in_flight[call.kind] -= 1
            call.seconds = time.perf_counter() - started
            try:
                host.call_finished(app, call)
            except Exception:  # an observer must not turn a result into an error
                log.exception("a plugin failed in scs_call_finished")

    def admit(self, call: Call) -> None:
        """Run the admitted hooks (auth has verified the caller and the permission)."""
        if self.app is not None:
            self.app.host.call_admitted(self.app, call)

    async def as_tool(self, identity: Identity, tool: str, action: Callable[[], Awaitable[T]]) -> T:
        """Run ``action`` as a call of ``tool`` by an already verified ``identity``: for
        routes outside ``/mcp`` (the dashboard's forms) that act like a tool call.

        The same path as ``/mcp``: a call record, the started hooks, the tool's permission
        (a refusal is audited as ``AuthMiddleware``'s), the admitted hooks (rate limits),
        ``action`` as the identity, its events delivered before it returns, the finished
        hooks (timing). Raises the ``ScsError`` a tool call would return.
        """
        app = self.app
        if app is None or tool not in app.tools:
            raise ValueError(f"no tool {tool!r} on this server")
        policy = app.tools[tool]
        call, context = begin_call()
        call.kind, call.name = "tool", tool

        async def admitted() -> T:
            if not identity.can(policy.permission):
                raise await app.auth.deny(identity, tool, policy.permission)
            call.identity = identity
            self.admit(call)
            with acting_as(identity):
                return await action()

        try:
            result: T = await self.run(call, admitted)
            return result
        finally:
            end_call(context)


class CallMiddleware(DirectMiddleware):
    """Outermost: starts each request's record (``scs_server.request.Call``) and runs the call
    hooks around tool calls, resource reads and prompts; hands a typed error to FastMCP
    in the form it sends as it is (``on_the_wire``)."""

    order = CALL_ORDER

    def __init__(self, app: App) -> None:
        self.app = app

    async def on_request(
        self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]
    ) -> Any:
        _, token = begin_call()
        try:
            return await call_next(context)
        except ScsError as error:
            raise on_the_wire(error, context) from None
        finally:
            end_call(token)

    async def on_call_tool(
        self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]
    ) -> Any:
        call = current_call()
        message = context.message
        if call is None:
            result = await call_next(context)
        else:
            call.kind, call.name = "tool", message.name
            call.token = presented_token(message.arguments)
            result = await self.app.calls.run(call, lambda: call_next(context))
        policy = self.app.tools.get(message.name)
        if policy is not None and policy.text_only and isinstance(result, ToolResult):
            # after every plugin's middleware (the cache keeps, the inbox notice edits,
            # the whole result): the JSON text alone goes on the wire
            return result.model_copy(update={"structured_content": None})
        return result

    async def on_read_resource(
        self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]
    ) -> Any:
        call = current_call()
        if call is None:
            return await call_next(context)
        call.kind, call.name, call.token = "resource", str(context.message.uri), bearer_token()
        return await self.app.calls.run(call, lambda: call_next(context))

    async def on_get_prompt(
        self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]
    ) -> Any:
        call = current_call()
        if call is None:
            return await call_next(context)
        call.kind, call.name, call.token = "prompt", context.message.name, bearer_token()
        return await self.app.calls.run(call, lambda: call_next(context))
