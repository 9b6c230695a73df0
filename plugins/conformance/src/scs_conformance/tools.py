"""The suite's tools: every content type a tool can return, logging, progress, errors,
sampling and elicitation (server-to-client requests)."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Annotated, Any

import mcp_types
from fastmcp import Context  # noqa: TC002 (FastMCP reads the annotation at run time)
from fastmcp.exceptions import ToolError
from fastmcp.tools import ToolResult
from pydantic import Field
from scs_server import requires

from scs_conformance.media import RED_PIXEL_PNG, SILENT_WAV

if TYPE_CHECKING:
    from fastmcp import FastMCP

OPEN = requires("none", rate="read")  # the suite sends no token; see the README
STEP_SECONDS = 0.05  # the suite asks for ~50 ms between notifications

ERROR_TEXT = "This tool intentionally returns an error for testing"
CONTACT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "username": {"type": "string", "description": "User's response"},
        "email": {"type": "string", "description": "User's email address"},
    },
    "required": ["username", "email"],
}
DEFAULTS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "User name", "default": "John Doe"},
        "age": {"type": "integer", "description": "User age", "default": 30},
        "score": {"type": "number", "description": "User score", "default": 95.5},
        "status": {
            "type": "string",
            "description": "User status",
            "enum": ["active", "inactive", "pending"],
            "default": "active",
        },
        "verified": {"type": "boolean", "description": "Verification status", "default": True},
    },
    "required": [],
}
ENUMS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "untitledSingle": {"type": "string", "enum": ["option1", "option2", "option3"]},
        "titledSingle": {
            "type": "string",
            "oneOf": [
                {"const": "value1", "title": "First Option"},
                {"const": "value2", "title": "Second Option"},
                {"const": "value3", "title": "Third Option"},
            ],
        },
        "legacyEnum": {
            "type": "string",
            "enum": ["opt1", "opt2", "opt3"],
            "enumNames": ["Option One", "Option Two", "Option Three"],
        },
        "untitledMulti": {
            "type": "array",
            "items": {"type": "string", "enum": ["option1", "option2", "option3"]},
        },
        "titledMulti": {
            "type": "array",
            "items": {
                "anyOf": [
                    {"const": "value1", "title": "First Choice"},
                    {"const": "value2", "title": "Second Choice"},
                    {"const": "value3", "title": "Third Choice"},
                ]
            },
        },
    },
    "required": [],
}


def text(value: str) -> mcp_types.TextContent:
    return mcp_types.TextContent(type="text", text=value)


def image() -> mcp_types.ImageContent:
    return mcp_types.ImageContent(type="image", data=RED_PIXEL_PNG, mime_type="image/png")


def embedded_text(uri: str, mime_type: str, value: str) -> mcp_types.EmbeddedResource:
    contents = mcp_types.TextResourceContents(uri=uri, mime_type=mime_type, text=value)
    return mcp_types.EmbeddedResource(type="resource", resource=contents)


async def _elicit(ctx: Context, message: str, schema: dict[str, Any]) -> mcp_types.ElicitResult:
    try:
        return await ctx.session.elicit(message, schema, related_request_id=ctx.request_id)
    except Exception as error:  # the client lacks the capability, or refused the request
        raise ToolError(f"elicitation failed: {error}") from None


def register_tools(mcp: FastMCP[Any]) -> None:
    @mcp.tool(tags=OPEN)
    def test_simple_text() -> ToolResult:
        """Text content."""
        return ToolResult([text("This is a simple text response for testing.")])

    @mcp.tool(tags=OPEN)
    def test_image_content() -> ToolResult:
        """Image content (a 1x1 red PNG)."""
        return ToolResult([image()])

    @mcp.tool(tags=OPEN)
    def test_audio_content() -> ToolResult:
        """Audio content (a short silent WAV)."""
        audio = mcp_types.AudioContent(type="audio", data=SILENT_WAV, mime_type="audio/wav")
        return ToolResult([audio])

    @mcp.tool(tags=OPEN)
    def test_embedded_resource() -> ToolResult:
        """An embedded text resource."""
        embedded = embedded_text(
            "test://embedded-resource", "text/plain", "This is an embedded resource content."
        )
        return ToolResult([embedded])

    @mcp.tool(tags=OPEN)
    def test_multiple_content_types() -> ToolResult:
        """Text, image and an embedded JSON resource in one result."""
        data = json.dumps({"test": "data", "value": 123}, separators=(",", ":"))
        resource = embedded_text("test://mixed-content-resource", "application/json", data)
        return ToolResult([text("Multiple content types test:"), image(), resource])

    @mcp.tool(tags=OPEN)
    async def test_tool_with_logging(ctx: Context) -> ToolResult:
        """Sends three info log notifications while it runs."""
        await ctx.info("Tool execution started")
        await asyncio.sleep(STEP_SECONDS)
        await ctx.info("Tool processing data")
        await asyncio.sleep(STEP_SECONDS)
        await ctx.info("Tool execution completed")
        return ToolResult([text("Tool with logging executed successfully")])

    @mcp.tool(tags=OPEN)
    async def test_tool_with_progress(ctx: Context) -> ToolResult:
        """Reports progress 0, 50 and 100 of 100 (when the request carries a progressToken)."""
        for step in (0, 50, 100):
            await ctx.report_progress(step, 100)
            if step < 100:
                await asyncio.sleep(STEP_SECONDS)
        return ToolResult([text("Tool with progress executed successfully")])

    @mcp.tool(tags=OPEN)
    def test_error_handling() -> ToolResult:
        """Always fails: an MCP tool error (isError) with a text message."""
        raise ToolError(ERROR_TEXT)

    @mcp.tool(tags=OPEN)
    async def test_sampling(
        prompt: Annotated[str, Field(description="The prompt to send to the LLM")],
        ctx: Context,
    ) -> ToolResult:
        """Asks the client's LLM (sampling/createMessage) and returns its answer."""
        message = mcp_types.SamplingMessage(role="user", content=text(prompt))
        try:
            result = await ctx.session.create_message(
                [message], max_tokens=100, related_request_id=ctx.request_id
            )
        except Exception as error:  # the client lacks the capability, or refused the request
            raise ToolError(f"sampling failed: {error}") from None
        content = result.content
        answer = content.text if isinstance(content, mcp_types.TextContent) else str(content)
        return ToolResult([text(f"LLM response: {answer}")])

    @mcp.tool(tags=OPEN)
    async def test_elicitation(
        message: Annotated[str, Field(description="The message to show the user")],
        ctx: Context,
    ) -> ToolResult:
        """Asks the user (elicitation/create) for a username and an email."""
        result = await _elicit(ctx, message, CONTACT_SCHEMA)
        return ToolResult(
            [text(f"User response: action={result.action}, content={json.dumps(result.content)}")]
        )

    @mcp.tool(tags=OPEN)
    async def test_elicitation_sep1034_defaults(ctx: Context) -> ToolResult:
        """Elicitation whose fields all have defaults (SEP-1034)."""
        result = await _elicit(ctx, "Please review and update the form fields", DEFAULTS_SCHEMA)
        return ToolResult([text(_completed(result))])

    @mcp.tool(tags=OPEN)
    async def test_elicitation_sep1330_enums(ctx: Context) -> ToolResult:
        """Elicitation with the five enum forms (SEP-1330)."""
        result = await _elicit(ctx, "Please select options from the enum fields", ENUMS_SCHEMA)
        return ToolResult([text(_completed(result))])


def _completed(result: mcp_types.ElicitResult) -> str:
    return f"Elicitation completed: action={result.action}, content={json.dumps(result.content)}"
