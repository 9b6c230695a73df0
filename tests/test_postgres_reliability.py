"""PostgreSQL deployments survive what production does to them.

- The database restarts under load: calls made while it is down get the typed
  ``DATABASE_UNAVAILABLE`` error (never an internal error, never a hang), and the same
  server process serves again once it is back, change feed included.
- A replica is killed with SIGKILL in the middle of writing: the other replica keeps
  serving, and every write the killed one acknowledged is there; nothing half-written.

Each test owns its cluster (it stops and kills things), so the shared one is untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from typing import TYPE_CHECKING, Any

import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from scs_server.testing import (
    API_KEY,
    ToolCallError,
    parse_error,
    parse_result,
    server_env,
    start_cluster,
    start_server_process,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator
    from pathlib import Path

    from scs_server.storage.cluster import PostgresCluster
    from scs_server.testing import ServerFactory, ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("db_engine", ["postgresql"])]

DEADLINE_S = 30.0


@pytest.fixture
def own_cluster(db_engine: str) -> Iterator[PostgresCluster]:
    cluster = start_cluster()
    yield cluster
    cluster.destroy()


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {DEADLINE_S}s: {what}")
        await asyncio.sleep(0.1)


async def test_a_database_restart_is_a_typed_outage_and_the_server_recovers(
    scs_factory: ServerFactory, own_cluster: PostgresCluster
) -> None:
    url = own_cluster.create_database()
    a = await scs_factory(http=True, database_url=url)
    b = await scs_factory(http=True, same_database_as=a)
    writer = await a.agent("writer")
    reader = await b.agent("reader")
    sid = (await writer.call("create_session", purpose="outage"))["session_id"]
    await writer.call("add_message", session_id=sid, content="before the restart")

    await asyncio.to_thread(own_cluster.stop, "fast")
    refused = await writer.fails("add_message", session_id=sid, content="while down")
    assert refused.code == "DATABASE_UNAVAILABLE", refused.body
    assert refused.body.get("hint")

    await asyncio.to_thread(own_cluster.start)

    async def writes_again() -> bool:
        try:
            await writer.call("add_message", session_id=sid, content="after the restart")
        except ToolCallError as error:
            assert error.code == "DATABASE_UNAVAILABLE", error.body
            return False
        return True

    await until(writes_again, "the writer's server writes again after the restart")

    async def reader_sees_everything() -> bool:
        try:
            page = await reader.call("get_messages", session_id=sid)
        except ToolCallError as error:
            assert error.code == "DATABASE_UNAVAILABLE", error.body
            return False
        return [m["content"] for m in page["messages"]] == [
            "before the restart",
            "after the restart",
        ]

    # b's cache and search index follow the feed: its LISTEN connection must come back
    await until(reader_sees_everything, "the other replica sees the write made after restart")
    hits = await reader.call("search_context", session_id=sid, query="after the restart")
    assert [h["message"]["content"] for h in hits["results"]][:1] == ["after the restart"]


def _start_replica(tmp_path: Path, url: str, name: str) -> ServerProcess:
    folder = tmp_path / name
    folder.mkdir()
    env = server_env(folder, SCS_DATABASE_URL=url)
    return start_server_process(folder, env=env)


async def _call(client: Client[Any], tool: str, **arguments: Any) -> Any:
    result = await client.call_tool(tool, arguments, raise_on_error=False)
    if result.is_error:
        raise parse_error(result)
    return parse_result(result)


async def test_a_replica_killed_mid_write_loses_no_acknowledged_write(
    tmp_path: Path, own_cluster: PostgresCluster
) -> None:
    url = own_cluster.create_database()
    victim = _start_replica(tmp_path, url, "victim")
    survivor = _start_replica(tmp_path, url, "survivor")
    try:
        assert victim.url is not None and survivor.url is not None
        on_victim: Client[Any] = Client(StreamableHttpTransport(victim.url))
        await on_victim.__aenter__()
        try:
            minted = await _call(
                on_victim, "authenticate_agent", agent_id="writer", agent_type="claude",
                api_key=API_KEY,
            )  # fmt: skip
            token = minted["token"]
            sid = (await _call(on_victim, "create_session", purpose="kill", auth_token=token))[
                "session_id"
            ]
            acknowledged: list[str] = []

            async def write_forever() -> None:
                for n in range(10_000):  # bounded; the kill ends it long before
                    content = f"write {n}"
                    await _call(on_victim, "add_message", session_id=sid, content=content,
                                auth_token=token)  # fmt: skip
                    acknowledged.append(content)

            writing = asyncio.create_task(write_forever())
            deadline = time.monotonic() + DEADLINE_S
            while len(acknowledged) < 20 and time.monotonic() < deadline and not writing.done():
                await asyncio.sleep(0.02)
            assert len(acknowledged) >= 20, "the victim never wrote"
            victim.stop(signal.SIGKILL)
            with pytest.raises(Exception):  # noqa: B017, PT011 - any transport failure
                await asyncio.wait_for(writing, DEADLINE_S)
        finally:
            with contextlib.suppress(Exception):  # its server is gone: closing may fail
                await on_victim.__aexit__(None, None, None)

        async with Client(StreamableHttpTransport(survivor.url)) as on_survivor:
            page = await _call(
                on_survivor, "get_messages", session_id=sid, limit=1000, auth_token=token
            )
            stored = [m["content"] for m in page["messages"]]
            # every acknowledged write is there, in order; at most the one in flight beyond
            assert stored[: len(acknowledged)] == acknowledged
            assert len(stored) - len(acknowledged) in (0, 1)
            again = await _call(on_survivor, "add_message", session_id=sid, content="survivor",
                                auth_token=token)  # fmt: skip
            assert again["success"] is True
    finally:
        for process in (victim, survivor):
            process.stop(signal.SIGKILL)
