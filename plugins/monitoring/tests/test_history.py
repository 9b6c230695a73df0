"""The per-minute call history behind the dashboard's charts (``scs_monitoring.api``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scs_monitoring import api
from scs_monitoring.history import DURATIONS_PER_TOOL, CallHistory

if TYPE_CHECKING:
    from scs_server.testing import ServerFactory


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_minutes_roll_over_and_old_ones_fall_out() -> None:
    clock = Clock(600.0)
    history = CallHistory(minutes=3, clock=clock)
    history.add("a", 0.010, None)
    history.add("a", 0.030, "CONFLICT")
    clock.now = 660.5
    history.add("b", 0.002, None)
    minutes = history.recent(3)
    assert [m.start for m in minutes] == [600, 660]
    assert minutes[0].tools["a"].calls == 2
    assert dict(minutes[0].tools["a"].errors) == {"CONFLICT": 1}
    assert minutes[0].tools["a"].p95_ms() == 30.0
    clock.now = 600.0 + 5 * 60
    history.add("c", 0.001, None)
    assert [m.start for m in history.recent(3)] == [900]  # 600 and 660 are too old
    assert len(history.minutes) == 3


def test_durations_per_minute_are_bounded() -> None:
    history = CallHistory(clock=Clock(0.0))
    for _ in range(DURATIONS_PER_TOOL + 50):
        history.add("a", 0.001, None)
    figures = history.recent(1)[0].tools["a"]
    assert figures.calls == DURATIONS_PER_TOOL + 50
    assert len(figures.durations) == DURATIONS_PER_TOOL


async def test_real_calls_reach_the_history(scs_factory: ServerFactory) -> None:
    server = await scs_factory("default")
    alice = await server.agent("alice")
    await alice.call("create_session", purpose="counted")
    await alice.fails("get_session", session_id="session_0000000000000000")
    history = api.history(server.app)
    assert history is not None
    minutes = history.recent(2)  # the calls may straddle a minute boundary
    assert sum(m.tools["create_session"].calls for m in minutes if "create_session" in m.tools) == 1
    errors = [dict(m.tools["get_session"].errors) for m in minutes if "get_session" in m.tools]
    assert errors == [{"RESOURCE_001": 1}]
    snapshot = api.snapshot(server.app)
    assert snapshot is not None
    assert snapshot["tools"]["create_session"]["calls"] == 1
