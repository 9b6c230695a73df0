"""The CPU lane: one thread per process for CPU-heavy Python work (``scs_server.cpu``)."""

from __future__ import annotations

import asyncio
import os
import sys
import threading

import pytest
from scs_server.cpu import LANE_NICE, SWITCH_INTERVAL_S, lane_stats, prefer_event_loop, run_cpu


def whoami(tag: str) -> tuple[str, str]:
    return tag, threading.current_thread().name


async def test_jobs_run_off_the_loop_on_one_named_thread() -> None:
    before = lane_stats()
    answers = await asyncio.gather(*(run_cpu(whoami, tag=str(n)) for n in range(8)))
    assert [tag for tag, _ in answers] == [str(n) for n in range(8)]
    threads = {name for _, name in answers}
    assert len(threads) == 1  # one lane: CPU-bound jobs never compete with each other
    assert threads.pop().startswith("scs-cpu")
    after = lane_stats()
    assert after["jobs"] - before["jobs"] == 8
    assert after["busy_s"] >= before["busy_s"] and after["queued_s"] >= before["queued_s"]


async def test_a_failing_job_raises_in_the_caller_and_is_counted() -> None:
    def broken() -> None:
        raise ValueError("no")

    before = lane_stats()["jobs"]
    try:
        await run_cpu(broken)
    except ValueError as error:
        assert str(error) == "no"
    else:
        raise AssertionError("the job's error was lost")
    assert lane_stats()["jobs"] == before + 1


def test_a_served_process_switches_every_millisecond() -> None:
    previous = sys.getswitchinterval()
    try:
        prefer_event_loop()
        assert sys.getswitchinterval() == SWITCH_INTERVAL_S == 0.001
    finally:
        sys.setswitchinterval(previous)


@pytest.mark.skipif(
    sys.platform != "linux", reason="threads have nice values of their own on Linux"
)
async def test_the_lane_runs_below_the_event_loop() -> None:
    def own_nice() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    loop_nice = own_nice()
    assert await run_cpu(own_nice) == min(loop_nice + LANE_NICE, 19)
    assert own_nice() == loop_nice  # the caller's own priority is untouched
