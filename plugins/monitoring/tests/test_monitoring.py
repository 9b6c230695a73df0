"""Monitoring through a real MCP client: figures measured from real calls."""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import TYPE_CHECKING, Any

import httpx2
from scs_monitoring.gcpauses import GcPauses
from scs_monitoring.metrics import Metrics
from scs_server.testing import ADMIN_API_KEY

from . import probe

if TYPE_CHECKING:
    import pytest
    from scs_server.testing import Agent, ScsServer, ServerFactory


async def probe_server(scs_factory: ServerFactory, **options: Any) -> ScsServer:
    return await scs_factory("default,probe", extra_plugins={"probe": probe.module()}, **options)


async def metrics_of(admin: Agent) -> dict[str, Any]:
    result: dict[str, Any] = await admin.call("get_performance_metrics")
    return result


async def test_counts_and_errors_by_code(scs_factory: ServerFactory) -> None:
    server = await probe_server(scs_factory)
    alice = await server.agent("alice")
    admin = await server.agent("root", agent_type="admin")
    for _ in range(3):
        await alice.call("probe_ok")
    for _ in range(2):
        assert (await alice.fails("probe_fail", code="CONFLICT")).code == "CONFLICT"
    assert (await alice.fails("probe_fail", code=["not", "a", "string"])).code == "VALIDATION_001"
    assert (await alice.fails("probe_ok", auth_token="forged")).code == "AUTH_002"

    figures = await metrics_of(admin)
    tools = figures["tools"]
    assert tools["probe_ok"]["calls"] == 4
    assert tools["probe_ok"]["errors"] == 1
    assert tools["probe_ok"]["errors_by_code"] == {"AUTH_002": 1}
    assert tools["probe_fail"]["calls"] == 3
    assert tools["probe_fail"]["errors_by_code"] == {"CONFLICT": 2, "VALIDATION_001": 1}
    assert tools["authenticate_agent"]["calls"] == 2
    assert "get_performance_metrics" not in tools  # this call is still running
    assert figures["totals"]["calls"] == 4 + 3 + 2
    assert figures["totals"]["errors"] == 4
    assert figures["in_flight"] == 1
    for name in ("probe_ok", "probe_fail", "authenticate_agent"):
        row = tools[name]
        assert 0 < row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"]

    again = await metrics_of(admin)
    assert again["tools"]["get_performance_metrics"]["calls"] == 1
    assert again["tools"]["probe_ok"]["calls"] == 4


async def test_latency_is_measured(scs_factory: ServerFactory) -> None:
    server = await probe_server(scs_factory)
    alice = await server.agent("alice")
    admin = await server.agent("root", agent_type="admin")
    for _ in range(3):
        await alice.call("probe_sleep", ms=30)
    row = (await metrics_of(admin))["tools"]["probe_sleep"]
    assert row["calls"] == 3
    assert 30 <= row["p50_ms"] < 30_000
    assert row["mean_ms"] >= 30


async def test_in_flight_and_database_figures(scs_factory: ServerFactory) -> None:
    server = await probe_server(scs_factory)
    alice = await server.agent("alice")
    admin = await server.agent("root", agent_type="admin")
    gate = server.app.services.get(probe.Gate, needed_by="test")
    waiting = asyncio.create_task(alice.call("probe_wait"))
    try:
        await asyncio.wait_for(gate.entered.wait(), timeout=10)
        figures = await metrics_of(admin)
        assert figures["in_flight"] == 2  # probe_wait and this call
    finally:
        gate.release.set()
        await asyncio.wait_for(waiting, timeout=10)
    figures = await metrics_of(admin)
    assert figures["in_flight"] == 1
    database = figures["database"]
    assert database["dialect"] == server.app.db.dialect
    assert database["pool_size"] == server.app.settings.db_pool_size
    assert database["in_use"] == 0  # nothing borrowed between calls
    if database["dialect"] == "sqlite":
        assert database["writes_on_loop"] >= 1  # the agents' registration
        assert database["checkpoints"] >= 0 and "writes_in_thread" in database
    else:
        assert "writes_on_loop" not in database and "checkpoints" not in database
    assert figures["uptime_seconds"] > 0
    assert figures["ratelimit"]["refused"] == 0


async def test_non_admin_refused(scs_factory: ServerFactory) -> None:
    server = await probe_server(scs_factory)
    alice = await server.agent("alice")
    error = await alice.fails("get_performance_metrics")
    assert error.code == "AUTH_005"


