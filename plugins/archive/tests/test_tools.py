"""The admin tools through a real MCP client: export_session, set_retention,
hold_session, release_hold, run_retention; refusals change nothing; /metrics counts."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import httpx2
from scs_server.testing import ADMIN_API_KEY

from .conftest import comparable, export_text, records, seed, team

if TYPE_CHECKING:
    from scs_server.testing import ServerFactory


async def test_export_session_returns_the_ndjson_as_an_embedded_resource(
    scs_factory: ServerFactory,
) -> None:
    server = await scs_factory()
    seeded = await seed(server, sessions=2, messages=5)
    agents = await team(server)
    session_id = seeded.sessions[1]
    result = await agents["boss"].client.call_tool(
        "export_session", {"session_id": session_id, "auth_token": agents["boss"].token}
    )
    summary = json.loads(result.content[0].text)
    resource = result.content[1].resource
    assert summary["header"]["counts"] == {"memory": 1, "message": 5, "session": 1}
    assert resource.mime_type == "application/x-ndjson"
    assert str(resource.uri) == f"scs-archive://sessions/{session_id}.ndjson"
    expected = await export_text(server.app, sessions=[session_id])
    assert comparable(resource.text) == comparable(expected)
    assert records(resource.text)[1]["id"] == session_id

    denied = await agents["alice"].fails("export_session", session_id=session_id)
    assert denied.code == "AUTH_005"
    missing = await agents["boss"].fails("export_session", session_id="session_nope")
    assert missing.code == "RESOURCE_001"


async def test_export_session_beyond_the_cap_is_refused_clearly(
    scs_factory: ServerFactory,
) -> None:
    server = await scs_factory(env={"SCS_ARCHIVE_EXPORT_MAX_BYTES": "1024"})
    seeded = await seed(server, sessions=1, messages=20)
    boss = (await team(server))["boss"]
    error = await boss.fails("export_session", session_id=seeded.sessions[0])
    assert error.code == "VALIDATION_002"
    assert "larger than 1024 bytes" in error.message
    assert "scs export" in (error.hint or "")


async def test_policies_are_set_audited_and_bad_input_changes_nothing(
    scs_factory: ServerFactory,
) -> None:
    server = await scs_factory(http=True)
    seeded = await seed(server, sessions=1, messages=2)
    agents = await team(server)
    boss, session_id = agents["boss"], seeded.sessions[0]

    held = await boss.call("hold_session", session_id=session_id, reason="audit 2026")
    assert held["policy"]["held"] is True
    assert held["policy"]["reason"] == "audit 2026"
    kept = await boss.call("set_retention", session_id=session_id, days=30)
    assert kept["policy"] == {
        **held["policy"],
        "retention_days": 30,
        "updated_at": kept["policy"]["updated_at"],
    }
    assert (await boss.call("set_retention", session_id=session_id, days=None))["policy"][
        "retention_days"
    ] is None
    released = await boss.call("release_hold", session_id=session_id)
    assert released["policy"]["held"] is False

    policies = "SELECT COUNT(*) FROM archive_policies"
    before = await server.app.db.fetch_value(policies)
    assert (
        await boss.fails("set_retention", session_id=session_id, days=0)
    ).code == "VALIDATION_001"
    assert (await boss.fails("hold_session", session_id="session_nope")).code == "RESOURCE_001"
    assert (await agents["alice"].fails("hold_session", session_id=session_id)).code == "AUTH_005"
    assert await server.app.db.fetch_value(policies) == before
    actions = [
        row["action"]
        for row in await server.app.db.fetch_all(
            "SELECT action FROM scs_audit WHERE action IN"
            " ('hold_session', 'set_retention', 'release_hold') ORDER BY id"
        )
    ]
    assert actions == ["hold_session", "set_retention", "set_retention", "release_hold"]

    assert (await boss.call("run_retention"))["removed"] == {}  # no limits set
    async with httpx2.AsyncClient() as http:
        response = await http.get(
            server.url.removesuffix("/mcp") + "/metrics", headers={"X-API-Key": ADMIN_API_KEY}
        )
    assert "scs_retention_runs_total 1.0" in response.text
