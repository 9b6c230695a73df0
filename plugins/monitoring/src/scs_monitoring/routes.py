"""``GET /metrics``: the Prometheus text format, for holders of an API key or the metrics token."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import JSONResponse, Response

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from pydantic import SecretStr
    from scs.app import App
    from starlette.requests import Request

    from scs_monitoring.metrics import Metrics
    from scs_monitoring.settings import MonitoringSettings


def _refusal(status: int, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="scs-metrics"'} if status == 401 else None
    return JSONResponse(
        {
            "success": False,
            "code": "AUTH_001" if status == 401 else "AUTH_006",
            "error": message,
            "hint": "send the API key in X-API-Key (or the metrics token as a Bearer token)",
        },
        status_code=status,
        headers=headers,
    )


def _presented(request: Request) -> str | None:
    key = request.headers.get("x-api-key")
    if key:
        return key
    authorization = request.headers.get("authorization", "")
    if authorization[:7].lower() == "bearer ":
        return authorization[7:].strip() or None
    return None


def accepted(presented: str, secrets: list[SecretStr | None]) -> bool:
    """Constant-time comparison against every configured credential (no early exit)."""
    encoded = presented.encode()
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
            return _refusal(401, "credentials required for /metrics")
        credentials = [app.settings.api_key, app.settings.admin_api_key, settings.metrics_token]
        if not accepted(presented, credentials):
            return _refusal(403, "these credentials are not accepted for /metrics")
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return serve_metrics
