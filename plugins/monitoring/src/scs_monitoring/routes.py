"""``GET /metrics``: the Prometheus text format, for holders of the admin key or the
metrics token. Wrong credentials go through the core's failed-auth throttle."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from scs_server.errors import ErrorCode, ScsError
from scs_server.request import address_of, parse_bearer
from starlette.responses import JSONResponse, Response

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from pydantic import SecretStr
    from scs_server.app import App
    from starlette.requests import Request

    from scs_monitoring.metrics import Metrics
    from scs_monitoring.settings import MonitoringSettings


def _refusal(status: int, code: str, message: str, retry_after: int | None = None) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="scs-metrics"'} if status == 401 else {}
    body: dict[str, object] = {
        "success": False,
        "code": code,
        "error": message,
        "hint": "send the admin API key in X-API-Key (or the metrics token as a Bearer token)",
    }
    if retry_after is not None:
        body["retry_after"] = retry_after
        headers["Retry-After"] = str(retry_after)
    return JSONResponse(body, status_code=status, headers=headers)


def _presented(request: Request) -> str | None:
    key = request.headers.get("x-api-key")
    if key:
        return key
    return parse_bearer(request.headers.get("authorization"))


def accepted(presented: str, secrets: list[SecretStr | None]) -> bool:
    """Constant-time comparison against every configured credential (no early exit)."""
    encoded = presented.encode("utf-8", "surrogatepass")
    matched = False
    for secret in secrets:
        if secret is not None:
            matched |= hmac.compare_digest(encoded, secret.get_secret_value().encode())
    return matched


def metrics_endpoint(
    app: App, metrics: Metrics, settings: MonitoringSettings
) -> Callable[[Request], Awaitable[Response]]:
    """The /metrics handler bound to one App."""

    async def serve_metrics(request: Request) -> Response:
        presented = _presented(request)
        if presented is None:
            return _refusal(401, ErrorCode.AUTH_REQUIRED, "credentials required for /metrics")
        if not accepted(presented, [app.settings.admin_api_key, settings.metrics_token]):
            wrong = ScsError(
                ErrorCode.AUTH_BAD_API_KEY, "these credentials are not accepted for /metrics"
            )
            error = await app.auth.failed("metrics", address_of(request), presented, wrong)
            if error.code == ErrorCode.AUTH_TOO_MANY_ATTEMPTS:
                return _refusal(429, error.code, error.message, error.details["retry_after"])
            return _refusal(403, error.code, error.message)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return serve_metrics
