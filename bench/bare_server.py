"""The start-up floor: a bare FastMCP server with one tool, served like ``scs serve``
(same ``http_app(path="/mcp")``, same uvicorn settings). Imports nothing of scs.

    python bench/bare_server.py PORT
"""

from __future__ import annotations

import sys
from typing import Any

import uvicorn
from fastmcp import FastMCP

mcp: FastMCP[Any] = FastMCP(name="bare")


@mcp.tool
def ping() -> str:
    """Answer pong."""
    return "pong"


if __name__ == "__main__":
    uvicorn.run(
        mcp.http_app(path="/mcp", host_origin_protection=True),
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        lifespan="on",
        server_header=False,
        access_log=False,
    )
