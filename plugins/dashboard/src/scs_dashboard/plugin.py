"""Hook implementations of the dashboard plugin: the ``/ui`` routes and their table."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scs_server import hookimpl
from starlette.routing import Route

from scs_dashboard.boards import offer_boards
from scs_dashboard.pages import Dashboard
from scs_dashboard.schema import MIGRATIONS
from scs_dashboard.settings import DashboardSettings
from scs_dashboard.stream import Stream

if TYPE_CHECKING:
    from collections.abc import Sequence

    from scs_server import Migration
    from scs_server.app import App


@hookimpl
def scs_requires() -> list[str]:
    # memory, search and monitoring are optional: their pages show when they are enabled
    return ["sessions", "messaging"]


@hookimpl
def scs_settings() -> type[DashboardSettings]:
    return DashboardSettings


@hookimpl
def scs_migrations() -> Sequence[Migration]:
    return MIGRATIONS


@hookimpl
def scs_startup(app: App) -> None:
    offer_boards(app)


@hookimpl
def scs_http_routes(app: App) -> Sequence[Route]:
    settings: DashboardSettings = app.config("dashboard")
    ui = Dashboard(app, settings)
    stream = Stream(app, settings)
    return [
        Route("/ui", ui.root, methods=["GET"]),
        Route("/ui/login", ui.login_get, methods=["GET"]),
        Route("/ui/login", ui.login_post, methods=["POST"]),
        Route("/ui/logout", ui.logout, methods=["POST"]),
        Route("/ui/sessions", ui.sessions, methods=["GET"]),
        Route("/ui/sessions/{session_id}", ui.session, methods=["GET"]),
        Route("/ui/sessions/{session_id}/messages", ui.post_message, methods=["POST"]),
        Route("/ui/stream", stream.endpoint, methods=["GET"]),
        Route("/ui/memory", ui.memory, methods=["GET"]),
        Route("/ui/health", ui.health, methods=["GET"]),
        Route("/ui/audit", ui.audit, methods=["GET"]),
        Route("/ui/inbox", ui.extra, methods=["GET"]),
        Route("/ui/leases", ui.extra, methods=["GET"]),
        Route("/ui/leases/release", ui.release_lease, methods=["POST"]),
        Route("/ui/static/{name}", ui.static, methods=["GET"]),
    ]
