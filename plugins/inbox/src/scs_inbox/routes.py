"""``GET /events``: Server-Sent Events for the Bearer token's identity.

Same Host/Origin protection as ``/mcp`` (the guard wraps the whole HTTP app); wrong
tokens go through the core's failed-authentication throttle.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from scs_server.errors import ErrorCode, ScsError
from starlette.responses import JSONResponse, Response, StreamingResponse

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from scs_server import Identity
    from scs_server.app import App
    from starlette.requests import Request

    from scs_inbox.settings import InboxSettings
    from scs_inbox.stream import EventHub, StreamEvent

STATUS = {
    ErrorCode.AUTH_REQUIRED: 401,
    ErrorCode.AUTH_FORBIDDEN: 403,
    ErrorCode.AUTH_TOO_MANY_ATTEMPTS: 429,
    ErrorCode.LIMIT_EXCEEDED: 429,
    ErrorCode.VALIDATION: 400,
}
MAX_SESSIONS = 100


def _refusal(error: ScsError) -> JSONResponse:
    status = STATUS.get(ErrorCode(error.code), 401) if error.code in set(ErrorCode) else 401
    headers = {"WWW-Authenticate": 'Bearer realm="scs-events"'} if status == 401 else {}
    body = {"success": False, "code": error.code, "error": error.message, "hint": error.hint}
    return JSONResponse(body, status_code=status, headers=headers)


def format_event(event: StreamEvent | None) -> str:
    """One SSE frame (``None``: a heartbeat comment)."""
    if event is None:
        return ": heartbeat\n\n"
    lines = [f"event: {event.event}"]
    if event.id is not None:
        lines.append(f"id: {event.id}")
    lines.append(f"data: {json.dumps(event.data, ensure_ascii=False, separators=(',', ':'))}")
    return "\n".join(lines) + "\n\n"


def events_endpoint(
    app: App, hub: EventHub, settings: InboxSettings
) -> Callable[[Request], Awaitable[Response]]:
    """The /events handler bound to one App."""

    async def identify(request: Request) -> Identity:
        authorization = request.headers.get("authorization", "")
        token = authorization[7:].strip() if authorization[:7].lower() == "bearer " else ""
        if not token:
            raise ScsError(
                ErrorCode.AUTH_REQUIRED,
                "a Bearer token is required for /events",
                "send Authorization: Bearer <token from authenticate_agent>",
            )
        identity = await app.auth.identify(token)
        if not identity.can("read"):
            raise ScsError(ErrorCode.AUTH_FORBIDDEN, "/events needs the 'read' permission")
        return identity

    def sessions_of(request: Request) -> frozenset[str] | None:
        named = request.query_params.getlist("session")
        if len(named) > MAX_SESSIONS:
            raise ScsError(ErrorCode.VALIDATION, f"at most {MAX_SESSIONS} session parameters")
        return frozenset(named) if named else None

    async def events(request: Request) -> Response:
        try:
            identity = await identify(request)
            sessions = sessions_of(request)
            hub.admit(identity)
        except ScsError as error:
            return _refusal(error)
        last_event_id = request.headers.get("last-event-id")

        # the stream is opened inside the body: if the client is gone before the body
        # starts, nothing was registered (an unstarted generator runs no ``finally``)
        async def body() -> AsyncIterator[str]:
            try:
                async with hub.open(
                    identity, sessions, last_event_id, settings.events_heartbeat_s
                ) as stream:
                    yield ": connected\n\n"
                    async for event in stream:
                        yield format_event(event)
            except ScsError:  # the cap, reached since ``admit``: end the stream
                return

        return StreamingResponse(
            body(),
            media_type="text/event-stream",
            headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
        )

    return events
