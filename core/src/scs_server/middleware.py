"""The core's FastMCP middleware: typed errors and authentication (the call record and
call hooks, outermost, are in ``scs_server.calls``), and where ``ScsError`` becomes FastMCP's
tool error (``WireError``): at the component bodies (``typed_errors``) and above the
outermost middleware (``CallMiddleware``).

Plugin middleware is placed by its ``order`` attribute: below ``AUTH_ORDER`` it
runs before the caller is known (timing, metrics); above it, it sees the caller
(rate limits, caches).
"""

from __future__ import annotations

import functools
import inspect
import logging
from typing import TYPE_CHECKING, Any, TypeVar

from fastmcp.exceptions import FastMCPError, NotFoundError, ToolError
from fastmcp.exceptions import ValidationError as FastMCPValidationError
from fastmcp.server.middleware import Middleware
from fastmcp.server.middleware.middleware import _dispatch_phase
from mcp.shared.exceptions import MCPError
from mcp.types import INTERNAL_ERROR, INVALID_PARAMS
from pydantic import ValidationError as PydanticValidationError

from scs_server.errors import ErrorCode, ScsError
from scs_server.identity import ANONYMOUS_READER, acting_as
from scs_server.request import bearer_token, current_call, presented_token, request_id

if TYPE_CHECKING:
    from collections.abc import Callable

    from fastmcp.server.middleware import CallNext, MiddlewareContext
    from fastmcp.tools import Tool

    from scs_server.app import App
    from scs_server.identity import Identity

log = logging.getLogger("scs.server")
F = TypeVar("F", bound="Callable[..., Any]")

ERROR_ORDER = 0
OUTER_ORDER = 100
AUTH_ORDER = 200
INNER_ORDER = 300

AUTH_TOKEN_SCHEMA = {
    "type": "string",
    "description": "JWT from authenticate_agent; identifies the caller when several agents "
    "share one connection (overrides the Authorization header).",
}


# FastMCP's per-method hooks, by the request method that runs them
_METHOD_HOOKS = {
    "initialize": "on_initialize",
    "server/discover": "on_discover",
    "tools/call": "on_call_tool",
    "resources/read": "on_read_resource",
    "prompts/get": "on_get_prompt",
    "tools/list": "on_list_tools",
    "resources/list": "on_list_resources",
    "resources/templates/list": "on_list_resource_templates",
    "prompts/list": "on_list_prompts",
}


class DirectMiddleware(Middleware):
    """A FastMCP middleware whose hooks are called directly: the same hooks, run in the
    same order and passes as FastMCP's ``Middleware`` runs them, without the chain of
    closures it builds per middleware and request (``on_message``, ``on_request``, then
    the method's hook: seven coroutine frames a layer, a few µs of every call).

    Override ``on_request`` and the per-method hooks (``on_call_tool``,
    ``on_read_resource``...); a subclass that overrides ``on_message`` or
    ``on_notification`` is refused (use FastMCP's ``Middleware`` for those).
    """

    _method_hooks: dict[str, str] = {}
    _wraps_requests = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in ("on_message", "on_notification"):
            if getattr(cls, name) is not getattr(Middleware, name):
                raise TypeError(f"{cls.__name__}: DirectMiddleware does not run {name}")
        cls._method_hooks = {
            method: name
            for method, name in _METHOD_HOOKS.items()
            if getattr(cls, name) is not getattr(Middleware, name)
        }
        cls._wraps_requests = cls.on_request is not Middleware.on_request

    async def __call__(self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]) -> Any:
        # FastMCP runs the method's hook in the component's own pass, not in the outer
        # pass its root dispatch makes for the other messages (and for a component
        # request that failed before its handler: params that did not parse)
        name = self._method_hooks.get(context.method or "")
        if name is not None and _dispatch_phase.get() != "outer":
            call_next = functools.partial(getattr(self, name), call_next=call_next)
        if self._wraps_requests and context.type == "request":
            return await self.on_request(context, call_next)
        return await call_next(context)


async def identify(app: App, token: str | None, *, required: bool) -> Identity | None:
    """The caller a token names; without a (valid, when not ``required``) token the
    anonymous reader if ``SCS_ALLOW_ANONYMOUS_READ``, else None."""
    if token:
        try:
            return await app.auth.identify(token)
        except ScsError as error:
            # a wrong token during its source's backoff is refused even where a
            # token is optional: that is what stops a flood of them
            if required or error.code == ErrorCode.AUTH_TOO_MANY_ATTEMPTS:
                raise
            return None
    if app.settings.allow_anonymous_read:
        return ANONYMOUS_READER
    return None