async def test_unknown_tool_names_do_not_become_labels(scs_factory: ServerFactory) -> None:
    server = await probe_server(scs_factory)
    alice = await server.agent("alice")
    admin = await server.agent("root", agent_type="admin")
    for n in range(3):
        assert (await alice.fails(f"no_such_tool_{n}")).code == "RESOURCE_001"
    tools = (await metrics_of(admin))["tools"]
    assert tools["unknown"]["calls"] == 3
    assert tools["unknown"]["errors_by_code"] == {"RESOURCE_001": 3}
    assert not any(name.startswith("no_such_tool") for name in tools)


async def test_servers_in_one_process_count_separately(scs_factory: ServerFactory) -> None:
    first = await probe_server(scs_factory)
    second = await probe_server(scs_factory)
    alice = await first.agent("alice")
    await alice.call("probe_ok")
    admin = await second.agent("root", agent_type="admin")
    assert "probe_ok" not in (await metrics_of(admin))["tools"]


async def test_one_log_line_per_call_and_slow_calls_warn(
    scs_factory: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="scs.monitoring")
    # the slow mark is far above a fast call on a loaded CI machine, far below the sleep
    server = await probe_server(scs_factory, env={"SCS_MONITORING_SLOW_MS": "500"})
    alice = await server.agent("alice")
    caplog.clear()
    await alice.call("probe_ok")
    await alice.fails("probe_fail", code="CONFLICT")
    await alice.call("probe_sleep", ms=700)
    lines = [r for r in caplog.records if r.name == "scs.monitoring"]
    assert len(lines) == 3
    ok, failed, slow = (r.scs for r in lines)  # type: ignore[attr-defined]
    assert ok["tool"] == "probe_ok" and ok["agent"] == "alice" and ok["outcome"] == "ok"
    assert failed["outcome"] == "error" and failed["code"] == "CONFLICT"
    assert slow["event"] == "slow_tool_call" and slow["duration_ms"] >= 700
    assert [r.levelno for r in lines] == [logging.INFO, logging.INFO, logging.WARNING]
    assert len({f["request_id"] for f in (ok, failed, slow)}) == 3
    assert "request_id=" in lines[0].getMessage() and "agent=alice" in lines[0].getMessage()


async def test_call_log_can_be_turned_off(
    scs_factory: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="scs.monitoring")
    server = await probe_server(
        scs_factory, env={"SCS_MONITORING_LOG_LEVEL": "OFF", "SCS_MONITORING_SLOW_MS": "500"}
    )
    alice = await server.agent("alice")
    caplog.clear()
    await alice.call("probe_ok")
    await alice.call("probe_sleep", ms=700)
    lines = [r for r in caplog.records if r.name == "scs.monitoring"]
    assert [r.levelno for r in lines] == [logging.WARNING]  # slow calls are still reported


async def test_server_works_without_monitoring(scs_factory: ServerFactory) -> None:
    server = await scs_factory("default,-monitoring", http=True)
    alice = await server.agent("alice")
    assert (await alice.fails("get_performance_metrics")).code == "RESOURCE_001"
    assert Metrics not in server.app.services
    assert server.url is not None
    async with httpx2.AsyncClient() as http:
        response = await http.get(
            server.url.removesuffix("/mcp") + "/metrics", headers={"X-API-Key": ADMIN_API_KEY}
        )
    assert response.status_code == 404


async def test_garbage_collector_pauses_are_measured(scs_factory: ServerFactory) -> None:
    server = await probe_server(scs_factory)
    admin = await server.agent("root", agent_type="admin")
    before = (await metrics_of(admin))["gc"]["generations"]["gen2"]
    junk: list[list[object]] = [[] for _ in range(200)]
    for item in junk:
        item.append(item)  # a cycle: only the collector frees it
    del junk, item
    gc.collect(2)
    figures = (await metrics_of(admin))["gc"]
    gen2 = figures["generations"]["gen2"]
    assert gen2["collections"] >= before["collections"] + 1
    assert gen2["collected"] >= before["collected"] + 200
    assert gen2["seconds"] > before["seconds"]
    assert gen2["max_ms"] > 0
    assert figures["thresholds"] == list(gc.get_threshold())


def test_the_gc_recorder_is_installed_once_while_used() -> None:
    pauses = GcPauses()
    pauses.acquire()
    pauses.acquire()  # a second App in the process
    try:
        assert gc.callbacks.count(pauses._callback) == 1
        pauses.release()
        assert gc.callbacks.count(pauses._callback) == 1  # the first App still runs
    finally:
        pauses.release()
    assert pauses._callback not in gc.callbacks
    collections = pauses.generations[0].collections
    gc.collect(0)
    assert pauses.generations[0].collections == collections  # no longer counting
