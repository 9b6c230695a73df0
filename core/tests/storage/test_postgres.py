"""PostgreSQL only: the listener catches up after losing its connection; a server that
goes away is DATABASE_UNAVAILABLE and service resumes by itself when it is back."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest
from scs_server.errors import ScsError
from scs_server.storage import Change, open_database
from scs_server.testing import engine_settings, start_cluster

from .conftest import create_notes, eventually

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from scs_server.storage.cluster import PostgresCluster


async def test_a_reconnecting_listener_misses_nothing(
    tmp_path: Path, postgres_cluster: PostgresCluster
) -> None:
    url = postgres_cluster.create_database()
    writer = open_database(engine_settings(tmp_path, url))
    reader = open_database(engine_settings(tmp_path, url))
    await writer.open()
    await reader.open()
    try:
        seen: list[Change] = []
        await reader.changes.subscribe(seen.append)
        listener = reader.changes._watcher  # type: ignore[attr-defined]
        async with writer.transaction() as tx:
            tx.emit("notes", 0)
        await eventually(lambda: len(seen) == 1)
        assert postgres_cluster.terminate("LISTEN%", url) == 1
        for i in range(1, 30):  # some while the listener is away
            async with writer.transaction() as tx:
                tx.emit("notes", i)
        await eventually(lambda: len(seen) == 30)
        assert [c.payload for c in seen] == list(range(30))
        assert listener.reconnects >= 1
    finally:
        await writer.close()
        await reader.close()


@pytest.fixture
def own_cluster() -> Iterator[PostgresCluster]:
    """A cluster of this test's own, to stop and start."""
    cluster = start_cluster()
    yield cluster
    cluster.destroy()


@pytest.mark.slow
async def test_an_unreachable_server_is_retryable_and_service_resumes(
    tmp_path: Path, own_cluster: PostgresCluster
) -> None:
    url = own_cluster.create_database()
    db = open_database(engine_settings(tmp_path, url, db_acquire_timeout_s=1))
    await db.open()
    other = open_database(engine_settings(tmp_path, url, db_acquire_timeout_s=1))
    await other.open()
    try:
        await create_notes(db)
        seen: list[Change] = []
        await other.changes.subscribe(seen.append)
        await db.execute("INSERT INTO notes (body) VALUES (?)", ("before",))
        assert await db.ping() is True
        own_cluster.stop()
        assert await db.ping() is False  # /health says "unreachable": its probe is honest
        for attempt in (db.fetch_value("SELECT count(*) FROM notes"),
                        db.execute("INSERT INTO notes (body) VALUES (?)", ("during",))):  # fmt: skip
            with pytest.raises(ScsError) as caught:
                await attempt
            assert caught.value.code == "DATABASE_UNAVAILABLE"
            assert caught.value.details["retryable"] is True
        own_cluster.start()
        values: list[object] = []

        async def answered() -> bool:
            try:
                values.append(await db.fetch_value("SELECT count(*) FROM notes"))
            except ScsError:
                return False
            return True

        ok = False
        for _ in range(60):  # bounded: the pool reconnects with a backoff
            if ok := await answered():
                break
            await asyncio.sleep(0.5)
        assert ok and values[-1] == 1
        assert await db.ping() is True  # the probe reconnects by itself
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO notes (body) VALUES (?)", ("after",))
            tx.emit("notes", "after")
        assert await db.fetch_value("SELECT count(*) FROM notes") == 2
        await eventually(lambda: [c.payload for c in seen] == ["after"], 30)  # listener is back
    finally:
        await db.close()
        await other.close()


def test_a_first_start_on_a_taken_port_moves_to_another() -> None:
    """The free port a cluster picked may be taken before PostgreSQL binds it (another
    worker's cluster, a client's ephemeral port): its first start then tries another."""
    import socket

    import psycopg
    from scs_server.storage.cluster import PostgresCluster, find_binaries
    from scs_server.testing import no_postgres

    binaries = find_binaries()
    if binaries is None:
        no_postgres("no PostgreSQL binaries (initdb): install Debian's postgresql package")
        return
    cluster = PostgresCluster(binaries)
    taken = cluster.port
    try:
        with socket.socket() as squatter:
            squatter.bind(("127.0.0.1", taken))
            squatter.listen()
            cluster.start()
            assert cluster.port != taken
            with psycopg.connect(cluster.url(), connect_timeout=10) as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        cluster.destroy()
