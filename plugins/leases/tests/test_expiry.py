"""Expiry is exact: never honoured past expires_at, swept in batches with lease.expired."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from scs_leases.api import LeaseService

if TYPE_CHECKING:
    from scs_server.testing import ServerFactory

NO_SWEEP = {"SCS_LEASES_SWEEP_INTERVAL_S": "86400", "SCS_LEASES_SWEEP_BATCH_SIZE": "2"}


async def test_an_expired_lease_never_blocks_and_cannot_be_renewed(
    scs_factory: ServerFactory, helpers: Any
) -> None:
    server = await scs_factory(plugins=helpers.plugins, env=NO_SWEEP)
    clock = helpers.clocked(server)
    alice = await server.agent("alice")
    bob = await server.agent("bob")
    lease = await alice.call("acquire_lease", resources=["src/**"], ttl_s=60)

    clock.advance(59.999999)  # one microsecond before expires_at: still held
    assert (await bob.fails("acquire_lease", resources=["src/a.py"])).code == "LEASE_CONFLICT"
    clock.advance(0.000001)  # at expires_at: gone for every purpose
    assert (await bob.call("list_leases"))["count"] == 0
    assert (await bob.call("check_leases", resources=["src/a.py"]))["free"] is True
    assert (await alice.fails("renew_lease", lease_id=lease["lease_id"])).code == "RESOURCE_001"
    assert (await alice.fails("release_lease", lease_id=lease["lease_id"])).code == "RESOURCE_001"
    taken = await bob.call("acquire_lease", resources=["src/a.py"])
    assert taken["fencing_token"] > lease["fencing_token"]
    # the expired row is still stored (the sweep has not run): it did not matter
    assert len(await helpers.lease_rows(server)) == 2


async def test_the_sweep_deletes_in_batches_and_tells_lease_expired(
    scs_factory: ServerFactory, helpers: Any
) -> None:
    server, probe = await helpers.probed(scs_factory, env=NO_SWEEP)
    clock = helpers.clocked(server)
    alice = await server.agent("alice")
    changes: list[Any] = []
    await server.app.db.changes.subscribe(lambda c: changes.append(c.payload), topics=("leases",))
    short = [await alice.call("acquire_lease", resources=[f"f{n}"], ttl_s=10) for n in range(5)]
    keep = await alice.call("acquire_lease", resources=["keep"], ttl_s=100)
    changes.clear()
    clock.advance(10)
    removed = await server.app.services.get(LeaseService, needed_by="test").sweep_once()
    assert removed == 5
    assert [row["id"] for row in await helpers.lease_rows(server)] == [keep["lease_id"]]
    expired = {event.data["lease"]["lease_id"] for event in probe.named("lease.expired")}
    assert expired == {lease["lease_id"] for lease in short}
    # batches of 2: three changes (2 + 2 + 1), each saying how many
    assert [c["count"] for c in changes] == [2, 2, 1]
    assert await server.app.services.get(LeaseService, needed_by="test").sweep_once() == 0


async def test_a_short_lease_expires_in_real_time(scs_factory: ServerFactory, helpers: Any) -> None:
    server = await scs_factory(plugins=helpers.plugins, env={"SCS_LEASES_SWEEP_INTERVAL_S": "0.2"})
    alice = await server.agent("alice")
    bob = await server.agent("bob")
    started = time.monotonic()
    await alice.call("acquire_lease", resources=["tmp.txt"], ttl_s=1)
    assert (await bob.call("check_leases", resources=["tmp.txt"]))["free"] is False

    async def swept() -> bool:
        return await helpers.lease_rows(server) == []

    await helpers.eventually(swept, timeout=15)
    assert time.monotonic() - started >= 1.0  # never removed before its expiry
    assert (await bob.call("acquire_lease", resources=["tmp.txt"]))["holder"] == "bob"
