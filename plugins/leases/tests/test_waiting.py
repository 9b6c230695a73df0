"""wait_s: woken by the change feed when the resource frees, first come first served,
across servers too; a wait that ends answers LEASE_CONFLICT."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from scs_leases.api import LeaseService

if TYPE_CHECKING:
    from scs_server.testing import ScsServer, ServerFactory

WAIT_S = 30.0  # generous: every test here ends by a release long before


async def _queued(server: ScsServer, count: int, helpers: Any) -> None:
    async def ready() -> bool:
        return len(server.app.services.get(LeaseService, needed_by="test").queue) == count

    await helpers.eventually(ready)


async def test_a_waiter_gets_the_lease_when_it_is_released(server: ScsServer, helpers: Any) -> None:
    alice = await server.agent("alice")
    bob = await server.agent("bob")
    held = await alice.call("acquire_lease", resources=["src/**"])
    waiting = asyncio.create_task(
        bob.call("acquire_lease", resources=["src/app.py"], wait_s=WAIT_S)
    )
    await _queued(server, 1, helpers)
    assert not waiting.done()
    await alice.call("release_lease", lease_id=held["lease_id"])
    granted = await asyncio.wait_for(waiting, WAIT_S)
    assert granted["holder"] == "bob"
    assert granted["fencing_token"] > held["fencing_token"]
    assert 0 < granted["waited_s"] < WAIT_S
    assert len(server.app.services.get(LeaseService, needed_by="test").queue) == 0


async def test_waiters_are_served_first_come_first_served(server: ScsServer, helpers: Any) -> None:
    holder = await server.agent("holder")
    first = await server.agent("first")
    second = await server.agent("second")
    held = await holder.call("acquire_lease", resources=["build.lock"])
    first_wait = asyncio.create_task(
        first.call("acquire_lease", resources=["build.lock"], wait_s=WAIT_S)
    )
    await _queued(server, 1, helpers)
    second_wait = asyncio.create_task(
        second.call("acquire_lease", resources=["build.lock"], wait_s=WAIT_S)
    )
    await _queued(server, 2, helpers)

    await holder.call("release_lease", lease_id=held["lease_id"])
    got_first = await asyncio.wait_for(first_wait, WAIT_S)
    assert got_first["holder"] == "first"
    assert not second_wait.done()
    await first.call("release_lease", lease_id=got_first["lease_id"])
    got_second = await asyncio.wait_for(second_wait, WAIT_S)
    assert got_second["holder"] == "second"
    assert got_second["fencing_token"] > got_first["fencing_token"]


async def test_a_wait_that_ends_is_a_conflict_and_writes_nothing(
    server: ScsServer, helpers: Any
) -> None:
    alice = await server.agent("alice")
    bob = await server.agent("bob")
    await alice.call("acquire_lease", resources=["a.txt"])
    error = await bob.fails("acquire_lease", resources=["a.txt"], wait_s=0.2)
    assert error.code == "LEASE_CONFLICT"
    assert error.body["conflicts"][0]["holder"] == "alice"
    assert len(await helpers.lease_rows(server)) == 1
    assert len(server.app.services.get(LeaseService, needed_by="test").queue) == 0


async def test_a_waiter_on_one_server_is_woken_by_a_release_on_the_other(
    scs_factory: ServerFactory, helpers: Any
) -> None:
    a = await scs_factory(plugins=helpers.plugins, http=True)
    b = await scs_factory(plugins=helpers.plugins, http=True, same_database_as=a)
    # no periodic retry to fall back on: only the change feed can wake the waiter in time
    b.app.services.get(LeaseService, needed_by="test").settings = b.app.services.get(
        LeaseService, needed_by="test"
    ).settings.model_copy(update={"wait_poll_s": 60.0})
    alice = await a.agent("alice")
    bob = await b.agent("bob")
    held = await alice.call("acquire_lease", resources=["src/**"])
    waiting = asyncio.create_task(bob.call("acquire_lease", resources=["src/x"], wait_s=WAIT_S))
    await _queued(b, 1, helpers)
    await alice.call("release_lease", lease_id=held["lease_id"])
    granted = await asyncio.wait_for(waiting, WAIT_S)
    assert granted["holder"] == "bob"
    assert granted["waited_s"] < 60.0


async def test_a_waiter_gets_a_lease_that_expires(server: ScsServer, helpers: Any) -> None:
    """No release at all: the waiter's timer is the blocking lease's expiry (1 s)."""
    alice = await server.agent("alice")
    bob = await server.agent("bob")
    held = await alice.call("acquire_lease", resources=["slow.txt"], ttl_s=1)
    granted = await bob.call("acquire_lease", resources=["slow.txt"], wait_s=WAIT_S)
    assert granted["holder"] == "bob"
    assert granted["acquired_at"] >= held["expires_at"]
