"""Acquire, renew, release, force release, listing and checking, through MCP clients."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scs_server.testing import ScsServer, ServerFactory


async def test_acquire_list_check_release(server: ScsServer, helpers: Any) -> None:
    alice = await server.agent("alice")
    bob = await server.agent("bob")
    granted = await alice.call(
        "acquire_lease", resources=["src/app.py", "lib/**"], ttl_s=120, reason="refactor"
    )
    assert granted["success"] is True
    assert granted["lease_id"].startswith("lease_")
    assert granted["fencing_token"] == 1
    assert granted["resources"] == ["src/app.py", "lib/**"]
    assert granted["mode"] == "exclusive"
    assert granted["expires_at"] > granted["acquired_at"]

    listed = await bob.call("list_leases")
    assert [lease["lease_id"] for lease in listed["leases"]] == [granted["lease_id"]]
    assert (await bob.call("list_leases", holder="bob"))["count"] == 0
    assert (await bob.call("list_leases", resource_prefix="lib"))["count"] == 1
    assert (await bob.call("list_leases", resource_prefix="docs"))["count"] == 0

    checked = await bob.call("check_leases", resources=["lib/x/y.py", "README.md"])
    assert checked["free"] is False
    [conflict] = checked["conflicts"]
    assert conflict["holder"] == "alice"
    assert conflict["requested"] == ["lib/x/y.py"]
    assert conflict["reason"] == "refactor"
    assert (await bob.call("check_leases", resources=["README.md"]))["free"] is True
    # one's own leases never conflict with oneself
    assert (await alice.call("check_leases", resources=["lib/a.py"]))["free"] is True

    released = await alice.call("release_lease", lease_id=granted["lease_id"])
    assert released == {"success": True, "released": True, "lease_id": granted["lease_id"]}
    assert await helpers.lease_rows(server) == []
    again = await alice.fails("release_lease", lease_id=granted["lease_id"])
    assert again.code == "RESOURCE_001"


async def test_conflict_names_each_holder_and_grants_nothing(
    server: ScsServer, helpers: Any
) -> None:
    alice = await server.agent("alice")
    bob = await server.agent("bob")
    carol = await server.agent("carol")
    held_a = await alice.call("acquire_lease", resources=["src/a.py"], reason="fixing a")
    held_b = await bob.call("acquire_lease", resources=["docs/*.md"], mode="shared")
    before = await helpers.lease_rows(server)

    error = await carol.fails(
        "acquire_lease", resources=["src/free.py", "src/*.py", "docs/guide.md"]
    )
    assert error.code == "LEASE_CONFLICT"
    by_holder = {c["holder"]: c for c in error.body["conflicts"]}
    assert set(by_holder) == {"alice", "bob"}
    assert by_holder["alice"]["lease_id"] == held_a["lease_id"]
    assert by_holder["alice"]["resources"] == ["src/a.py"]
    assert by_holder["alice"]["requested"] == ["src/*.py"]
    assert by_holder["alice"]["expires_at"] == held_a["expires_at"]
    assert by_holder["alice"]["reason"] == "fixing a"
    assert by_holder["bob"]["mode"] == "shared"
    assert by_holder["bob"]["lease_id"] == held_b["lease_id"]
    # all or nothing: not even the free file, and no fencing token spent
    assert await helpers.lease_rows(server) == before
    assert await helpers.last_token(server) == 2


async def test_shared_exclusive_and_capacity(server: ScsServer, helpers: Any) -> None:
    agents = [await server.agent(f"agent-{n}") for n in range(4)]
    first, second, third, fourth = agents
    await first.call("acquire_lease", resources=["docs/**"], mode="shared")
    await second.call("acquire_lease", resources=["docs/api.md"], mode="shared")
    refused = await third.fails("acquire_lease", resources=["docs/api.md"])
    assert refused.code == "LEASE_CONFLICT"
    assert {c["holder"] for c in refused.body["conflicts"]} == {"agent-0", "agent-1"}

    exclusive = await third.call("acquire_lease", resources=["src/**"])
    shared_refused = await fourth.fails("acquire_lease", resources=["src/x.py"], mode="shared")
    assert [c["lease_id"] for c in shared_refused.body["conflicts"]] == [exclusive["lease_id"]]

    # capacity: a counting semaphore of two build slots
    slot_1 = await first.call("acquire_lease", resources=["build-slot"], capacity=2)
    assert slot_1["mode"] == "shared"
    assert slot_1["capacity"] == 2
    await second.call("acquire_lease", resources=["build-slot"], capacity=2)
    full = await third.fails("acquire_lease", resources=["build-slot"], capacity=2)
    assert full.code == "LEASE_CONFLICT"
    assert {c["why"] for c in full.body["conflicts"]} == {"capacity"}
    # a plain shared request counts against the existing slots' capacity too
    assert (await fourth.fails("acquire_lease", resources=["build-slot"], mode="shared")).code == (
        "LEASE_CONFLICT"
    )
    await first.call("release_lease", lease_id=slot_1["lease_id"])
    slot_3 = await third.call("acquire_lease", resources=["build-slot"], capacity=2)
    assert slot_3["fencing_token"] > slot_1["fencing_token"]


async def test_renew_extends_and_only_the_holder_may_renew_or_release(
    server: ScsServer, helpers: Any
) -> None:
    clock = helpers.clocked(server)
    alice = await server.agent("alice")
    bob = await server.agent("bob")
    lease = await alice.call("acquire_lease", resources=["src/app.py"], ttl_s=60)
    assert lease["expires_at"] == "2030-01-01T00:01:00.000000Z"

    clock.advance(50)
    renewed = await alice.call("renew_lease", lease_id=lease["lease_id"], ttl_s=60)
    assert renewed["expires_at"] == "2030-01-01T00:01:50.000000Z"
    assert renewed["fencing_token"] == lease["fencing_token"]
    clock.advance(50)  # past the first expiry, within the renewed one
    assert (await bob.fails("acquire_lease", resources=["src/app.py"])).code == "LEASE_CONFLICT"

    for tool, args in (("renew_lease", {"ttl_s": 600}), ("release_lease", {})):
        refused = await bob.fails(tool, lease_id=lease["lease_id"], **args)
        assert refused.code == "AUTH_005"
        assert "alice" in refused.message
    [row] = await helpers.lease_rows(server)
    assert row["expires_at"] == "2030-01-01T00:01:50.000000Z"


async def test_force_release_is_admin_only_and_audited(
    scs_factory: ServerFactory, helpers: Any
) -> None:
    server, probe = await helpers.probed(scs_factory)
    alice = await server.agent("alice")
    bob = await server.agent("bob")
    admin = await server.agent("ops", agent_type="admin")
    lease = await alice.call("acquire_lease", resources=["src/**"])

    assert (await bob.fails("force_release_lease", lease_id=lease["lease_id"])).code == "AUTH_005"
    assert len(await helpers.lease_rows(server)) == 1

    forced = await admin.call("force_release_lease", lease_id=lease["lease_id"])
    assert forced["released"] is True
    assert forced["holder"] == "alice"
    assert await helpers.lease_rows(server) == []
    audit = await server.app.db.fetch_all(
        "SELECT agent_id, action, result, detail FROM scs_audit WHERE action = ?",
        ("lease.force_release",),
    )
    assert [(a["agent_id"], a["result"]) for a in audit] == [("ops", "success")]
    assert lease["lease_id"] in audit[0]["detail"]
    assert "alice" in audit[0]["detail"]
    [event] = probe.named("lease.released")
    assert event.data["forced"] is True
    assert event.data["by"] == "ops"
    assert event.data["lease"]["holder"] == "alice"
    # bob may take it now
    assert (await bob.call("acquire_lease", resources=["src/a.py"]))["success"] is True


async def test_events_acquired_and_released(scs_factory: ServerFactory, helpers: Any) -> None:
    server, probe = await helpers.probed(scs_factory)
    alice = await server.agent("alice")
    lease = await alice.call("acquire_lease", resources=["a.txt"], reason="r")
    await alice.call("release_lease", lease_id=lease["lease_id"])
    [acquired] = probe.named("lease.acquired")
    assert acquired.source == "leases"
    assert acquired.data["lease"]["lease_id"] == lease["lease_id"]
    assert acquired.data["lease"]["fencing_token"] == lease["fencing_token"]
    [released] = probe.named("lease.released")
    assert released.data["forced"] is False
    assert released.data["by"] == "alice"


async def test_active_leases_resource(scs_factory: ServerFactory) -> None:
    server = await scs_factory(plugins="leases", http=True)
    alice = await server.agent("alice")
    lease = await alice.call("acquire_lease", resources=["src/**"])
    contents = await alice.client.read_resource("leases://active")
    body = json.loads(contents[0].text)
    assert [item["lease_id"] for item in body["leases"]] == [lease["lease_id"]]
    assert body["leases"][0]["holder"] == "alice"


async def test_public_api_for_other_plugins(server: ScsServer) -> None:
    from scs_leases import api

    alice = await server.agent("alice")
    lease = await alice.call("acquire_lease", resources=["src/**"], reason="api")
    [active] = await api.active_leases(server.app)
    assert active["lease_id"] == lease["lease_id"]
    assert active["fencing_token"] == lease["fencing_token"]
    assert api.overlaps("src/**", "src/a.py")
    assert api.matches("src/*.py", "src/a.py")
    assert api.EVENTS == ("lease.acquired", "lease.released", "lease.expired")
    assert api.CHANGE_TOPIC == "leases"
