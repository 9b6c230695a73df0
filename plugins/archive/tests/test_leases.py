"""`scs export --include leases` and its import: live leases keep their ids and fencing
tokens, the fencing counter never goes down, leases expired by the time of the import
are skipped, and leases that clash with live local ones follow --on-conflict."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from scs_server.errors import ScsError

from .conftest import export_text, import_text, records, scs

if TYPE_CHECKING:
    from pathlib import Path

    from scs_server.testing import Agent, ScsServer, ServerFactory

LEASES = frozenset({"leases"})


def database_env(server: ScsServer) -> dict[str, str]:
    """The environment that points an `scs` command at ``server``'s database."""
    settings = server.app.settings
    if settings.database_url is not None:
        return {"SCS_DATABASE_URL": settings.database_url.get_secret_value()}
    return {"SCS_DATABASE_PATH": str(settings.db_path)}


async def lease(agent: Agent, *resources: str, **options: Any) -> dict[str, Any]:
    granted: dict[str, Any] = await agent.call(
        "acquire_lease", resources=list(resources), **options
    )
    return granted


async def live(agent: Agent) -> dict[str, dict[str, Any]]:
    """The live leases by id, without the fields a listing adds."""
    listed = (await agent.call("list_leases"))["leases"]
    return {found["lease_id"]: found for found in listed}


async def burn_tokens(agent: Agent, count: int) -> None:
    """Move the fencing counter ``count`` up (grants released at once)."""
    for n in range(count):
        granted = await lease(agent, f"scratch/{n}")
        await agent.call("release_lease", lease_id=granted["lease_id"])


@pytest.mark.slow
async def test_leases_round_trip_through_the_cli(
    scs_factory: ServerFactory, tmp_path: Path
) -> None:
    source = await scs_factory()
    alice, bob = await source.agent("alice"), await source.agent("bob")
    kept = await lease(alice, "src/**", reason="refactor", session_id="session_x", ttl_s=3600)
    lapsing = await lease(bob, "docs/*.md", capacity=2, ttl_s=3600)
    await burn_tokens(bob, 1)  # the source's counter (3) is above its live tokens (1, 2)

    archive, key = tmp_path / "leases.ndjson", tmp_path / "archive.key"
    exported = await scs(
        tmp_path, "export", "--out", str(archive), "--include", "leases", "--sign", str(key),
        **database_env(source),
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    header = json.loads(exported.stdout)
    assert header["counts"]["lease"] == 2
    assert header["counts"]["lease_counter"] == 1
    dumped = {r["id"]: r for r in records(archive.read_text("utf-8")) if r["kind"] == "lease"}
    assert dumped[kept["lease_id"]]["fencing_token"] == kept["fencing_token"]
    counter = [r for r in records(archive.read_text("utf-8")) if r["kind"] == "lease_counter"]
    assert counter == [{"kind": "lease_counter", "last_token": 3}]
    # whatever the umask of the command (002 in `scs`), what it writes is 0600
    for written in (archive, tmp_path / "leases.ndjson.sig", key, tmp_path / "archive.key.pub"):
        assert (written.stat().st_mode & 0o777) == 0o600, written

    # bob's lease has lapsed by the time of the import (the file is a day old)
    text = archive.read_text("utf-8").replace(lapsing["expires_at"], "2020-01-01T00:00:00.000000Z")
    archive.write_text(text, "utf-8")
    target = await scs_factory()
    carol = await target.agent("carol")
    await burn_tokens(carol, 5)  # the target's counter (5) is above the file's (3)
    imported = await scs(tmp_path, "import", str(archive), **database_env(target))
    assert imported.returncode == 0, imported.stderr
    report = json.loads(imported.stdout)
    assert report["records"]["lease"] == 2
    assert report["imported"]["lease"] == 1

    now_live = await live(carol)
    assert list(now_live) == [kept["lease_id"]]
    moved = now_live[kept["lease_id"]]
    for name in ("holder", "resources", "mode", "fencing_token", "expires_at", "reason"):
        assert moved[name] == kept[name], name
    # the counter was not lowered to the file's 3: the next grant is 6
    extra = await lease(carol, "elsewhere/**")
    assert extra["fencing_token"] == 6
    # the imported lease holds: carol cannot take src/app.py
    refused = await carol.fails("acquire_lease", resources=["src/app.py"])
    assert refused.code == "LEASE_CONFLICT"

    # released here after the import: importing the same file again does not bring it back
    admin = await target.agent("ops", "admin")
    await admin.call("force_release_lease", lease_id=kept["lease_id"])
    again = await scs(tmp_path, "import", str(archive), **database_env(target))
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["imported"].get("lease", 0) == 0
    assert set(await live(carol)) == {extra["lease_id"]}


async def test_lease_conflicts_follow_on_conflict(
    scs_factory: ServerFactory, tmp_path: Path
) -> None:
    source = await scs_factory()
    alice, bob, dave = [await source.agent(name) for name in ("alice", "bob", "dave")]
    clashing = await lease(alice, "src/**")  # token 1: overlaps carol's src/app.py
    same_token = await lease(bob, "lib/x.py")  # token 2: carol's other/b has token 2
    free = await lease(dave, "docs/**")  # token 3
    text = await export_text(source.app, include=LEASES)

    async def target_with_carol() -> tuple[ScsServer, Agent]:
        target = await scs_factory()
        carol = await target.agent("carol")
        await lease(carol, "src/app.py")  # token 1
        await lease(carol, "other/b")  # token 2
        return target, carol

    target, carol = await target_with_carol()
    before = await live(carol)
    with pytest.raises(ScsError) as refused:
        await import_text(target.app, text, tmp_path / "f.ndjson", on_conflict="fail")
    assert refused.value.code == "CONFLICT"
    assert clashing["lease_id"] in refused.value.message
    assert await live(carol) == before  # the lease batch was rolled back whole

    for policy in ("skip", "rename"):  # a lease keeps its id and token: rename skips too
        target, carol = await target_with_carol()
        report = await import_text(
            target.app, text, tmp_path / f"{policy}.ndjson", on_conflict=policy
        )
        assert report.imported["lease"] == 1
        now_live = await live(carol)
        assert len(now_live) == 3  # carol's two and dave's
        assert free["lease_id"] in now_live
        assert clashing["lease_id"] not in now_live
        assert same_token["lease_id"] not in now_live
        assert (await lease(carol, "next/**"))["fencing_token"] == 4  # above the file's 3


async def test_include_needs_the_owning_plugin_and_no_session_filter(
    scs_factory: ServerFactory,
) -> None:
    server = await scs_factory(plugins="sessions,messaging,memory,archive")
    with pytest.raises(ScsError) as refused:
        await export_text(server.app, include=LEASES)
    assert refused.value.code == "VALIDATION_001"
    assert "leases plugin is not enabled" in refused.value.message

    alice = await server.agent("alice")
    session_id = (await alice.call("create_session", purpose="p"))["session_id"]
    with pytest.raises(ScsError) as combined:
        await export_text(server.app, sessions=[session_id], include=frozenset({"audit"}))
    assert combined.value.code == "VALIDATION_001"
    with pytest.raises(ScsError) as missing:
        await export_text(server.app, sessions=[session_id, "session_nope"])
    assert missing.value.code == "RESOURCE_001"
    assert "session_nope" in missing.value.message
