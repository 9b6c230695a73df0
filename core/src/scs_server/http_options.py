"""The uvicorn settings every scs HTTP server shares: ``scs serve``, its reload mode,
the test servers (``scs_server.testing.serve_http``) and the bench's no-op floor."""

from __future__ import annotations

from typing import Any

from scs_server.http_parser import BoundedHttpToolsProtocol

KEEPALIVE_S = 75
"""How long an idle HTTP connection stays open. Longer than a client pool's idle expiry
(httpx: 5 s) and a load balancer's idle timeout (commonly 60 s): with uvicorn's default
of 5 s the server closes connections a client is about to reuse, and a request sent at
that moment fails ("Connection closed"), which overloaded CI runs hit."""


def uvicorn_options() -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.Config`` / ``uvicorn.run`` (host, port, app and
    log level are the caller's)."""
    return {
        "http": BoundedHttpToolsProtocol,  # httptools, with a bound on a request's head
        "timeout_keep_alive": KEEPALIVE_S,
        "timeout_graceful_shutdown": 10,
        "server_header": False,
        "access_log": False,
        # forwarded headers are honoured only from SCS_TRUSTED_PROXIES (App.http_app)
        "proxy_headers": False,
    }
