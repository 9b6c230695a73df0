"""Locked database: another process holds the write lock longer than busy_timeout.

Writes fail with DATABASE_BUSY (retryable), nothing is half-written, reads go on, and
the server recovers by itself once the lock is released.
"""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING, Any

import httpx2
import pytest

from .conftest import attempt, client_for, mint, poll, process_env, stored_messages

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow

# Holds BEGIN IMMEDIATE until a line arrives on stdin (or 60 s pass: never forever).
HOLDER = """
import select, sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
select.select([sys.stdin], [], [], 60)
conn.execute("ROLLBACK")
conn.close()
print("released", flush=True)
"""


def hold_write_lock(db_path: Path) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(db_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "locked"
    return holder


def release(holder: subprocess.Popen[str]) -> None:
    assert holder.stdin is not None and holder.stdout is not None
    holder.stdin.write("go\n")
    holder.stdin.flush()
    assert holder.stdout.readline().strip() == "released"
    holder.wait(20)


async def test_writes_fail_busy_then_recover_when_the_lock_goes(
    scs_process: Any, tmp_path: Path
) -> None:
    server = scs_process(env=process_env(tmp_path, SCS_DB_BUSY_TIMEOUT_MS="200"))
    db_path = tmp_path / "scs.db"
    token = await mint(server.url, "writer")
    async with client_for(server.url, token) as client:
        created = await attempt(client, "create_session", purpose="lock")
        session_id = created.body["session_id"]
        first = await attempt(client, "add_message", session_id=session_id, content="before")
        assert first.ok
        memory_before = await attempt(client, "set_memory", key="k", value=1)
        before = stored_messages(db_path)

        holder = hold_write_lock(db_path)
        try:
            busy = [
                await attempt(client, "add_message", 15, session_id=session_id, content=f"x{n}")
                for n in range(3)
            ]
            session_busy = await attempt(client, "create_session", 15, purpose="blocked")
            memory_busy = await attempt(client, "set_memory", 15, key="k", value=2)
            # reads are not blocked by a writer in WAL mode
            read = await attempt(client, "get_messages", 15, session_id=session_id)
        finally:
            release(holder)

        for outcome in (*busy, session_busy, *([memory_busy] if memory_before.ok else [])):
            assert outcome.code == "DATABASE_BUSY", outcome.body
            assert outcome.body["retryable"] is True
            assert outcome.body["hint"]
        assert read.ok and [m["content"] for m in read.body["messages"]] == ["before"]
        assert stored_messages(db_path) == before  # nothing half-written

        recovered: list[Any] = []

        async def writes_again() -> bool:
            outcome = await attempt(
                client, "add_message", 15, session_id=session_id, content="after"
            )
            recovered.append(outcome)
            return outcome.ok

        assert await poll(writes_again, deadline_s=20, every_s=0.2), recovered[-1].body
        assert len(recovered) == 1, "the first write after the release should already succeed"
        if memory_before.ok:
            again = await attempt(client, "set_memory", key="k", value=3)
            assert again.ok and again.body["version"] == memory_before.body["version"] + 1
        contents = [
            m["content"]
            for m in (await attempt(client, "get_messages", session_id=session_id)).body["messages"]
        ]
        assert contents == ["before", "after"]

    async with httpx2.AsyncClient(timeout=10) as http:
        health = await http.get(server.url.removesuffix("/mcp") + "/health")
    assert health.status_code == 200 and health.json()["database"] == "ok"
