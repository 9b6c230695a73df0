"""``GET /ui/stream``: new messages of one session as server-sent events.

Fed by the change feed (topic ``messages``: this process, other processes on the same
SQLite file, other PostgreSQL replicas), each change re-read through the messaging
service as the viewer, so the stream shows exactly what the page would.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from scs_messaging import api as messaging_api
from scs_server.errors import ScsError
from scs_sessions import api as sessions_api
from starlette.responses import Response, StreamingResponse

from scs_dashboard import logins, web

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from scs_server.app import App
    from scs_server.storage import Change
    from starlette.requests import Request

    from scs_dashboard.logins import Viewer
    from scs_dashboard.settings import DashboardSettings

BATCH = 50
RETRY_MS = 2000


def _event(message: dict[str, Any]) -> str:
    shown = {
        key: message[key]
        for key in ("id", "sender", "sender_type", "content", "visibility", "timestamp")
    }
    shown["parent_message_id"] = message.get("parent_message_id")
    shown["metadata"] = message.get("metadata")
    data = json.dumps(shown, ensure_ascii=True)  # one line: no newline can end the event early
    return f"id: {message['id']}\nevent: message\ndata: {data}\n\n"


def _start_id(request: Request) -> int:
    for raw in (request.headers.get("last-event-id"), request.query_params.get("after")):
        if raw and raw.isdigit() and len(raw) < 19:
            return int(raw)
    return 0


class Stream:
    """The live stream endpoint of one App."""

    def __init__(self, app: App, settings: DashboardSettings) -> None:
        self.app = app
        self.settings = settings
        self.queues: set[asyncio.Queue[Change | None]] = set()
        self.stopped = False
        app.when_stopping(self.stop)

    def stop(self) -> None:
        """The server stops: open streams end now instead of holding the shutdown."""
        self.stopped = True
        for queue in self.queues:
            queue.put_nowait(None)

    async def endpoint(self, request: Request) -> Response:
        viewer = await logins.viewer_of(self.app, request.cookies.get(web.COOKIE))
        if viewer is None:
            return Response("not logged in", status_code=401, media_type="text/plain")
        session_id = request.query_params.get("session_id", "")
        try:
            sessions_api.check_session_id(session_id)
        except ScsError as error:
            return Response(error.message, status_code=404, media_type="text/plain")
        if await sessions_api.service(self.app).get(session_id) is None:
            return Response("no such session", status_code=404, media_type="text/plain")
        queue: asyncio.Queue[Change | None] = asyncio.Queue()
        subscription = await self.app.db.changes.subscribe(
            queue.put_nowait, topics=(messaging_api.TOPIC,)
        )
        return StreamingResponse(
            self._events(viewer, session_id, _start_id(request), queue, subscription),
            media_type="text/event-stream",
            headers={"cache-control": "no-store", "x-accel-buffering": "no"},
        )

    async def _events(
        self,
        viewer: Viewer,
        session_id: str,
        last: int,
        queue: asyncio.Queue[Change | None],
        subscription: Any,
    ) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.stream_max_s
        messaging = messaging_api.service(self.app)
        self.queues.add(queue)
        try:
            yield f"retry: {RETRY_MS}\n: connected\n\n"
            pending = True  # first: whatever came since the page was rendered
            while loop.time() < deadline and not self.stopped:
                if pending:
                    if not await logins.still_valid(self.app, viewer):
                        yield "event: logout\ndata: {}\n\n"
                        return
                    page = await messaging.page(
                        viewer.identity, session_id, after_id=last, limit=BATCH
                    )
                    for message in page["messages"]:
                        last = message["id"]
                        yield _event(message)
                    pending = bool(page["has_more"])
                    continue
                wait = min(self.settings.heartbeat_s, deadline - loop.time())
                try:
                    change = await asyncio.wait_for(queue.get(), timeout=max(0.0, wait))
                except TimeoutError:
                    pending = not await logins.still_valid(self.app, viewer)
                    yield ": keep-alive\n\n"
                    continue
                if change is None:  # the server stops
                    return
                payload = change.payload if isinstance(change.payload, dict) else {}
                pending = change.gap or payload.get("session_id") == session_id
        finally:
            self.queues.discard(queue)
            subscription.close()
