"""A browser-like HTTP client for the dashboard tests: one cookie jar, form posts."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx2

if TYPE_CHECKING:
    from scs_server.testing import ScsServer, ServerFactory

CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')
PLUGINS = "default"


def base_of(server: ScsServer) -> str:
    assert server.url is not None
    return server.url.removesuffix("/mcp")


def csrf_of(page: str) -> str:
    found = CSRF_RE.search(page)
    assert found is not None, page
    return found.group(1)


@dataclass
class Browser:
    """Cookies kept between requests, redirects not followed (tests look at them)."""

    base: str
    http: httpx2.AsyncClient = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx2.AsyncClient(base_url=self.base, follow_redirects=False, timeout=20)

    async def get(self, path: str, **options: Any) -> httpx2.Response:
        return await self.http.get(path, **options)

    async def post(self, path: str, data: dict[str, str], **options: Any) -> httpx2.Response:
        return await self.http.post(path, data=data, **options)

    async def login(self, token: str) -> httpx2.Response:
        page = await self.get("/ui/login")
        assert page.status_code == 200
        return await self.post("/ui/login", {"token": token, "csrf": csrf_of(page.text)})

    async def logged_in(self, token: str) -> str:
        """Log in (must succeed); return the CSRF token of the session's pages."""
        response = await self.login(token)
        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/ui/sessions"
        page = await self.get("/ui/sessions")
        assert page.status_code == 200
        return csrf_of(page.text)

    async def close(self) -> None:
        await self.http.aclose()


async def dashboard(scs_factory: ServerFactory, **options: Any) -> ScsServer:
    return await scs_factory(PLUGINS, http=True, **options)
