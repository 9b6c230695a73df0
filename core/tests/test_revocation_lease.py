"""PostgreSQL replicas answer revocation checks from memory under a lease
(``scs_server.auth.revocation_lease``), and a revocation through one replica is still
refused on every other at its next call."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import pytest
from scs_server.auth.revocation_lease import MAX_CACHED
from scs_server.testing import listeners_cut_off

from . import probe_plugin

if TYPE_CHECKING:
    from scs_server.auth.revocation_lease import RevocationLease
    from scs_server.storage.cluster import PostgresCluster
    from scs_server.testing import Agent, ScsServer, ServerFactory

pytestmark = pytest.mark.parametrize("db_engine", ["postgresql"])


async def replica(scs_factory: ServerFactory, **options: Any) -> ScsServer:
    return await scs_factory("probe", http=True, extra_plugins={"probe": probe_plugin}, **options)


def lease_of(server: ScsServer) -> RevocationLease:
    lease = server.app.auth.revocations.lease
    assert lease is not None
    return lease


async def pair(scs_factory: ServerFactory) -> tuple[ScsServer, ScsServer, Agent, Agent]:
    """Two replicas, alice (her token minted on the first) and a probe calling the second."""
    a = await replica(scs_factory)
    b = await replica(scs_factory, same_database_as=a)
    return a, b, await a.agent("alice"), await b.agent("probe")


async def until_trusted(server: ScsServer) -> RevocationLease:
    lease = lease_of(server)
    deadline = time.monotonic() + 20
    while not lease.trusted():
        assert time.monotonic() < deadline, "the revocation lease was never trusted"
        await asyncio.sleep(0.01)
    return lease


async def test_replicas_answer_from_memory_and_a_revocation_on_one_is_refused_on_the_other(
    scs_factory: ServerFactory,
) -> None:
    _, b, alice, probe_on_b = await pair(scs_factory)
    lease = await until_trusted(b)
    checks = b.app.auth.revocations
    reads, answered = checks.reads, lease.answered
    for _ in range(3):
        who = await probe_on_b.call("whoami", auth_token=alice.token)
        assert who["agent_id"] == "alice"
    assert lease.answered - answered >= 3  # the probe's own token is checked too
    assert checks.reads == reads  # no read of scs_revoked_tokens at all

    assert (await alice.call("revoke_token", token=alice.token))["revoked"] is True
    refused = await probe_on_b.fails("whoami", auth_token=alice.token)
    assert refused.code == "AUTH_004"
    assert checks.reads == reads  # b refused it from memory: it had the revocation already


async def test_a_revocation_waits_for_a_replica_that_has_not_applied_it(
    scs_factory: ServerFactory,
) -> None:
    # the revoking replica holds no lease itself: other replicas' settings may differ
    a = await replica(scs_factory, revocation_lease_s=0)
    alice = await a.agent("alice")
    db = a.app.db
    # a replica that holds a lease and never acknowledges (stalled, or cut off)
    await db.execute(
        "INSERT INTO scs_replica_leases (replica, acked_seq, lease_until)"
        " VALUES ('stalled', 0, extract(epoch FROM clock_timestamp()) + 1.5)"
    )
    assert (await alice.call("revoke_token", token=alice.token))["revoked"] is True
    # it returned only once that lease had run out by PostgreSQL's clock
    lapsed = await db.fetch_value(
        "SELECT extract(epoch FROM clock_timestamp()) >= lease_until"
        " FROM scs_replica_leases WHERE replica = 'stalled'"
    )
    assert lapsed is True


async def test_a_stopped_replica_gives_its_lease_back(
    scs_factory: ServerFactory,
) -> None:
    a = await replica(scs_factory)
    b = await replica(scs_factory, same_database_as=a)
    await until_trusted(b)
    origin = b.app.db.origin
    count = "SELECT COUNT(*) FROM scs_replica_leases WHERE replica = ?"
    assert await a.app.db.fetch_value(count, (origin,)) == 1
    await b.close()
    assert await a.app.db.fetch_value(count, (origin,)) == 0  # its lease was given back


async def test_a_replica_whose_listener_is_cut_off_reads_until_it_caught_up_again(
    scs_factory: ServerFactory, postgres_cluster: PostgresCluster
) -> None:
    _, b, alice, probe_on_b = await pair(scs_factory)
    lease = await until_trusted(b)
    # both replicas' listeners cut off, and kept from reconnecting
    async with listeners_cut_off(postgres_cluster, b) as ended:
        assert ended == 2
        assert not lease.trusted()  # from the moment its listener failed
        assert (await alice.call("revoke_token", token=alice.token))["revoked"] is True
        reads = b.app.auth.revocations.reads
        refused = await probe_on_b.fails("whoami", auth_token=alice.token)
        assert refused.code == "AUTH_004"
        assert b.app.auth.revocations.reads > reads  # by a read
    await until_trusted(b)  # its listener reconnected and caught up: memory answers again
    reads = b.app.auth.revocations.reads
    assert (await probe_on_b.fails("whoami", auth_token=alice.token)).code == "AUTH_004"
    assert b.app.auth.revocations.reads == reads


async def test_a_replica_whose_listener_stalls_loses_its_lease_and_reads(
    scs_factory: ServerFactory,
) -> None:
    a, b, alice, probe_on_b = await pair(scs_factory)
    lease = await until_trusted(b)
    # the listener's connection stays up but nothing it receives is read any more
    listener: Any = b.app.db.changes
    asyncio.get_running_loop().remove_reader(listener._watcher.conn.pgconn.socket)
    assert (await alice.call("revoke_token", token=alice.token))["revoked"] is True
    # the revocation returned once b's lease ran out (b stopped renewing it, as it could
    # not keep up): b no longer trusts its memory
    lapsed = await a.app.db.fetch_value(
        "SELECT lease_until <= extract(epoch FROM clock_timestamp())"
        " FROM scs_replica_leases WHERE replica = ?",
        (b.app.db.origin,),
    )
    assert lapsed is True
    assert not lease.trusted()
    reads = b.app.auth.revocations.reads
    assert (await probe_on_b.fails("whoami", auth_token=alice.token)).code == "AUTH_004"
    assert b.app.auth.revocations.reads > reads  # refused by a read


async def test_a_replica_renewing_a_lapsed_lease_trusts_memory_only_once_caught_up(
    scs_factory: ServerFactory,
) -> None:
    _, b, alice, probe_on_b = await pair(scs_factory)
    lease = await until_trusted(b)
    # b is paused: it neither renews nor reads its listener's socket
    assert lease._renewing is not None
    lease._renewing.cancel()
    listener: Any = b.app.db.changes
    asyncio.get_running_loop().remove_reader(listener._watcher.conn.pgconn.socket)
    assert (await alice.call("revoke_token", token=alice.token))["revoked"] is True
    assert not lease.trusted()  # the revocation returned once b's lease had lapsed
    # b wakes up and renews, its memory still without the revocation: the feed's head,
    # read after the renewal, is past what b has applied, so memory does not answer
    await lease._renew()
    assert not lease.trusted()
    reads = b.app.auth.revocations.reads
    assert (await probe_on_b.fails("whoami", auth_token=alice.token)).code == "AUTH_004"
    assert b.app.auth.revocations.reads > reads


async def test_a_gap_in_the_feed_makes_a_replica_reload_what_is_revoked(
    scs_factory: ServerFactory,
) -> None:
    a = await replica(scs_factory)
    alice = await a.agent("alice")
    lease = await until_trusted(a)
    identity = a.app.auth.tokens.verify(alice.token)
    assert identity.token_id is not None
    # a revocation whose change this replica missed (written without one)
    now = int(time.time())
    await a.app.db.execute(
        "INSERT INTO scs_revoked_tokens (jti, agent_id, expires_at, revoked_at)"
        " VALUES (?, 'alice', ?, ?)",
        (identity.token_id, now + 600, now - 1),
    )
    feed: Any = a.app.db.changes
    feed.gap("test")  # what a replica is told when it may have missed changes
    assert not lease.trusted()  # calls read until it has read every revocation again
    await until_trusted(a)
    reads = a.app.auth.revocations.reads
    assert (await alice.fails("whoami")).code == "AUTH_004"
    assert a.app.auth.revocations.reads == reads  # refused from the reloaded memory


async def test_more_revocations_than_memory_keeps_means_reads(
    scs_factory: ServerFactory,
) -> None:
    a = await replica(scs_factory)
    bob = await a.agent("bob")
    lease = await until_trusted(a)
    now = int(time.time())
    await a.app.db.execute(
        "INSERT INTO scs_revoked_tokens (jti, agent_id, expires_at, revoked_at)"
        " SELECT 'many-' || n, 'someone', ?, ? FROM generate_series(1, ?) AS n",
        (now + 600, now - 1, MAX_CACHED + 1),
    )
    feed: Any = a.app.db.changes
    feed.gap("test")  # read them all again: too many to keep
    assert lease._reloading is not None
    await lease._reloading
    assert not lease.trusted() and lease.revoked == {}
    reads = a.app.auth.revocations.reads
    await bob.call("whoami")
    assert a.app.auth.revocations.reads == reads + 1


async def test_a_lease_of_zero_reads_on_every_call(scs_factory: ServerFactory) -> None:
    a = await replica(scs_factory, revocation_lease_s=0)
    assert a.app.auth.revocations.lease is None
    bob = await a.agent("bob")
    reads = a.app.auth.revocations.reads
    await bob.call("whoami")
    assert a.app.auth.revocations.reads == reads + 1
