"""Graceful shutdown: SIGTERM during load. In-flight calls finish or are refused cleanly,
the process exits 0 after closing the pool (``PRAGMA optimize`` included), and the file
is left whole: no -wal left to replay, integrity ok, every acknowledged write present."""

from __future__ import annotations

import asyncio
import signal
import time
from typing import TYPE_CHECKING, Any

import pytest

from .conftest import (
    Ledger,
    attempt,
    client_for,
    close_quietly,
    integrity,
    mint,
    process_env,
    stored_messages,
    writer,
)

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow

WRITERS = 10
ACKS_BEFORE_SIGTERM = 100


async def test_sigterm_under_load_exits_cleanly(scs_process: Any, tmp_path: Path) -> None:
    server = scs_process(env=process_env(tmp_path))
    token = await mint(server.url, "writer")
    async with client_for(server.url, token) as client:
        session_id = (await attempt(client, "create_session", purpose="shutdown")).body[
            "session_id"
        ]

    clients = [client_for(server.url, token) for _ in range(WRITERS)]
    for client in clients:
        await client.__aenter__()
    ledger = Ledger()
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(writer(c, session_id, f"w{i}", ledger, stop, 5000))
        for i, c in enumerate(clients)
    ]
    deadline = time.monotonic() + 60
    while len(ledger.acked) < ACKS_BEFORE_SIGTERM and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert len(ledger.acked) >= ACKS_BEFORE_SIGTERM
    server.process.send_signal(signal.SIGTERM)
    # the writers keep going until the server stops answering: every call returns or fails
    # within its bound (no hang), and a refusal carries a code
    await asyncio.wait_for(asyncio.gather(*tasks), 90)
    stop.set()
    await close_quietly(clients)
    exit_code = await asyncio.to_thread(server.process.wait, 30)

    assert exit_code == 0
    untyped = [code for code in ledger.refused if not code or code == "UNTYPED"]
    assert not untyped, ledger.refused
    log = server.log()
    assert "scs stopped; database closed" in log  # App.close ran: optimize, then the pool
    assert "PRAGMA optimize failed" not in log
    assert "Traceback" not in log.split("Shutting down", 1)[0]  # none while serving

    db_path = tmp_path / "scs.db"
    wal = tmp_path / "scs.db-wal"
    # the last connection checkpointed and removed the WAL: nothing to replay on restart
    assert not wal.exists() or wal.stat().st_size == 0
    assert integrity(db_path) == "ok"
    ledger.check_against(stored_messages(db_path))
