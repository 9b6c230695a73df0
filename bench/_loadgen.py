"""The load generator: worker processes that drive MCP clients over streamable HTTP.

Each worker owns some agents (one ``fastmcp.Client`` each, with its Bearer token)
and runs one scenario at a time on command from the main process:

1. main sends a ``Scenario``; the worker opens its clients and answers ``ready``;
2. main sends ``go`` with a start instant (``time.monotonic`` is system-wide on Linux);
3. the worker runs until the deadline and answers with its samples and acks.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from _common import tool_error_code, tool_json

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.queues import Queue

    from fastmcp import Client

WORDS = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
    "mike",
    "november",
    "oscar",
    "papa",
    "quebec",
    "romeo",
    "sierra",
    "tango",
    "uniform",
    "victor",
    "whiskey",
    "xray",
    "yankee",
    "zulu",
    "schema",
    "index",
    "cache",
    "token",
    "session",
    "memory",
    "search",
    "message",
    "agent",
    "review",
    "deploy",
    "refactor",
    "latency",
    "throughput",
    "migration",
    "rollback",
    "pipeline",
    "parser",
    "compiler",
    "network",
    "database",
]  # noqa: SIM905

CALL_TIMEOUT_S = 30.0
CLOSE_TIMEOUT_S = 15.0


@dataclass
class AgentSpec:
    agent_id: str
    token: str
    session_id: str
    url: str = ""  # the replica this agent calls ("" = the scenario's url)
    label: str = ""  # samples are keyed "label:tool" when set (agents of two servers)
    read_back: bool = True  # its writes join the lost-message check (not the no-op's)


@dataclass
class Scenario:
    """What every agent of a worker does: ``mix`` tools in turn, closed or open loop."""

    name: str
    url: str
    agents: list[AgentSpec]
    mix: list[str]
    duration_s: float
    open_interval_s: float | None = None  # None = closed loop (back to back)
    max_calls_per_agent: int | None = None
    search_queries: list[str] = field(default_factory=list)
    after_id: int = 0
    # closed loop, one call at a time across the agents, in turn: agents of two servers
    # then see the same moments of the machine (one worker runs them all)
    lockstep: bool = False


@dataclass
class AgentState:
    spec: AgentSpec
    seq: int = 0
    last_id: int = 0
    memory_keys: int = 0


def call_for(
    tool: str, state: AgentState, scenario: Scenario, rng: random.Random
) -> dict[str, Any]:
    """Arguments of the next call of ``tool`` by this agent."""
    spec = state.spec
    state.seq += 1
    if tool == "add_message":
        words = " ".join(rng.choice(WORDS) for _ in range(12))
        return {
            "session_id": spec.session_id,
            "content": f"{scenario.name}/{spec.agent_id}/{state.seq} {words}",
        }
    if tool == "get_messages":
        after = max(scenario.after_id, state.last_id - 20)
        return {"session_id": spec.session_id, "after_id": after, "limit": 50}
    if tool == "set_memory":
        return {
            "key": f"bench-{state.seq % 50}",
            "value": {"n": state.seq, "note": " ".join(rng.choice(WORDS) for _ in range(8))},
        }
    if tool == "get_memory":
        return {"key": f"bench-{state.seq % 50}"}
    if tool == "create_session":
        return {"purpose": f"bench {spec.agent_id} {state.seq}"}
    if tool == "search_context":
        return {
            "session_id": spec.session_id,
            "query": rng.choice(scenario.search_queries),
            "limit": 10,
        }
    raise ValueError(f"no call recipe for tool {tool!r}")


async def one_call(
    client: Client[Any],
    tool: str,
    arguments: dict[str, Any],
    state: AgentState,
    started: float,
    samples: list[tuple[str, float, float, str | None]],
    acks: list[tuple[int, str, str]],
) -> None:
    """Make one call; record (tool, start, latency, error code) and, for writes, the ack."""
    code: str | None = None
    spec = state.spec
    try:
        result = await client.call_tool(
            tool, arguments, raise_on_error=False, timeout=CALL_TIMEOUT_S
        )
    except Exception as error:  # the transport failed: count it, keep going
        code = f"EXC:{type(error).__name__}"
    else:
        if result.is_error:
            code = tool_error_code(result)
        elif tool == "add_message":
            body = tool_json(result)
            message_id = int(body["message_id"])
            if spec.read_back:
                acks.append((message_id, arguments["session_id"], arguments["content"]))
            state.last_id = max(state.last_id, message_id)
        elif tool == "get_messages":
            body = tool_json(result)
            for message in body.get("messages") or []:
                state.last_id = max(state.last_id, int(message["id"]))
    key = f"{spec.label}:{tool}" if spec.label else tool
    samples.append((key, started, time.monotonic() - started, code))


async def run_agent(
    client: Client[Any],
    state: AgentState,
    scenario: Scenario,
    start_at: float,
    index: int,
    samples: list[tuple[str, float, float, str | None]],
    acks: list[tuple[int, str, str]],
    turn: asyncio.Lock | None = None,
) -> None:
    """One agent's calls until the deadline; with ``turn`` (lockstep), each call holds it
    (an asyncio lock hands over in FIFO order: two agents alternate call by call)."""
    rng = random.Random(f"{scenario.name}/{state.spec.agent_id}/{state.spec.label}")
    deadline = start_at + scenario.duration_s
    limit = scenario.max_calls_per_agent or 10_000_000
    interval = scenario.open_interval_s
    if interval is None:  # closed loop: the next call when the previous one answered
        for count in range(limit):
            now = time.monotonic()
            if now >= deadline:
                break
            tool = scenario.mix[count % len(scenario.mix)]
            arguments = call_for(tool, state, scenario, rng)
            async with turn or contextlib.nullcontext():
                await one_call(client, tool, arguments, state, time.monotonic(), samples, acks)
        return
    # open loop: calls go out on schedule whether or not the previous one answered;
    # latency is measured from the scheduled instant (no coordinated omission)
    pending: set[asyncio.Task[None]] = set()
    offset = interval * index / max(1, len(scenario.agents))
    for count in range(limit):
        scheduled = start_at + offset + count * interval
        if scheduled >= deadline:
            break
        delay = scheduled - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tool = scenario.mix[count % len(scenario.mix)]
        arguments = call_for(tool, state, scenario, rng)
        task = asyncio.create_task(
            one_call(client, tool, arguments, state, scheduled, samples, acks)
        )
        pending.add(task)
        task.add_done_callback(pending.discard)
    if pending:
        await asyncio.wait(pending, timeout=CALL_TIMEOUT_S + 5)


async def open_clients(url: str, agents: list[AgentSpec]) -> list[Client[Any]]:
    from fastmcp import Client
    from fastmcp.client.transports import StreamableHttpTransport

    clients = [
        Client(
            StreamableHttpTransport(a.url or url, headers={"Authorization": f"Bearer {a.token}"})
        )
        for a in agents
    ]
    gate = asyncio.Semaphore(10)

    async def enter(client: Client[Any]) -> None:
        async with gate:
            await client.__aenter__()

    await asyncio.gather(*(enter(c) for c in clients))
    return clients


async def close_clients(clients: list[Client[Any]]) -> None:
    """Close every client at once, within CLOSE_TIMEOUT_S. A client whose call timed out
    or failed keeps the transport error and raises it here (the call already counted it),
    and closes slowly: one by one, a few such clients held the next scenario for minutes."""

    async def close(client: Client[Any]) -> str | None:
        try:
            await client.__aexit__(None, None, None)
        except Exception as error:
            return type(error).__name__
        return None

    tasks = [asyncio.ensure_future(close(c)) for c in clients]
    done, pending = await asyncio.wait(tasks, timeout=CLOSE_TIMEOUT_S)
    for task in pending:
        task.cancel()
    failed = Counter(t.result() for t in done if t.result() is not None)
    if failed or pending:
        print(
            f"loadgen: {len(clients)} clients closed; errors {dict(failed)},"
            f" {len(pending)} abandoned after {CLOSE_TIMEOUT_S:.0f} s",
            file=sys.stderr,
        )


async def warm_up(clients: list[Client[Any]], scenario: Scenario, acks: list[Any]) -> None:
    """One unmeasured call of each tool per client: a client's first call pays one-off costs
    (on both servers) that would otherwise land in the open loop's p99. Writes are acked."""
    gate = asyncio.Semaphore(10)
    rng = random.Random(0)

    async def warm(client: Client[Any], agent: AgentSpec) -> None:
        state = AgentState(agent, seq=1_000_000)  # contents distinct from the measured calls
        async with gate:
            for tool in dict.fromkeys(scenario.mix):
                arguments = call_for(tool, state, scenario, rng)
                await one_call(client, tool, arguments, state, time.monotonic(), [], acks)

    await asyncio.gather(*(warm(c, a) for c, a in zip(clients, scenario.agents, strict=True)))


