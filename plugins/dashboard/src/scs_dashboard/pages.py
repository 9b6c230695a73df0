"""The dashboard's endpoints. Every read and write goes through the plugins' public
services as the logged-in identity, so the page shows what the MCP tools would."""

from __future__ import annotations

import time
from importlib import resources
from typing import TYPE_CHECKING, Any, Protocol

from scs_memory import api as memory_api
from scs_messaging import api as messaging_api
from scs_monitoring import api as monitoring_api
from scs_search import api as search_api
from scs_server.auth import store as auth_store
from scs_server.errors import ErrorCode, ScsError
from scs_server.request import address_of
from scs_sessions import api as sessions_api
from starlette.responses import Response

from scs_dashboard import logins, reads, views, web

if TYPE_CHECKING:
    from collections.abc import Callable

    from scs_server import Identity
    from scs_server.app import App
    from starlette.requests import Request

    from scs_dashboard.boards import LeaseBoard
    from scs_dashboard.html import Html
    from scs_dashboard.logins import Viewer
    from scs_dashboard.settings import DashboardSettings

STATIC_FILES = {"dashboard.css": "text/css", "dashboard.js": "text/javascript"}
PAGE_SIZE = 50
EXTRA_PAGES = {"inbox": "Inbox", "leases": "Leases"}  # served by other plugins' services


class RowsProvider(Protocol):
    """What fills an extra page: the rows ``identity`` may see, one column per key of the
    first row. A plugin provides it under that page's key (``InboxRows``, ``LeaseRows``)."""

    async def dashboard_rows(self, identity: Identity) -> list[dict[str, Any]]: ...


class InboxRows(RowsProvider, Protocol):
    """The service key of the Inbox page: ``app.services.provide(InboxRows, impl, by=...)``."""


class LeaseRows(RowsProvider, Protocol):
    """The service key of the Leases page."""


SLOTS: dict[str, Callable[..., RowsProvider]] = {"inbox": InboxRows, "leases": LeaseRows}


