"""The conformance fixtures through a real MCP client over HTTP, without a token: every
content type, logging, progress, sampling, elicitation, completions, and that the plugin
opens nothing else."""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

import mcp_types
import pytest
from scs_conformance.tools import ERROR_TEXT

if TYPE_CHECKING:
    from fastmcp import Client
    from scs_server.testing import ScsServer, ServerFactory

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# logging and sampling are deprecated at 2026-07-28; these tests use them on purpose
pytestmark = pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")


async def legacy_client(server: ScsServer, **handlers: Any) -> Client[Any]:
    """A token-less client on the handshake era (2025-11-25), where the server may send
    requests (sampling, elicitation) and notifications back during a call."""
    return await server.open_client(mode="legacy", **handlers)


@pytest.fixture
async def server(scs_factory: ServerFactory) -> ScsServer:
    return await scs_factory(plugins="default,conformance", http=True)


async def test_content_types_come_back_without_a_token(server: ScsServer) -> None:
    client = await legacy_client(server)

    simple = await client.call_tool("test_simple_text", {})
    assert [(c.type, c.text) for c in simple.content] == [
        ("text", "This is a simple text response for testing.")
    ]

    (picture,) = (await client.call_tool("test_image_content", {})).content
    assert picture.type == "image" and picture.mime_type == "image/png"
    assert base64.b64decode(picture.data).startswith(PNG_SIGNATURE)

    (sound,) = (await client.call_tool("test_audio_content", {})).content
    assert sound.type == "audio" and sound.mime_type == "audio/wav"
    wav = base64.b64decode(sound.data)
    assert wav[:4] == b"RIFF" and wav[8:12] == b"WAVE"

    (embedded,) = (await client.call_tool("test_embedded_resource", {})).content
    assert embedded.type == "resource"
    assert str(embedded.resource.uri) == "test://embedded-resource"
    assert embedded.resource.text == "This is an embedded resource content."

    mixed = (await client.call_tool("test_multiple_content_types", {})).content
    assert [c.type for c in mixed] == ["text", "image", "resource"]
    assert json.loads(mixed[2].resource.text) == {"test": "data", "value": 123}
    assert mixed[2].resource.mime_type == "application/json"


async def test_error_tool_is_an_mcp_tool_error_with_its_own_message(server: ScsServer) -> None:
    client = await legacy_client(server)
    result = await client.call_tool("test_error_handling", {}, raise_on_error=False)
    assert result.is_error is True
    assert [c.text for c in result.content] == [ERROR_TEXT]


async def test_logging_and_progress_notifications_arrive_during_the_call(
    server: ScsServer,
) -> None:
    logs: list[Any] = []
    progress: list[tuple[float, float | None]] = []

    async def on_log(message: Any) -> None:
        logs.append(message)

    async def on_progress(value: float, total: float | None, _message: str | None) -> None:
        progress.append((value, total))

    client = await legacy_client(server, log_handler=on_log, progress_handler=on_progress)
    await client.set_logging_level("debug")
    result = await client.call_tool("test_tool_with_logging", {})
    assert result.is_error is False
    assert [(m.level, m.data["msg"]) for m in logs] == [
        ("info", "Tool execution started"),
        ("info", "Tool processing data"),
        ("info", "Tool execution completed"),
    ]

    await client.call_tool("test_tool_with_progress", {})
    assert progress == [(0, 100), (50, 100), (100, 100)]


async def test_sampling_asks_the_client_and_returns_its_answer(server: ScsServer) -> None:
    asked: list[str] = []

    async def sample(messages: list[mcp_types.SamplingMessage], params: Any, _ctx: Any) -> str:
        asked.extend(m.content.text for m in messages)
        assert params.max_tokens == 100
        return "forty-two"

    client = await legacy_client(server, sampling_handler=sample)
    result = await client.call_tool("test_sampling", {"prompt": "the answer?"})
    assert asked == ["the answer?"]
    assert [c.text for c in result.content] == ["LLM response: forty-two"]


async def test_elicitation_sends_the_schema_verbatim_and_returns_the_answer(
    server: ScsServer,
) -> None:
    requests: list[mcp_types.ElicitRequestParams] = []

    async def answer(message: str, _type: Any, params: Any, _ctx: Any) -> Any:
        requests.append(params)
        if "username" in params.requested_schema["properties"]:
            return mcp_types.ElicitResult(
                action="accept", content={"username": "ada", "email": "ada@example.com"}
            )
        return mcp_types.ElicitResult(action="decline")

    client = await legacy_client(server, elicitation_handler=answer)
    result = await client.call_tool("test_elicitation", {"message": "who are you?"})
    assert requests[0].message == "who are you?"
    assert requests[0].requested_schema["required"] == ["username", "email"]
    text = result.content[0].text
    assert text.startswith("User response: action=accept")
    assert json.loads(text.split("content=", 1)[1]) == {
        "username": "ada",
        "email": "ada@example.com",
    }

    declined = await client.call_tool("test_elicitation_sep1330_enums", {})
    fields = requests[1].requested_schema["properties"]
    assert fields["legacyEnum"]["enumNames"] == ["Option One", "Option Two", "Option Three"]
    assert fields["titledMulti"]["items"]["anyOf"][0] == {
        "const": "value1",
        "title": "First Choice",
    }
    assert declined.content[0].text == "Elicitation completed: action=decline, content=null"

    await client.call_tool("test_elicitation_sep1034_defaults", {})
    defaults = {k: v["default"] for k, v in requests[2].requested_schema["properties"].items()}
    assert defaults == {
        "name": "John Doe",
        "age": 30,
        "score": 95.5,
        "status": "active",
        "verified": True,
    }