async def report_progress(queue: Queue[Any], worker: int, samples: list[Any]) -> None:
    while True:
        queue.put((worker, len(samples)))
        await asyncio.sleep(0.25)


async def serve(conn: Connection, queue: Queue[Any], worker: int) -> None:
    loop = asyncio.get_running_loop()
    while True:
        scenario: Scenario | None = await loop.run_in_executor(None, conn.recv)
        if scenario is None:
            return
        samples: list[tuple[str, float, float, str | None]] = []
        acks: list[tuple[int, str, str]] = []
        clients = await open_clients(scenario.url, scenario.agents)
        try:
            await warm_up(clients, scenario, acks)
            quiet_collector()
            conn.send(("ready", len(clients)))
            _, start_at = await loop.run_in_executor(None, conn.recv)
            ticker = asyncio.create_task(report_progress(queue, worker, samples))
            turn = asyncio.Lock() if scenario.lockstep else None
            await asyncio.gather(
                *(
                    run_agent(c, AgentState(a), scenario, start_at, i, samples, acks, turn)
                    for i, (c, a) in enumerate(zip(clients, scenario.agents, strict=True))
                )
            )
            ticker.cancel()
            queue.put((worker, len(samples)))
            conn.send(("done", samples, acks))  # before closing: the wall clock stops here
        finally:
            loud_collector()
            await close_clients(clients)


def quiet_collector() -> None:
    """No garbage collection in the generator while it measures (``loud_collector`` after).

    With it on, the generator's own collections paused its loop in the middle of the
    open loop (a full one walked the state of every client, up to ~160 ms; young ones
    5-13 ms), and those pauses landed in the latencies of both servers. A client call
    leaves no cyclic garbage (measured: 0 objects in 2,000 calls), so memory does not
    grow meanwhile.
    """
    gc.collect()
    gc.freeze()
    gc.disable()


def loud_collector() -> None:
    """The collector back on, over everything again, once a scenario is measured."""
    gc.unfreeze()
    gc.enable()


def worker_main(conn: Connection, queue: Queue[Any], worker: int) -> None:
    """Entry point of a load-generator process."""
    asyncio.run(serve(conn, queue, worker))