class WireError(ScsError, ToolError):
    """An ``ScsError`` as FastMCP sends it: still an ``ScsError`` (same code, message,
    hint and JSON text) and a ``ToolError``, so FastMCP answers with that text, as an
    ``isError`` tool result or, for resources and prompts, an MCP error, and logs it at
    DEBUG only (a refusal is an answer, not a server fault)."""

    def __init__(self, error: ScsError) -> None:
        super().__init__(error.code, error.message, error.hint, **error.details)
        self.log_level = logging.DEBUG

    @classmethod
    def of(cls, error: ScsError) -> WireError:
        return error if isinstance(error, WireError) else cls(error)


def typed_errors(fn: F) -> F:
    """``fn`` (a tool, resource or prompt body) raising its ``ScsError`` as a ``WireError``
    (FastMCP would log any other exception as a server fault). Same signature, same
    annotations: FastMCP reads them through ``__wrapped__``."""
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def guarded_async(*args: Any, **kwargs: Any) -> Any:
            try:
                return await fn(*args, **kwargs)
            except ScsError as error:
                raise WireError.of(error) from None

        return guarded_async  # type: ignore[return-value]

    @functools.wraps(fn)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ScsError as error:
            raise WireError.of(error) from None

    return guarded  # type: ignore[return-value]


def error_code(error: BaseException) -> str:
    """The code the client will get for an exception (how ``ErrorMiddleware`` maps it)."""
    if isinstance(error, ScsError):
        return error.code
    if isinstance(error.__cause__, ScsError):
        return error.__cause__.code
    if isinstance(error, MCPError) and isinstance(error.data, dict) and "code" in error.data:
        return str(error.data["code"])  # a refusal as ``protocol_error`` sends it
    if not isinstance(error, Exception):
        return "CANCELLED"
    if isinstance(error, NotFoundError):
        return ErrorCode.NOT_FOUND.value
    if isinstance(error, FastMCPValidationError | PydanticValidationError):
        return ErrorCode.VALIDATION.value
    if isinstance(error, ToolError) and error.__cause__ is None:
        return "TOOL_ERROR"  # a plain ToolError raised by a tool reaches the client as is
    return ErrorCode.INTERNAL.value


def order_of(middleware: Middleware) -> int:
    return int(getattr(middleware, "order", INNER_ORDER))


def _validation_message(error: BaseException) -> str:
    cause = error.__cause__ if error.__cause__ is not None else error
    if isinstance(cause, PydanticValidationError):
        parts = []
        for item in cause.errors()[:5]:
            where = ".".join(str(p) for p in item["loc"]) or "arguments"
            parts.append(f"{where}: {item['msg']}")
        return "; ".join(parts)
    return str(error)[:500]


class ErrorMiddleware(DirectMiddleware):
    """Every failure reaches the client as a typed error; tracebacks stay in the log."""

    order = ERROR_ORDER

    async def on_request(
        self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]
    ) -> Any:
        try:
            return await self._typed(context, call_next)
        except ScsError as error:
            raise on_the_wire(error, context) from None

    async def _typed(self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]) -> Any:
        try:
            return await call_next(context)
        except (ScsError, MCPError):  # MCPError: a protocol-level refusal, sent as it is
            raise
        except NotFoundError as error:
            raise ScsError(
                ErrorCode.NOT_FOUND, str(error)[:300], "list the tools or resources first"
            ) from None
        except FastMCPValidationError as error:
            raise ScsError(
                ErrorCode.VALIDATION,
                f"invalid arguments: {_validation_message(error)}",
                "check the tool's input schema",
            ) from None
        except PydanticValidationError as error:
            if isinstance(context.message, dict):  # the request's own params did not parse
                raise ScsError(
                    ErrorCode.VALIDATION,
                    f"invalid params: {_validation_message(error)}",
                    f"check the params of {context.method} against the MCP schema",
                ) from None
            raise ScsError(
                ErrorCode.VALIDATION,
                f"invalid arguments: {_validation_message(error)}",
                "check the tool's input schema",
            ) from None
        except FastMCPError as error:  # ToolError, or a body's failure FastMCP masked
            cause = error.__cause__
            if isinstance(cause, ScsError):
                raise cause from None
            if cause is None and isinstance(error, ToolError):
                raise
            raise internal_error(cause or error, context.method) from None
        except Exception as error:
            raise internal_error(error, context.method) from None


# JSON-RPC codes for refusals outside tools/call (a tool's refusal is an isError
# result). Not-found is invalid params, as SEP-2164 settled; every other refusal shares
# one implementation-defined code, and ``data`` carries the typed code and hint.
_PROTOCOL_CODES = {
    ErrorCode.VALIDATION.value: INVALID_PARAMS,
    ErrorCode.VALIDATION_TOO_LARGE.value: INVALID_PARAMS,
    ErrorCode.NOT_FOUND.value: INVALID_PARAMS,
    ErrorCode.MEMORY_NOT_FOUND.value: INVALID_PARAMS,
    ErrorCode.INTERNAL.value: INTERNAL_ERROR,
}
REFUSED = -32010
"""The JSON-RPC code of a typed refusal (auth, rate limit, conflict, database) outside
``tools/call``."""


