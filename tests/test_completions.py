"""completion/complete for the built-in plugins' prompts and resource templates: routed to
the owning plugin, answered as the caller (session ids only with a token, a memory id only
its own), over real HTTP."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import mcp_types
import pytest

if TYPE_CHECKING:
    from scs_server.testing import ScsServer, ServerFactory


def prompt(name: str) -> mcp_types.PromptReference:
    return mcp_types.PromptReference(type="ref/prompt", name=name)


def template(uri: str) -> mcp_types.ResourceTemplateReference:
    return mcp_types.ResourceTemplateReference(type="ref/resource", uri=uri)


async def values(client: Any, ref: Any, name: str, value: str) -> list[str]:
    completion = await client.complete(ref, {"name": name, "value": value})
    return list(completion.values)


async def two_sessions(server: ScsServer) -> tuple[Any, list[str]]:
    alice = await server.agent("alice")
    ids = [(await alice.call("create_session", purpose=p))["session_id"] for p in ("a", "b")]
    return alice, sorted(ids)


async def test_session_ids_complete_for_a_caller_with_a_token(scs_factory: ServerFactory) -> None:
    server = await scs_factory(http=True)
    alice, ids = await two_sessions(server)
    for ref in (
        template("session://{session_id}"),
        template("session://{session_id}/messages/{limit}"),
        prompt("debug-session"),
        prompt("setup-collaboration"),
    ):
        assert await values(alice.client, ref, "session_id", "") == ids
        assert await values(alice.client, ref, "session_id", ids[1][:-2]) == [ids[1]]
        assert await values(alice.client, ref, "session_id", "nothing_") == []


async def test_session_ids_do_not_complete_without_a_token(scs_factory: ServerFactory) -> None:
    server = await scs_factory(http=True)
    await two_sessions(server)
    anonymous = await server.open_client()
    assert await values(anonymous, template("session://{session_id}"), "session_id", "") == []
    assert await values(anonymous, prompt("debug-session"), "session_id", "session_") == []

    forged = await server.open_client(token="not-a-token")
    assert await values(forged, prompt("debug-session"), "session_id", "") == []


async def test_agent_types_limits_and_guidance_types(scs_factory: ServerFactory) -> None:
    server = await scs_factory(http=True)
    bob = await server.agent("bob")
    setup = prompt("setup-collaboration")
    assert await values(bob.client, setup, "agent_types", "cl") == ["claude"]
    assert await values(bob.client, setup, "agent_types", "claude,ge") == [
        "claude,gemini",
        "claude,generic",
    ]
    messages = template("session://{session_id}/messages/{limit}")
    assert await values(bob.client, messages, "limit", "1") == ["10", "100", "1000"]
    guidance = template("guidance://{guidance_type}")
    assert await values(bob.client, guidance, "guidance_type", "") == [
        "operations",
        "coordination",
        "security",
        "troubleshooting",
    ]
    assert await values(bob.client, guidance, "guidance_type", "s") == ["security"]


async def test_guidance_resource_matches_the_tool(scs_factory: ServerFactory) -> None:
    server = await scs_factory(http=True)
    bob = await server.agent("bob")
    (contents,) = await bob.client.read_resource("guidance://troubleshooting")
    tool = await bob.call("get_usage_guidance", guidance_type="troubleshooting")
    read = json.loads(contents.text)
    assert read.pop("generated_at") and tool.pop("generated_at")
    assert read == tool
    with pytest.raises(Exception, match="VALIDATION_001"):
        await bob.client.read_resource("guidance://nonsense")


async def test_memory_completes_only_the_callers_own_id(scs_factory: ServerFactory) -> None:
    server = await scs_factory(http=True)
    carol = await server.agent("carol")
    await server.agent("dave")
    memory = template("agent://{agent_id}/memory")
    assert await values(carol.client, memory, "agent_id", "") == ["carol"]
    assert await values(carol.client, memory, "agent_id", "d") == []
    anonymous = await server.open_client()
    assert await values(anonymous, memory, "agent_id", "") == []


async def test_unknown_references_complete_to_nothing(scs_factory: ServerFactory) -> None:
    server = await scs_factory(http=True)
    alice, _ = await two_sessions(server)
    assert await values(alice.client, prompt("no-such-prompt"), "session_id", "") == []
    assert await values(alice.client, template("nope://{x}"), "x", "") == []
    assert await values(alice.client, prompt("debug-session"), "other", "") == []


async def test_completions_capability_is_declared(scs_factory: ServerFactory) -> None:
    server = await scs_factory(http=True)
    client = await server.open_client()
    # the default (2026-07-28) era: capabilities come with server/discover
    assert client.server_capabilities.completions is not None
    assert client.server_capabilities.resources.subscribe is True  # subscriptions/listen
