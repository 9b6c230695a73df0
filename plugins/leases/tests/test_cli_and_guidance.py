"""`scs leases` lists the live leases from the database; the coordination guidance
teaches the lease workflow."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from click.testing import CliRunner
from scs_server.cli import cli

if TYPE_CHECKING:
    from scs_server.testing import ScsServer, ServerFactory


def _database_env(server: ScsServer) -> dict[str, str]:
    settings = server.app.settings
    env = {"SCS_PLUGINS": "default", "SCS_DATA_DIR": str(server.tmp_path / "cli")}
    if settings.database_url is not None:
        env["SCS_DATABASE_URL"] = settings.database_url.get_secret_value()
    else:
        env["SCS_DATABASE_PATH"] = str(settings.db_path)
    return env


async def test_scs_leases_lists_live_leases(server: ScsServer, helpers: Any) -> None:
    alice = await server.agent("alice")
    lease = await alice.call("acquire_lease", resources=["src/**", "README.md"], reason="docs")

    def invoke(*args: str) -> Any:
        return CliRunner().invoke(cli, list(args), env=_database_env(server))

    # the command runs its own event loop: keep it off this one
    listed = await asyncio.to_thread(invoke, "leases", "--json")
    assert listed.exit_code == 0, listed.output
    [row] = json.loads(listed.output)
    assert row["lease_id"] == lease["lease_id"]
    assert row["holder"] == "alice"
    assert row["resources"] == ["src/**", "README.md"]
    table = await asyncio.to_thread(invoke, "leases")
    assert table.exit_code == 0, table.output
    assert lease["lease_id"] in table.output
    assert "src/**, README.md" in table.output

    await alice.call("release_lease", lease_id=lease["lease_id"])
    empty = await asyncio.to_thread(invoke, "leases")
    assert empty.output.strip() == "no live leases"


async def test_coordination_guidance_teaches_leases(scs_factory: ServerFactory) -> None:
    server = await scs_factory(plugins="sessions,messaging,leases")
    alice = await server.agent("alice")
    guidance = await alice.call("get_usage_guidance", guidance_type="coordination")
    steps = " ".join(guidance["guidance"]["leases"]).lower()
    for lesson in ("acquire before editing", "renew while working", "release when done"):
        assert lesson in steps
    for tool in ("acquire_lease", "renew_lease", "release_lease", "check_leases"):
        assert tool in steps