def on_the_wire(error: ScsError, context: MiddlewareContext[Any]) -> Exception:
    """What FastMCP must be handed for a refusal of this request: for a tool call, the
    ``WireError`` it turns into an ``isError`` result the model reads; for anything else
    (and a ``tools/call`` whose params did not parse: still a raw dict), the JSON-RPC
    error of ``protocol_error``."""
    if context.method == "tools/call" and not isinstance(context.message, dict):
        return WireError.of(error)
    return protocol_error(error)


def protocol_error(error: ScsError) -> MCPError:
    """A typed refusal as a JSON-RPC error: the message keeps the JSON text tools give,
    ``data`` is the same object (``code``, ``error``, ``hint``, details)."""
    return MCPError(_PROTOCOL_CODES.get(error.code, REFUSED), error.to_text(), error.to_dict())


def internal_error(error: BaseException, where: str | None) -> ScsError:
    """Log an unexpected failure under the request id; the client gets only the id."""
    rid = request_id()
    log.error(
        "internal error in %s (request %s)",
        where,
        rid,
        exc_info=(type(error), error, error.__traceback__),
    )
    return ScsError(
        ErrorCode.INTERNAL,
        f"internal error (request id {rid})",
        "the server logged the details under this request id",
        request_id=rid,
    )


class AuthMiddleware(DirectMiddleware):
    """Identifies the caller of every tool call, resource read and prompt, and checks
    permissions."""

    order = AUTH_ORDER

    def __init__(self, app: App) -> None:
        self.app = app
        self._schemas: dict[str, tuple[Tool, Tool]] = {}

    async def _identify(self, token: str | None, *, required: bool) -> Identity | None:
        return await identify(self.app, token, required=required)

    async def on_call_tool(
        self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]
    ) -> Any:
        message = context.message
        call = current_call()
        policy = self.app.tools.get(message.name)
        needed = policy.permission if policy else "read"
        # call is None only when not below CallMiddleware (a server assembled by hand)
        token = call.token if call is not None else presented_token(message.arguments)
        # a tool open to all (authenticate_agent...) does not verify a token it does not
        # use: a stale Bearer header must not get in the way of a right API key
        identity = None if needed == "none" else await self._identify(token, required=True)
        if needed != "none":
            if identity is None:
                raise ScsError(
                    ErrorCode.AUTH_REQUIRED,
                    "authentication required",
                    "call authenticate_agent, then pass auth_token or an "
                    "Authorization: Bearer header",
                )
            if not identity.can(needed):
                raise await self.app.auth.deny(identity, message.name, needed)
        if call is not None:
            call.identity = identity
            self.app.calls.admit(call)
        if message.arguments and "auth_token" in message.arguments:  # the tool never sees it
            arguments = {k: v for k, v in message.arguments.items() if k != "auth_token"}
            context = context.copy(message=message.model_copy(update={"arguments": arguments}))
        with acting_as(identity):
            return await call_next(context)

    async def on_read_resource(
        self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]
    ) -> Any:
        # a plugin may open a resource to callers without a token (requires("none"))
        required = not self.app.is_open_resource(str(context.message.uri))
        identity = await self._identify(bearer_token(), required=required)
        if identity is None and required:
            raise ScsError(
                ErrorCode.AUTH_REQUIRED,
                "authentication required to read resources",
                "send an Authorization: Bearer header with a token from authenticate_agent",
            )
        return await self._admitted(identity, context, call_next)

    async def on_get_prompt(
        self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]
    ) -> Any:
        identity = await self._identify(bearer_token(), required=False)
        return await self._admitted(identity, context, call_next)

    async def _admitted(
        self,
        identity: Identity | None,
        context: MiddlewareContext[Any],
        call_next: CallNext[Any, Any],
    ) -> Any:
        """Record the caller, run the admitted hooks, then the call as that caller."""
        call = current_call()
        if call is not None:
            call.identity = identity
            self.app.calls.admit(call)
        with acting_as(identity):
            return await call_next(context)

    async def on_list_tools(
        self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]
    ) -> Any:
        tools = await call_next(context)
        return [self._with_auth_token(tool) for tool in tools]

    def _with_auth_token(self, tool: Tool) -> Tool:
        cached = self._schemas.get(tool.name)
        if cached is not None and cached[0] is tool:
            return cached[1]
        parameters = dict(tool.parameters or {"type": "object"})
        properties = dict(parameters.get("properties") or {})
        properties.setdefault("auth_token", AUTH_TOKEN_SCHEMA)
        parameters["properties"] = properties
        copy = tool.model_copy(update={"parameters": parameters})
        self._schemas[tool.name] = (tool, copy)
        return copy