class Dashboard:
    """The endpoints of one App's dashboard."""

    def __init__(self, app: App, settings: DashboardSettings) -> None:
        self.app = app
        self.settings = settings

    # -- shared ---------------------------------------------------------------
    def extras(self) -> dict[str, bool]:
        found = {name: self.rows_service(name) is not None for name in EXTRA_PAGES}
        found["memory"] = memory_api.service(self.app) is not None
        found["monitoring"] = monitoring_api.history(self.app) is not None
        return found

    def rows_service(self, name: str) -> RowsProvider | None:
        """A plugin's service offering ``dashboard_rows(identity)``, or None."""
        key = SLOTS.get(name)
        return None if key is None else self.app.services.find(key)

    def page(self, viewer: Viewer, title: str, body: Html, active: str) -> Response:
        return web.html(views.page(title, body, viewer, self.extras(), active))

    async def viewer(self, request: Request) -> Viewer | None:
        return await logins.viewer_of(self.app, request.cookies.get(web.COOKIE))

    async def posted(self, request: Request) -> tuple[Viewer, dict[str, str]] | Response:
        """The viewer and form of a POST, or the refusal (no session, no CSRF token)."""
        viewer = await self.viewer(request)
        if viewer is None:
            return web.error_page(403, "You are not logged in (or your login has expired).")
        form = await web.read_form(request)
        if form is None or not logins.same_secret(form.get("csrf"), viewer.csrf):
            return web.error_page(
                403, "Refused: the form's CSRF token is missing or wrong. Reload the page."
            )
        return viewer, form

    # -- login ----------------------------------------------------------------
    async def root(self, request: Request) -> Response:
        viewer = await self.viewer(request)
        return web.redirect("/ui/sessions" if viewer is not None else "/ui/login")

    def login_page(
        self, request: Request, message: str | None = None, status: int = 200
    ) -> Response:
        nonce = logins.new_secret()
        response = web.html(views.page("Log in", views.login_form(nonce, message)), status)
        web.set_cookie(response, request, web.LOGIN_COOKIE, nonce, 3600, "/ui/login")
        return response

    async def login_get(self, request: Request) -> Response:
        if await self.viewer(request) is not None:
            return web.redirect("/ui/sessions")
        return self.login_page(request)

    async def login_post(self, request: Request) -> Response:
        form = await web.read_form(request)
        nonce = request.cookies.get(web.LOGIN_COOKIE, "")
        if form is None or not nonce or not logins.same_secret(form.get("csrf"), nonce):
            return self.login_page(request, "The login form expired; please try again.", 403)
        old = await self.viewer(request)
        if old is not None:  # a login never reuses a session, whoever it belonged to
            await logins.log_out(self.app, old)
        try:
            session_id, viewer = await logins.log_in(
                self.app, self.settings, form.get("token", ""), address_of(request)
            )
        except ScsError as error:
            if error.code == ErrorCode.AUTH_TOO_MANY_ATTEMPTS:
                message = f"Too many failed logins from here; try again in {error.details.get('retry_after', 1)} s."
                return self.login_page(request, message, 429)
            return self.login_page(request, f"Login refused: {error.message}.", 401)
        response = web.redirect("/ui/sessions")
        max_age = max(1, viewer.expires_at - int(time.time()))
        web.set_cookie(response, request, web.COOKIE, session_id, max_age, "/ui")
        response.delete_cookie(web.LOGIN_COOKIE, path="/ui/login")
        return response

    async def logout(self, request: Request) -> Response:
        posted = await self.posted(request)
        if isinstance(posted, Response):
            return posted
        viewer, _ = posted
        await logins.log_out(self.app, viewer)
        response = web.redirect("/ui/login")
        response.delete_cookie(web.COOKIE, path="/ui")
        return response

    # -- sessions ---------------------------------------------------------------
    async def sessions(self, request: Request) -> Response:
        viewer = await self.viewer(request)
        if viewer is None:
            return web.redirect("/ui/login")
        params = request.query_params
        status = params.get("status", "all")
        status = status if status in ("all", "open", "closed") else "all"
        text = params.get("q", "")[:200]
        query = params.get("search", "")[:500]
        cursor = params.get("cursor") or None
        error: str | None = None
        results: list[dict[str, Any]] | None = None
        sessions = sessions_api.service(self.app)
        try:
            listed = await sessions.list_page(PAGE_SIZE, cursor, status != "open")
        except ScsError as refusal:
            listed = await sessions.list_page(PAGE_SIZE, None, status != "open")
            error = refusal.message
        search = search_api.service(self.app)
        if query and search is not None:
            try:
                found = await search.context(viewer.identity, None, query, limit=20)
                results = found["results"]
            except ScsError as refusal:
                error = f"Search refused: {refusal.message}"
        needle = text.casefold()
        shown = [
            session
            for session in listed["sessions"]
            if not (status == "closed" and session["is_active"])
            and (not needle or needle in f"{session['purpose']} {session['created_by']}".casefold())
        ]
        cursors = reads.read_cursors(self.app)
        unread = (
            await cursors.unread(viewer.identity, [s["id"] for s in shown])
            if cursors is not None
            else None
        )
        rows = [await self.session_row(viewer, session, unread) for session in shown]
        body = views.sessions_page(
            rows, status, text, query, results, listed["next_cursor"], error, unread is not None
        )
        return self.page(viewer, "Sessions", body, "/ui/sessions")

    async def session_row(
        self, viewer: Viewer, session: dict[str, Any], unread: dict[str, int] | None
    ) -> dict[str, Any]:
        """A sessions-list row: visible messages, unread (the inbox's cursors), activity."""
        messaging = messaging_api.service(self.app)
        latest = await messaging.latest(viewer.identity, session["id"], 1)
        newest = latest["messages"][-1] if latest["messages"] else None
        return {
            "session": session,
            "messages": latest["total_count"],
            "unread": unread.get(session["id"], 0) if unread is not None else None,
            "last_activity": max(
                filter(None, [session["updated_at"], newest and newest["timestamp"]])
            ),
        }

    async def session(self, request: Request) -> Response:
        viewer = await self.viewer(request)
        if viewer is None:
            return web.redirect("/ui/login")
        return await self.show_session(viewer, request.path_params["session_id"])

    async def show_session(
        self,
        viewer: Viewer,
        session_id: str,
        error: str | None = None,
        draft: str = "",
        status: int = 200,
    ) -> Response:
        try:
            view = await sessions_api.service(self.app).view(
                viewer.identity, session_id, self.settings.messages_shown
            )
        except ScsError as refusal:
            return web.error_page(web.status_of(refusal), refusal.message)
        cursors = reads.read_cursors(self.app)
        if view["messages"] and cursors is not None:
            await cursors.mark_read(viewer.identity, session_id, view["messages"][-1]["id"])
        body = views.session_page(viewer, view, error, draft)
        response = self.page(viewer, view["session"]["purpose"] or session_id, body, "/ui/sessions")
        response.status_code = status
        return response

    async def post_message(self, request: Request) -> Response:
        posted = await self.posted(request)
        if isinstance(posted, Response):
            return posted
        viewer, form = posted
        session_id = request.path_params["session_id"]
        content = form.get("content", "")
        if not viewer.identity.can("write"):
            return web.error_page(403, "Your token cannot write (no 'write' permission).")
        parent_text = form.get("parent_message_id", "").strip()
        if parent_text and not (parent_text.isdigit() and len(parent_text) < 19):
            return await self.show_session(
                viewer, session_id, "Not sent: Reply to # must be a message number", content, 400
            )
        messaging = messaging_api.service(self.app)
        try:
            # as the add_message tool: rate limits, timing, refusals audited
            added = await self.app.calls.as_tool(
                viewer.identity,
                "add_message",
                lambda: messaging.add(
                    viewer.identity,
                    session_id,
                    content,
                    form.get("visibility", "public"),
                    None,
                    int(parent_text) if parent_text else None,
                ),
            )
        except ScsError as refusal:
            return await self.show_session(
                viewer, session_id, f"Not sent: {refusal.message}", content, web.status_of(refusal)
            )
        return web.redirect(f"/ui/sessions/{session_id}#m-{added['message_id']}")

    # -- memory, health, audit, extra pages --------------------------------------
    async def memory(self, request: Request) -> Response:
        viewer = await self.viewer(request)
        if viewer is None:
            return web.redirect("/ui/login")
        memory = memory_api.service(self.app)
        if memory is None:
            return web.error_page(404, "The memory plugin is not enabled.")
        identity = viewer.identity
        agent_id = request.query_params.get("agent_id", "").strip()[:100] or identity.agent_id
        try:
            snapshot = await memory.snapshot(identity, agent_id)
        except ScsError as refusal:
            return web.error_page(web.status_of(refusal), refusal.message)
        if agent_id != identity.agent_id:  # only an admin gets here: reading another's memory
            await auth_store.audit(
                self.app.db,
                "dashboard_memory",
                "read",
                agent_id=identity.agent_id,
                detail=f"memory of {agent_id}",
                client=address_of(request),
            )
        return self.page(
            viewer, "Memory", views.memory_page(viewer, snapshot, agent_id), "/ui/memory"
        )

    async def admin(self, request: Request) -> Viewer | Response:
        viewer = await self.viewer(request)
        if viewer is None:
            return web.redirect("/ui/login")
        if not viewer.identity.is_admin:
            return web.error_page(403, "This page is for admins (log in with the admin API key).")
        return viewer

    async def health(self, request: Request) -> Response:
        viewer = await self.admin(request)
        if isinstance(viewer, Response):
            return viewer
        snapshot = monitoring_api.snapshot(self.app)
        history = monitoring_api.history(self.app)
        if snapshot is None or history is None:
            return web.error_page(404, "The monitoring plugin is not enabled.")
        span = monitoring_api.MINUTES_KEPT
        body = views.health_page(snapshot, history.recent(span), span)
        return self.page(viewer, "Health", body, "/ui/health")

    async def audit(self, request: Request) -> Response:
        viewer = await self.admin(request)
        if isinstance(viewer, Response):
            return viewer
        rows = await auth_store.audit_rows(self.app.db, limit=200)
        return self.page(viewer, "Audit", views.audit_page(rows), "/ui/audit")

    async def extra(self, request: Request) -> Response:
        viewer = await self.viewer(request)
        if viewer is None:
            return web.redirect("/ui/login")
        name = request.url.path.rsplit("/", 1)[-1]
        service = self.rows_service(name)
        if service is None:
            return web.error_page(404, f"No plugin serves the {EXTRA_PAGES.get(name, name)} page.")
        rows = await service.dashboard_rows(viewer.identity)
        title = EXTRA_PAGES[name]
        body = views.rows_page(title, rows)
        if name == "leases" and viewer.identity.is_admin and self.lease_board() is not None:
            body = views.leases_page(title, rows, viewer.csrf)
        return self.page(viewer, title, body, f"/ui/{name}")

    def lease_board(self) -> LeaseBoard | None:
        """The built-in Leases board (the leases plugin's), which can force-release."""
        from scs_dashboard.boards import LeaseBoard  # boards imports this module

        service = self.rows_service("leases")
        return service if isinstance(service, LeaseBoard) else None

    async def release_lease(self, request: Request) -> Response:
        """An admin's force release from the Leases page (CSRF-checked POST)."""
        posted = await self.posted(request)
        if isinstance(posted, Response):
            return posted
        viewer, form = posted
        board = self.lease_board()
        if board is None:
            return web.error_page(404, "The leases plugin is not enabled.")
        try:  # a non-admin is refused (and audited) as the tool would refuse it
            await board.force_release(viewer.identity, form.get("lease_id", ""))
        except ScsError as refusal:
            return web.error_page(web.status_of(refusal), f"Not released: {refusal.message}")
        return web.redirect("/ui/leases")

    async def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        media_type = STATIC_FILES.get(name)
        if media_type is None:
            return Response("not found", status_code=404)
        content = resources.files("scs_dashboard").joinpath("static", name).read_bytes()
        return Response(content, media_type=media_type, headers={"cache-control": "no-cache"})
