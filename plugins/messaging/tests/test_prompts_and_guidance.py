"""The prompts and get_usage_guidance."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from scs_server.errors import ErrorCode

if TYPE_CHECKING:
    from fastmcp import Client

    from .conftest import TeamFactory


async def prompt_text(client: Client, name: str, arguments: dict[str, str]) -> str:  # type: ignore[type-arg]
    result = await client.get_prompt(name, arguments)
    return "".join(getattr(m.content, "text", "") for m in result.messages)


async def test_setup_collaboration(make_team: TeamFactory) -> None:
    team = await make_team()
    text = await prompt_text(
        team.alice.client,
        "setup-collaboration",
        {"purpose": "ship v2", "agent_types": "claude, cursor", "project_name": "atlas"},
    )
    assert "ship v2" in text
    assert "atlas" in text
    assert 'agent_type="cursor"' in text
    assert "create_session" in text
    loop = text.split("The loop: wait, read, act, mark read")[1]
    order = [loop.index(step) for step in ("wait_for_messages", "add_message", "mark_read")]
    assert order == sorted(order)
    existing = await prompt_text(
        team.alice.client,
        "setup-collaboration",
        {"purpose": "p", "expert_roles": "gemini", "session_id": team.session_id},
    )
    assert team.session_id in existing
    assert 'agent_type="gemini"' in existing


async def test_debug_session_respects_visibility(make_team: TeamFactory) -> None:
    team = await make_team(http=True)
    sid = team.session_id
    await team.alice.call("add_message", session_id=sid, content="public")
    await team.alice.call("add_message", session_id=sid, content="secret", visibility="private")

    alice_view = await prompt_text(team.alice.client, "debug-session", {"session_id": sid})
    carol_view = await prompt_text(team.carol.client, "debug-session", {"session_id": sid})
    assert "Messages you can see: 2" in alice_view
    assert "Messages you can see: 1" in carol_view
    assert "private" not in carol_view.split("## Findings")[0]

    anonymous = await team.server.open_client()
    blind = await prompt_text(anonymous, "debug-session", {"session_id": sid})
    assert "without a token" in blind
    assert "Messages you can see" not in blind

    missing = await prompt_text(
        team.alice.client, "debug-session", {"session_id": "session_0000000000000000"}
    )
    assert "Not found" in missing


async def test_guidance_follows_permissions(make_team: TeamFactory) -> None:
    team = await make_team()
    reader = await team.server.agent("watcher", "readonly")

    agent = await team.alice.call("get_usage_guidance")
    assert agent["access_level"] == "AGENT"
    assert "add_message" in agent["guidance"]["available_tools"]
    assert "admin_only" not in agent["guidance"]["visibility_you_can_write"]

    readonly = await reader.call("get_usage_guidance", guidance_type="operations")
    assert readonly["access_level"] == "READ_ONLY"
    assert "add_message" not in readonly["guidance"]["available_tools"]
    assert readonly["guidance"]["unavailable_tools"]["add_message"] == "needs write"
    assert readonly["guidance"]["visibility_you_can_write"] == []

    admin = await team.auditor.call("get_usage_guidance", guidance_type="security")
    assert admin["access_level"] == "ADMIN"
    assert admin["guidance"]["visibility_you_can_read"]["private"].startswith("all")

    for kind in ("coordination", "troubleshooting"):
        result = await team.alice.call("get_usage_guidance", guidance_type=kind)
        assert result["guidance_type"] == kind
        assert result["guidance"]

    error = await team.alice.fails("get_usage_guidance", guidance_type="everything")
    assert error.code == "VALIDATION_001"


async def test_coordination_guidance_teaches_the_wait_read_act_mark_read_loop(
    make_team: TeamFactory,
) -> None:
    team = await make_team()
    got = await team.bob.call("get_usage_guidance", guidance_type="coordination")
    loop = got["guidance"]["work_loop"]
    assert [step.split(":")[0] for step in loop] == ["1. wait", "2. read", "3. act", "4. mark read"]
    assert "wait_for_messages" in loop[0]
    assert "mark_read" in loop[3]


async def test_troubleshooting_explains_every_error_code(make_team: TeamFactory) -> None:
    """Every code a client can get is explained to agents, and in the plugin guide."""
    team = await make_team()
    got = await team.alice.call("get_usage_guidance", guidance_type="troubleshooting")
    explained = {code.strip() for key in got["guidance"]["error_codes"] for code in key.split(",")}
    assert {code.value for code in ErrorCode} == explained

    guide = (Path(__file__).parents[3] / "docs/plugins.md").read_text()
    table = guide[guide.index("| `ErrorCode.` | code | meaning |") :].split("\n\n")[0]
    missing = [c.name for c in ErrorCode if f"`{c.name}`" not in table]
    assert missing == []
