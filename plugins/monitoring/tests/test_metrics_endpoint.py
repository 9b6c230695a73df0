"""GET /metrics over real HTTP: Prometheus text for the admin key or the metrics token,
401/403 (429 in backoff) for others."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from typing import TYPE_CHECKING, Any

import httpx2
from prometheus_client.parser import text_string_to_metric_families
from scs_server.testing import ADMIN_API_KEY, API_KEY

from . import probe

if TYPE_CHECKING:
    import pytest
    from scs_server.testing import ScsServer, ServerFactory

METRICS_TOKEN = "metrics-token-" + "m" * 40


async def get_metrics(server: ScsServer, headers: dict[str, str] | None = None) -> httpx2.Response:
    assert server.url is not None
    async with httpx2.AsyncClient() as http:
        return await http.get(server.url.removesuffix("/mcp") + "/metrics", headers=headers or {})


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def http_server(scs_factory: ServerFactory, **options: Any) -> ScsServer:
    return await scs_factory(
        "default,probe", http=True, extra_plugins={"probe": probe.module()}, **options
    )


async def test_metrics_parse_and_count_real_calls(scs_factory: ServerFactory) -> None:
    server = await http_server(scs_factory)
    alice = await server.agent("alice")
    lease = server.app.auth.revocations.lease
    deadline = time.monotonic() + 20
    while lease is not None and not lease.trusted():  # PostgreSQL: until the lease holds
        assert time.monotonic() < deadline, "the revocation lease was never trusted"
        await asyncio.sleep(0.01)
    for _ in range(3):
        await alice.call("probe_ok")
    await alice.fails("probe_fail", code="CONFLICT")
    session = await alice.call("create_session", purpose="metrics")
    await alice.call("add_message", session_id=session["session_id"], content="counted")
    await alice.call("get_messages", session_id=session["session_id"])

    gc.collect(1)  # at least one pause of generation 1 to report
    response = await get_metrics(server, {"X-API-Key": ADMIN_API_KEY})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    values = samples(response.text)
    assert values[("scs_gc_collections_total", (("generation", "1"),))] >= 1
    assert values[("scs_gc_pause_seconds_total", (("generation", "1"),))] > 0
    assert values[("scs_gc_pause_max_seconds", (("generation", "1"),))] > 0
    assert values[("scs_tool_calls_total", (("outcome", "ok"), ("tool", "probe_ok")))] == 3
    assert values[("scs_tool_calls_total", (("outcome", "error"), ("tool", "probe_fail")))] == 1
    assert values[("scs_tool_errors_total", (("code", "CONFLICT"), ("tool", "probe_fail")))] == 1
    assert values[("scs_tool_duration_seconds_count", (("tool", "probe_ok"),))] == 3
    assert values[("scs_tool_duration_seconds_bucket", (("le", "+Inf"), ("tool", "probe_ok")))] == 3
    assert values[("scs_tool_calls_in_flight", ())] == 0
    dialect = server.app.db.dialect
    engine = (("dialect", dialect),)
    assert values[("scs_db_pool_size", engine)] == server.app.settings.db_pool_size
    assert values[("scs_db_changes_delivered_total", engine)] >= 2  # the session, the message
    if dialect == "sqlite":
        assert values[("scs_db_writes_on_loop_total", engine)] >= 2  # create_session, add_message
        assert values[("scs_db_reads_on_loop_total", engine)] >= 1  # get_messages' page
        assert (
            values[("scs_db_reads_over_budget_total", engine)]
            == server.app.db.stats()["reads_over_budget"]
        )
        # heavy transactions (start-up, migrations) run in a thread; tool writes do not
        assert (
            values[("scs_db_writes_in_thread_total", engine)]
            == server.app.db.stats()["writes_in_thread"]
        )
        assert (
            values[("scs_db_grouped_writes_total", engine)]
            == server.app.db.stats()["grouped_writes"]
        )
        assert (
            values[("scs_db_wal_restarts_total", engine)] == server.app.db.stats()["wal_restarts"]
        )
    else:  # PostgreSQL reports no loop-side writes nor checkpoints: no such series
        assert not any(name.startswith(("scs_db_writes", "scs_db_reads")) for name, _ in values)
        assert not any(name.startswith(("scs_db_checkpoints", "scs_db_wal")) for name, _ in values)
    assert not any(
        name.startswith("scs_db_") and labels != engine for name, labels in values
    )  # every database series names its engine
    assert values[("scs_uptime_seconds", ())] > 0
    assert values[("scs_ratelimit_refused_total", (("reason", "credential"),))] == 0
    assert values[("scs_auth_throttled_total", ())] == 0
    # every call's token is checked: by a read, or on PostgreSQL from the lease's memory
    checks = values[("scs_revocation_checks_total", ())]
    reads = values[("scs_revocation_reads_total", ())]
    from_memory = values[("scs_revocation_answered_from_memory_total", ())]
    assert checks >= 7 and checks == reads + from_memory  # the calls above, one by one
    if dialect == "sqlite":
        assert (from_memory, values[("scs_revocation_lease_trusted", ())]) == (0, 0)
    else:  # the lease was trusted before the calls (a read only in a renewal's instant)
        assert from_memory >= 1 and ("scs_revocation_lease_trusted", ()) in values


async def test_metrics_refused_without_or_with_wrong_credentials(
    scs_factory: ServerFactory,
) -> None:
    server = await http_server(scs_factory)
    missing = await get_metrics(server)
    assert missing.status_code == 401
    assert missing.json()["success"] is False
    assert "scs_tool" not in missing.text
    wrong = await get_metrics(server, {"X-API-Key": "x" * 40})
    assert wrong.status_code == 403
    # the plain API key does not open /metrics (it is not an admin credential)
    assert (await get_metrics(server, {"X-API-Key": API_KEY})).status_code == 403
    assert (await get_metrics(server, {"Authorization": f"Bearer {API_KEY}"})).status_code == 403
    admin = await get_metrics(server, {"X-API-Key": ADMIN_API_KEY})
    assert admin.status_code == 200
    bearer_admin = await get_metrics(server, {"Authorization": f"Bearer {ADMIN_API_KEY}"})
    assert bearer_admin.status_code == 200  # a bearer credential is checked the same way


async def test_metrics_token(scs_factory: ServerFactory) -> None:
    server = await http_server(scs_factory, env={"SCS_MONITORING_METRICS_TOKEN": METRICS_TOKEN})
    assert (
        await get_metrics(server, {"Authorization": f"Bearer {METRICS_TOKEN}"})
    ).status_code == 200
    assert (await get_metrics(server, {"X-API-Key": METRICS_TOKEN})).status_code == 200
    assert (await get_metrics(server, {"Authorization": "Bearer nope"})).status_code == 403


async def test_event_loop_stalls_say_where_the_loop_was(
    scs_factory: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="scs.monitoring.loop")
    server = await http_server(scs_factory, env={"SCS_MONITORING_LOOP_STALL_MS": "200"})
    alice = await server.agent("alice")
    admin = await server.agent("root", agent_type="admin")
    await alice.call("probe_block", ms=600)
    figures = (await admin.call("get_performance_metrics"))["loop_stalls"]
    assert figures["threshold_ms"] == 200
    blocked = [s for s in figures["longest_recent"] if "probe_block" in s["where"]]
    # a turn is late by the block less the heartbeat's period (half the threshold)
    assert len(blocked) == 1 and blocked[0]["ms"] >= 490, figures
    assert blocked[0]["where"].startswith("probe.py:")  # the innermost frame first
    assert figures["max_ms"] >= 490
    # one warning every 10 s at most: the first stall of the server's life is the one told
    warned = [r.getMessage() for r in caplog.records if r.name == "scs.monitoring.loop"]
    assert warned and warned[0].startswith("the event loop stalled "), warned
    values = samples((await get_metrics(server, {"X-API-Key": ADMIN_API_KEY})).text)
    assert values[("scs_event_loop_stalls_total", ())] >= 1
    assert values[("scs_event_loop_stall_max_seconds", ())] >= 0.49


async def test_event_loop_stalls_can_go_unwatched(scs_factory: ServerFactory) -> None:
    server = await http_server(scs_factory, env={"SCS_MONITORING_LOOP_STALL_MS": "0"})
    admin = await server.agent("root", agent_type="admin")
    await admin.call("probe_block", ms=300)
    assert (await admin.call("get_performance_metrics"))["loop_stalls"] is None
    values = samples((await get_metrics(server, {"X-API-Key": ADMIN_API_KEY})).text)
    assert not any(name.startswith("scs_event_loop") for name, _ in values)