async def test_sampling_without_the_client_capability_is_a_tool_error(server: ScsServer) -> None:
    client = await legacy_client(server)  # declares no sampling capability
    result = await client.call_tool("test_sampling", {"prompt": "hi"}, raise_on_error=False)
    assert result.is_error is True
    assert result.content[0].text.startswith("sampling failed")


async def test_resources_read_without_a_token(server: ScsServer) -> None:
    client = await legacy_client(server)
    (text,) = await client.read_resource("test://static-text")
    assert text.text == "This is the content of the static text resource."
    assert text.mime_type == "text/plain"

    (binary,) = await client.read_resource("test://static-binary")
    assert binary.mime_type == "image/png"
    assert base64.b64decode(binary.blob).startswith(PNG_SIGNATURE)

    (templated,) = await client.read_resource("test://template/123/data")
    assert str(templated.uri) == "test://template/123/data"
    assert json.loads(templated.text) == {
        "id": "123",
        "templateTest": True,
        "data": "Data for ID: 123",
    }
    listed = {str(r.uri): r for r in await client.list_resources()}
    assert {"test://static-text", "test://static-binary", "test://watched-resource"} <= set(listed)
    assert all(r.description for r in listed.values())


async def test_only_the_tagged_components_are_open(server: ScsServer) -> None:
    """The plugin's requires("none") opens its own resources, not the others'."""
    alice = await server.agent("alice")
    session_id = (await alice.call("create_session", purpose="private work"))["session_id"]
    anonymous = await legacy_client(server)
    for uri in (f"session://{session_id}", "agent://alice/memory", "guidance://operations"):
        with pytest.raises(Exception, match="AUTH_001"):
            await anonymous.read_resource(uri)
    refused = await anonymous.call_tool(
        "get_session", {"session_id": session_id}, raise_on_error=False
    )
    assert refused.is_error and "AUTH_001" in refused.content[0].text


async def test_prompts_carry_text_arguments_resources_and_images(server: ScsServer) -> None:
    client = await legacy_client(server)
    simple = await client.get_prompt("test_simple_prompt")
    assert [m.content.text for m in simple.messages] == ["This is a simple prompt for testing."]

    with_args = await client.get_prompt(
        "test_prompt_with_arguments", {"arg1": "hello", "arg2": "world"}
    )
    assert with_args.messages[0].content.text == "Prompt with arguments: arg1='hello', arg2='world'"

    embedded = await client.get_prompt(
        "test_prompt_with_embedded_resource", {"resourceUri": "test://anything"}
    )
    first, second = embedded.messages
    assert first.content.type == "resource" and str(first.content.resource.uri) == "test://anything"
    assert second.content.text == "Please process the embedded resource above."

    image = await client.get_prompt("test_prompt_with_image")
    assert image.messages[0].content.type == "image"
    assert base64.b64decode(image.messages[0].content.data).startswith(PNG_SIGNATURE)

    listed = {p.name: p for p in await client.list_prompts()}
    assert [(a.name, a.required) for a in listed["test_prompt_with_arguments"].arguments] == [
        ("arg1", True),
        ("arg2", True),
    ]


async def test_completions_for_the_prompt_and_the_template(server: ScsServer) -> None:
    client = await legacy_client(server)
    prompt = mcp_types.PromptReference(type="ref/prompt", name="test_prompt_with_arguments")
    assert (await client.complete(prompt, {"name": "arg1", "value": "pa"})).values == [
        "paris",
        "park",
        "party",
    ]
    assert (await client.complete(prompt, {"name": "arg2", "value": "w"})).values == [
        "world",
        "wonder",
    ]
    template = mcp_types.ResourceTemplateReference(
        type="ref/resource", uri="test://template/{id}/data"
    )
    assert (await client.complete(template, {"name": "id", "value": "1"})).values == ["1", "123"]


async def test_capabilities_advertise_what_works(server: ScsServer) -> None:
    client = await legacy_client(server)
    capabilities = client.initialize_result.capabilities
    assert capabilities.completions is not None
    assert capabilities.logging is not None
    assert capabilities.tools.list_changed is False
    assert capabilities.prompts.list_changed is False
    assert capabilities.resources.list_changed is False
    assert capabilities.resources.subscribe is True  # handshake era: served by the core


async def test_not_part_of_default(scs_factory: ServerFactory) -> None:
    plain = await scs_factory()
    async with plain.client() as client:
        names = {tool.name for tool in await client.list_tools()}
    assert "authenticate_agent" in names
    assert not any(name.startswith("test_") for name in names)


async def test_at_2026_07_28_progress_works_and_server_requests_are_tool_errors(
    server: ScsServer,
) -> None:
    """The modern era has no back-channel for server-initiated requests (docs/protocol.md)."""
    progress: list[float] = []

    async def on_progress(value: float, _total: float | None, _message: str | None) -> None:
        progress.append(value)

    client = await server.open_client(progress_handler=on_progress)
    assert client.protocol_version == "2026-07-28"
    await client.call_tool("test_tool_with_progress", {})
    assert progress == [0, 50, 100]
    for tool, arguments in (
        ("test_sampling", {"prompt": "x"}),
        ("test_elicitation", {"message": "x"}),
    ):
        result = await client.call_tool(tool, arguments, raise_on_error=False)
        assert result.is_error is True
        assert "no back-channel" in result.content[0].text
