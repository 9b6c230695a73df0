# ruff: noqa: ARG001  # the tools take scs's arguments and ignore them on purpose
"""The floor: a bare FastMCP server whose tools do nothing, served like ``scs serve``.

Same FastMCP version, same streamable-HTTP app (``http_app(path="/mcp")``), same
uvicorn settings and HTTP parser (``scs_server.http_options``), garbage-collector tuning
(``scs_server.runner.tune_gc``) as ``scs serve``; tools with the same names and arguments
as scs's, returning a constant. No middleware, no database, no auth.

    python bench/noop_server.py   # prints "noop: listening on http://127.0.0.1:PORT/mcp"

For attributing scs's overhead: ``--middleware N`` adds N pass-through FastMCP
middlewares (scs runs 7: errors, auth, monitoring x2, ratelimit x2, cache) and
``--mounted`` serves the tools from a mounted child server, as scs serves each plugin's.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
from typing import Any

import uvicorn
from fastmcp import FastMCP
from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext
from scs_server.http_options import uvicorn_options
from scs_server.runner import tune_gc

mcp: FastMCP[Any] = FastMCP(name="noop", mask_error_details=True)
ids = itertools.count(1)


@mcp.tool
async def add_message(
    session_id: str,
    content: str,
    visibility: str = "public",
    metadata: dict[str, Any] | str | None = None,
    parent_message_id: int | None = None,
) -> dict[str, Any]:
    """Pretend to add a message."""
    return {"success": True, "message_id": next(ids), "session_id": session_id}


@mcp.tool
async def get_messages(
    session_id: str,
    limit: int = 50,
    offset: int = 0,
    after_id: int | None = None,
    visibility_filter: str | None = None,
) -> dict[str, Any]:
    """Pretend to read messages."""
    return {"success": True, "session_id": session_id, "messages": [], "count": 0}


@mcp.tool
async def create_session(
    purpose: str, metadata: dict[str, Any] | str | None = None
) -> dict[str, Any]:
    """Pretend to create a session."""
    return {"success": True, "session_id": f"session_{next(ids):016x}"}


@mcp.tool
async def set_memory(
    key: str,
    value: Any,
    session_id: str | None = None,
    expires_in: int | None = None,
    metadata: dict[str, Any] | None = None,
    overwrite: bool = True,
    if_version: int | None = None,
) -> dict[str, Any]:
    """Pretend to store a value."""
    return {"success": True, "key": key, "version": 1}


@mcp.tool
async def get_memory(key: str, session_id: str | None = None) -> dict[str, Any]:
    """Pretend to read a value."""
    return {"success": True, "key": key, "value": None}


@mcp.tool
async def search_context(
    session_id: str, query: str, limit: int = 10, fuzzy_threshold: float = 60.0
) -> dict[str, Any]:
    """Pretend to search."""
    return {"success": True, "results": [], "count": 0}


class PassThrough(Middleware):
    """A middleware that only hands the call on (what every scs middleware does at least)."""

    async def on_call_tool(
        self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]
    ) -> Any:
        return await call_next(context)


def build(middleware: int, mounted: bool) -> FastMCP[Any]:
    server = mcp
    if mounted:
        server = FastMCP(name="noop-root", mask_error_details=True)
        server.mount(mcp)
    for _ in range(middleware):
        server.add_middleware(PassThrough())
    return server


async def main() -> None:
    parser = argparse.ArgumentParser(description="the no-op FastMCP floor server")
    parser.add_argument("--middleware", type=int, default=0, help="pass-through middlewares")
    parser.add_argument("--mounted", action="store_true", help="serve tools from a mounted child")
    parser.add_argument(
        "--no-gc-tuning", action="store_true", help="leave the garbage collector as Python sets it"
    )
    parser.add_argument(
        "--http",
        choices=["httptools", "h11"],
        default="httptools",
        help="HTTP parser: scs serve's (bounded httptools) or uvicorn's pure-Python h11",
    )
    args = parser.parse_args()
    server = build(args.middleware, args.mounted)
    if not args.no_gc_tuning:
        tune_gc()  # what `scs serve` does after start-up: the floor must not pay for GC scs avoids
    config = uvicorn.Config(
        server.http_app(path="/mcp", host_origin_protection=True),
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="on",
        **(uvicorn_options() | ({"http": "h11"} if args.http == "h11" else {})),
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(6000):
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    for listener in server.servers:
        for sock in listener.sockets:
            host, port = sock.getsockname()[:2]
            print(f"noop: listening on http://{host}:{port}/mcp", file=sys.stderr, flush=True)
    await task


if __name__ == "__main__":
    asyncio.run(main())
