"""The suite's prompts: plain text, arguments, an embedded resource, an image."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import mcp_types
from fastmcp.prompts import Message
from pydantic import Field

from scs_conformance.media import RED_PIXEL_PNG

if TYPE_CHECKING:
    from fastmcp import FastMCP


def register_prompts(mcp: FastMCP[Any]) -> None:
    @mcp.prompt(name="test_simple_prompt")
    def simple() -> str:
        """A simple prompt without arguments."""
        return "This is a simple prompt for testing."

    @mcp.prompt(name="test_prompt_with_arguments")
    def with_arguments(
        arg1: Annotated[str, Field(description="First test argument")],
        arg2: Annotated[str, Field(description="Second test argument")],
    ) -> str:
        """A prompt with two required arguments (both completable)."""
        return f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"

    @mcp.prompt(name="test_prompt_with_embedded_resource")
    def with_embedded_resource(
        resourceUri: Annotated[
            str, Field(description="URI of the resource to embed")
        ],  # the suite's name
    ) -> list[Message]:
        """A prompt whose first message embeds a text resource."""
        contents = mcp_types.TextResourceContents(
            uri=resourceUri, mime_type="text/plain", text="Embedded resource content for testing."
        )
        return [
            Message(mcp_types.EmbeddedResource(type="resource", resource=contents)),
            Message("Please process the embedded resource above."),
        ]

    @mcp.prompt(name="test_prompt_with_image")
    def with_image() -> list[Message]:
        """A prompt whose first message is an image."""
        picture = mcp_types.ImageContent(type="image", data=RED_PIXEL_PNG, mime_type="image/png")
        return [Message(picture), Message("Please analyze the image above.")]
