"""A minimal MCP client over streamable HTTP, standard library only: what the git hook
uses to call one tool, so that a commit does not pay for importing FastMCP, the MCP SDK,
httpx and pydantic (seconds on a busy machine) to send three requests.

It speaks the handshake of the streamable HTTP transport (``initialize``, then
``notifications/initialized``, then ``tools/call`` with the ``mcp-session-id`` and
``mcp-protocol-version`` headers) and reads answers sent as JSON or as an event stream.
Anything unexpected raises ``McpCallError``; the hook turns that into "could not check".
"""

from __future__ import annotations

import contextlib
import http.client
import json
import time
from typing import Any
from urllib.parse import urlsplit

PROTOCOL_VERSION = "2025-11-25"
CLIENT_INFO = {"name": "scs-guard", "version": "1"}


class McpCallError(Exception):
    """The call could not be made or the server refused it (the text says which)."""


class LightClient:
    """One MCP session on ``url`` (``http://host:port/path``) with a Bearer ``token``;
    ``timeout`` bounds each network operation, and the whole session lasts at most twice
    that (a server trickling events cannot hold a commit)."""

    def __init__(self, url: str, token: str, timeout: float) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise McpCallError(f"not an http(s) URL: {url!r}")
        self.url = parts
        self.path = parts.path or "/"
        self.timeout = timeout
        self.deadline = time.monotonic() + 2 * timeout
        self.headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
        }
        self.next_id = 0

    def __enter__(self) -> LightClient:
        result = self._request(
            "initialize",
            {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": CLIENT_INFO,
            },
        )
        version = result.get("protocolVersion")
        if isinstance(version, str):
            self.headers["mcp-protocol-version"] = version
        self._post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return self

    def __exit__(self, *exc: object) -> None:
        if "mcp-session-id" in self.headers:
            # ends the session on the server; a failure here changes nothing
            with contextlib.suppress(OSError, http.client.HTTPException, McpCallError):
                self._send("DELETE", None)

    def call_tool(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """The tool's structured result; a tool error raises ``McpCallError``."""
        result = self._request("tools/call", {"name": name, "arguments": arguments})
        if result.get("isError"):
            texts = [c.get("text", "") for c in result.get("content", []) if isinstance(c, dict)]
            raise McpCallError(f"{name} failed: {' '.join(texts)[:300]}")
        structured = result.get("structuredContent")
        return structured if isinstance(structured, dict) else {}

    # -- transport -----------------------------------------------------------
    def _request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self.next_id += 1
        message = {"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params}
        answer = self._post(message, expect_id=self.next_id)
        if answer is None:
            raise McpCallError(f"no answer to {method}")
        if "error" in answer:
            error = answer["error"]
            raise McpCallError(f"{method}: {error.get('message', error)}")
        result = answer.get("result")
        if not isinstance(result, dict):
            raise McpCallError(f"{method}: malformed result")
        return result

    def _post(self, message: dict[str, Any], expect_id: int | None = None) -> dict[str, Any] | None:
        return self._send("POST", json.dumps(message).encode(), expect_id)

    def _send(
        self, method: str, body: bytes | None, expect_id: int | None = None
    ) -> dict[str, Any] | None:
        connection_class = (
            http.client.HTTPSConnection
            if self.url.scheme == "https"
            else http.client.HTTPConnection
        )
        if time.monotonic() > self.deadline:
            raise McpCallError("no answer in time")
        connection = connection_class(self.url.hostname or "", self.url.port, timeout=self.timeout)
        try:
            connection.request(method, self.path, body=body, headers=self.headers)
            response = connection.getresponse()
            session = response.getheader("mcp-session-id")
            if session:
                self.headers["mcp-session-id"] = session
            if response.status >= 400:
                detail = response.read(300).decode(errors="replace")
                raise McpCallError(f"HTTP {response.status} from the server: {detail}")
            if expect_id is None:
                response.read()
                return None
            kind = response.getheader("content-type", "")
            if kind.startswith("text/event-stream"):
                return _from_event_stream(response, expect_id, self.deadline)
            return _matching(json.loads(response.read() or b"null"), expect_id)
        finally:
            connection.close()


def _matching(message: Any, expect_id: int) -> dict[str, Any] | None:
    """``message`` when it is the JSON-RPC answer with ``expect_id`` (a batch: the member)."""
    for item in message if isinstance(message, list) else [message]:
        if isinstance(item, dict) and item.get("id") == expect_id:
            return item
    return None


def _from_event_stream(
    response: http.client.HTTPResponse, expect_id: int, deadline: float
) -> dict[str, Any]:
    """Read server-sent events until the answer with ``expect_id`` (notifications and
    requests the server sends first are skipped), at the latest until ``deadline``."""
    data: list[str] = []
    for raw in response:
        if time.monotonic() > deadline:
            raise McpCallError("no answer in time")
        line = raw.decode().rstrip("\r\n")
        if line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
        elif not line and data:
            answer = _matching(json.loads("\n".join(data)), expect_id)
            if answer is not None:
                return answer
            data = []
    answer = _matching(json.loads("\n".join(data)), expect_id) if data else None
    if answer is None:
        raise McpCallError("the event stream ended without an answer")
    return answer
