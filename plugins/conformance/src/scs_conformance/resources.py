"""The suite's resources: static text, binary (blob), a template, and one to subscribe to."""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

from scs_server import requires

from scs_conformance.media import RED_PIXEL_PNG

if TYPE_CHECKING:
    from fastmcp import FastMCP

OPEN = requires("none")  # readable without a token; see the README

TEMPLATE = "test://template/{id}/data"


def register_resources(mcp: FastMCP[Any]) -> None:
    @mcp.resource(
        "test://static-text",
        name="static-text",
        description="A static text resource",
        mime_type="text/plain",
        tags=OPEN,
    )
    def static_text() -> str:
        return "This is the content of the static text resource."

    @mcp.resource(
        "test://static-binary",
        name="static-binary",
        description="A static binary resource (a 1x1 red PNG, read as a base64 blob)",
        mime_type="image/png",
        tags=OPEN,
    )
    def static_binary() -> bytes:
        return base64.b64decode(RED_PIXEL_PNG)

    @mcp.resource(
        "test://watched-resource",
        name="watched-resource",
        description="The resource the suite subscribes to",
        mime_type="text/plain",
        tags=OPEN,
    )
    def watched_resource() -> str:
        return "Watched resource content"

    @mcp.resource(
        TEMPLATE,
        name="template-data",
        description="A templated resource: JSON naming the {id} it was read with",
        mime_type="application/json",
        tags=OPEN,
    )
    def template_data(id: str) -> str:  # the suite names the parameter id
        body = {"id": id, "templateTest": True, "data": f"Data for ID: {id}"}
        return json.dumps(body, separators=(",", ":"))
