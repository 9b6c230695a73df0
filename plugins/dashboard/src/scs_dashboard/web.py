"""HTTP plumbing of the dashboard: headers, cookies, forms, error pages."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from scs_server.errors import ErrorCode, ScsError
from starlette.responses import HTMLResponse, RedirectResponse, Response

from scs_dashboard import views

if TYPE_CHECKING:
    from starlette.requests import Request

    from scs_dashboard.html import Html

COOKIE = "scs_ui"
LOGIN_COOKIE = "scs_ui_login"
MAX_FORM_FIELDS = 20
# scripts and styles only from our own /ui/static files: no inline script can run
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
STATUS_OF_CODE: dict[str, int] = {
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.AUTH_FORBIDDEN: 403,
    ErrorCode.AUTH_TOO_MANY_ATTEMPTS: 429,
    ErrorCode.SESSION_CLOSED: 409,
    ErrorCode.RATE_LIMITED: 429,
}


# "no-referrer" (the core's default) makes browsers send "Origin: null" with form posts,
# which the Host/Origin guard refuses; same-origin still sends nothing to other sites
HEADERS = {"content-security-policy": CSP, "referrer-policy": "same-origin"}


def html(body: Html, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers=HEADERS)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def error_page(status: int, message: str) -> HTMLResponse:
    return html(views.page(str(status), views.error_page(status, message)), status)


def status_of(error: ScsError) -> int:
    return STATUS_OF_CODE.get(error.code, 400)


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def set_cookie(
    response: Response, request: Request, name: str, value: str, max_age: int, path: str
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=path,
        httponly=True,
        samesite="strict",
        secure=is_https(request),
    )


async def read_form(request: Request) -> dict[str, str] | None:
    """The urlencoded form of a POST (first value of each field), or None if it is not one."""
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return None
    body = await request.body()
    try:
        fields = parse_qs(
            body.decode("utf-8", "strict"),
            keep_blank_values=True,
            strict_parsing=False,
            max_num_fields=MAX_FORM_FIELDS,
        )
    except (UnicodeDecodeError, ValueError):
        return None
    return {name: values[0] for name, values in fields.items()}
