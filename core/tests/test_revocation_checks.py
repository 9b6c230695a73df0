"""The per-call revocation check: concurrent calls share a read, each gets its own answer,
and a revocation committed before a call asks is always seen (never a stale answer).
These are the reads; PostgreSQL replicas answer from memory under a lease instead
(test_revocation_lease.py), and read like this when the lease does not hold."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import pytest
from scs_server.auth import store
from scs_server.auth.revocations import RevocationChecks
from scs_server.testing import parse_error, parse_result, until_a_backend_waits_for_a_lock

from . import probe_plugin

if TYPE_CHECKING:
    from scs_server.storage import Database
    from scs_server.testing import ScsServer


async def read_path_server(scs_factory: Any) -> ScsServer:
    """A server whose checks read (no revocation lease: test_revocation_lease.py)."""
    server: ScsServer = await scs_factory(
        "probe", http=True, extra_plugins={"probe": probe_plugin}, revocation_lease_s=0
    )
    return server


@pytest.fixture
async def auth_db(storage_db: Database) -> Database:
    await storage_db.migrate("auth", store.MIGRATIONS)
    return storage_db


async def revoke(db: Database, jti: str) -> None:
    assert await store.revoke(db, jti, "someone", int(time.time()) + 600, "revoke")


async def test_concurrent_checks_share_reads_and_keep_their_answers(auth_db: Database) -> None:
    checks = RevocationChecks(auth_db)
    for jti in ("t3", "t5", "t66"):
        await revoke(auth_db, jti)
    jtis = [f"t{i}" for i in range(70)]
    if auth_db.dialect == "postgresql":
        # the first read waits behind a lock, so the 69 checks that come meanwhile find it
        # on its way for certain (a free server can answer before the loop turns)
        async with auth_db.transaction() as holder:
            await holder.execute("LOCK TABLE scs_revoked_tokens IN ACCESS EXCLUSIVE MODE")
            asking = asyncio.gather(*(checks.is_revoked(jti) for jti in jtis))
            await until_a_backend_waits_for_a_lock(auth_db, "the first read")
        answers = await asking
    else:
        answers = await asyncio.gather(*(checks.is_revoked(jti) for jti in jtis))
    assert [jti for jti, revoked in zip(jtis, answers, strict=True) if revoked] == [
        "t3",
        "t5",
        "t66",
    ]
    assert checks.checks == 70
    if auth_db.dialect == "postgresql":
        # the first reads alone; the 69 that came meanwhile share two (64 at most a read)
        assert checks.reads == 3
    else:  # a SQLite point read never waits, so no call ever finds one on its way
        assert checks.reads == 70


async def test_a_check_never_gets_an_answer_read_before_it_asked(auth_db: Database) -> None:
    checks = RevocationChecks(auth_db)
    first = asyncio.ensure_future(checks.is_revoked("early"))
    await asyncio.sleep(0)  # on PostgreSQL its read is now on its way
    await revoke(auth_db, "late")  # committed before the next check asks
    assert await checks.is_revoked("late") is True
    assert await first is False


async def test_a_failed_read_fails_every_call_that_shared_it(auth_db: Database) -> None:
    checks = RevocationChecks(auth_db)
    await auth_db.execute("DROP TABLE scs_revoked_tokens")
    outcomes = await asyncio.gather(
        *(checks.is_revoked(f"t{i}") for i in range(5)), return_exceptions=True
    )
    assert all(isinstance(outcome, Exception) for outcome in outcomes)
    assert checks.checks == 5  # every call asked, none was answered "not revoked"


async def test_concurrent_calls_over_http_each_get_their_own_verdict(scs_factory: Any) -> None:
    server: ScsServer = await read_path_server(scs_factory)
    agents = [await server.agent(name) for name in ("alice", "bob", "carol", "dave")]
    assert (await agents[2].call("revoke_token", token=agents[2].token))["revoked"] is True
    revocations = server.app.auth.revocations
    before = revocations.checks

    async def verdict(index: int) -> str:
        agent = agents[index % 4]
        if agent.agent_id == "carol":
            return (await agent.fails("whoami")).code
        return str((await agent.call("whoami"))["agent_id"])

    verdicts = await asyncio.gather(*(verdict(i) for i in range(20)))
    assert verdicts == ["alice", "bob", "AUTH_004", "dave"] * 5
    assert revocations.checks - before == 20


async def test_a_bearer_call_starts_its_check_as_it_arrives(scs_factory: Any) -> None:
    server: ScsServer = await read_path_server(scs_factory)
    alice = await server.agent("alice")
    revocations = server.app.auth.revocations
    client = await server.open_client(alice.token)  # the token only as a Bearer header

    async def whoami() -> Any:
        return await client.call_tool("whoami", {}, raise_on_error=False)

    assert parse_result(await whoami())["agent_id"] == "alice"  # the token is known now
    started, checks = revocations.started_early, revocations.checks
    for _ in range(3):
        assert parse_result(await whoami())["agent_id"] == "alice"
    # on PostgreSQL (a read is a round trip) each check began as its request arrived
    early = 3 if server.app.db.dialect == "postgresql" else 0
    assert (revocations.started_early - started, revocations.checks - checks) == (early, 3)
    identity = server.app.auth.tokens.known(alice.token)
    assert identity is not None and identity.token_id is not None
    await revoke(server.app.db, identity.token_id)  # committed before the next request
    refused = await whoami()
    assert refused.is_error and parse_error(refused).code == "AUTH_004"
    assert revocations.started_early - started == (4 if early else 0)
    # a call presenting another token than its header's is checked for that token
    bob = await server.agent("bob")
    answer = await client.call_tool("whoami", {"auth_token": bob.token}, raise_on_error=False)
    assert parse_result(answer)["agent_id"] == "bob"


async def test_a_legacy_session_starts_its_checks_early_too(scs_factory: Any) -> None:
    server: ScsServer = await read_path_server(scs_factory)
    alice = await server.agent("alice")
    revocations = server.app.auth.revocations
    # a handshake-era protocol: no Mcp-Method header, an Mcp-Session-Id instead
    client = await server.open_client(alice.token, mode="legacy")
    assert parse_result(await client.call_tool("whoami", {}))["agent_id"] == "alice"
    started = revocations.started_early
    for _ in range(2):
        assert parse_result(await client.call_tool("whoami", {}))["agent_id"] == "alice"
    early = 2 if server.app.db.dialect == "postgresql" else 0
    assert revocations.started_early - started == early
