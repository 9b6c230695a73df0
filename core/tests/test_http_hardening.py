"""HTTP safety: security headers, Host/Origin protection, CORS, body and head limits,
malformed bodies."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx2
import pytest
from scs_server.http_parser import HEAD_LIMIT
from scs_server.testing import endless_head, raw_http

if TYPE_CHECKING:
    from scs_server.testing import ScsServer

MCP_HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "0"},
    },
}


@pytest.fixture
async def server(scs_factory: Any) -> ScsServer:
    return await scs_factory("", http=True, max_body_bytes=50_000)


def root(server: ScsServer) -> str:
    assert server.url
    return server.url.removesuffix("/mcp")


async def test_security_headers_everywhere(server: ScsServer) -> None:
    async with httpx2.AsyncClient(timeout=10) as http:
        for response in (
            await http.get(root(server) + "/health"),
            await http.post(server.url or "", json=INIT, headers=MCP_HEADERS),
            await http.get(root(server) + "/nope"),
        ):
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["referrer-policy"] == "no-referrer"
            assert "default-src 'none'" in response.headers["content-security-policy"]


async def test_health_needs_no_token(server: ScsServer) -> None:
    async with httpx2.AsyncClient(timeout=10) as http:
        body = (await http.get(root(server) + "/health")).json()
    assert body["status"] == "ok"
    assert body["version"]


async def test_foreign_host_and_origin_are_refused(server: ScsServer) -> None:
    async with httpx2.AsyncClient(timeout=10) as http:
        evil_host = await http.post(
            server.url or "", json=INIT, headers={**MCP_HEADERS, "host": "evil.example:80"}
        )
        evil_origin = await http.post(
            server.url or "", json=INIT, headers={**MCP_HEADERS, "origin": "https://evil.example"}
        )
    assert evil_host.status_code == 421
    assert evil_origin.status_code == 403


async def test_cors_is_off_unless_configured(server: ScsServer, scs_factory: Any) -> None:
    preflight = {
        "origin": "http://localhost:3000",
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type",
    }
    async with httpx2.AsyncClient(timeout=10) as http:
        off = await http.options(server.url or "", headers=preflight)
        assert "access-control-allow-origin" not in off.headers
        configured = await scs_factory("", http=True, cors_origins=["http://localhost:3000"])
        on = await http.options(configured.url or "", headers=preflight)
    assert on.headers["access-control-allow-origin"] == "http://localhost:3000"


async def test_oversized_body_is_refused_with_413(server: ScsServer) -> None:
    big = dict(INIT, params={**INIT["params"], "padding": "x" * 60_000})
    async with httpx2.AsyncClient(timeout=10) as http:
        response = await http.post(server.url or "", json=big, headers=MCP_HEADERS)
    assert response.status_code == 413
    assert response.json()["code"] == "VALIDATION_002"


@pytest.mark.parametrize("body", [b"{not json", b"[]", b'{"jsonrpc": "2.0"}', b"\x00\xff"])
async def test_malformed_json_rpc_gets_a_clean_client_error(server: ScsServer, body: bytes) -> None:
    async with httpx2.AsyncClient(timeout=10) as http:
        response = await http.post(server.url or "", content=body, headers=MCP_HEADERS)
        assert 400 <= response.status_code < 500
        assert "Traceback" not in response.text
        health = await http.get(root(server) + "/health")
    assert health.status_code == 200


def _health(header_bytes: int, *, close: bool = False) -> bytes:
    pad = b"x" * header_bytes
    connection = b"close" if close else b"keep-alive"
    return b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\nx-pad: %s\r\nconnection: %s\r\n\r\n" % (
        pad,
        connection,
    )


async def test_oversized_request_head_is_refused_with_431(server: ScsServer) -> None:
    # a head that never ends: refused once past the limit, the connection closed (read() ends)
    answer = await raw_http(server.url or "", endless_head())
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert answer.endswith(b"over %d KiB in all" % (HEAD_LIMIT // 1024))
    async with httpx2.AsyncClient(timeout=10) as http:  # the server goes on serving
        assert (await http.get(root(server) + "/health")).status_code == 200


async def test_request_heads_under_the_limit_pass_on_a_kept_alive_connection(
    server: ScsServer,
) -> None:
    # two heads of 12 KiB on one connection: 24 KiB in all, each under the limit
    answer = await raw_http(server.url or "", _health(12 * 1024), _health(12 * 1024, close=True))
    assert answer.count(b"HTTP/1.1 200 OK") == 2
    assert b" 431 " not in answer
