"""Migrations through the data API: per-dialect SQL, applied exactly once under a race."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest
from scs_server.migrations import Migration
from scs_server.storage import MigrationError, open_database
from scs_server.testing import engine_settings

if TYPE_CHECKING:
    from pathlib import Path

    from scs_server.storage import Database

STEPS = [
    Migration(
        1,
        "t",
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)",
        postgresql="CREATE TABLE t (id SERIAL PRIMARY KEY, v TEXT)",
    ),
    Migration(2, "seed", "INSERT INTO t (v) VALUES ('one');\nINSERT INTO t (v) VALUES ('two');\n"),
    Migration(
        3,
        "dialect",
        "INSERT INTO t (v) VALUES ('sqlite')",
        postgresql="INSERT INTO t (v) VALUES ('postgresql')",
    ),
]


async def test_replicas_starting_together_apply_each_step_once(
    tmp_path: Path, database_url: str | None, db_engine: str
) -> None:
    replicas = [open_database(engine_settings(tmp_path, database_url)) for _ in range(3)]
    try:
        await asyncio.gather(*(db.open() for db in replicas))
        applied = await asyncio.gather(*(db.migrate("demo", STEPS) for db in replicas))
        assert sorted(applied) == [[], [], [1, 2, 3]]
        db = replicas[0]
        rows = await db.fetch_all("SELECT v FROM t ORDER BY id")
        assert [r["v"] for r in rows] == ["one", "two", db_engine]
        recorded = await db.fetch_all(
            "SELECT version, name FROM scs_migrations WHERE plugin = ? ORDER BY version",
            ("demo",),
        )
        assert [tuple(r.values()) for r in recorded] == [(1, "t"), (2, "seed"), (3, "dialect")]
        assert await db.migrate("demo", STEPS) == []
    finally:
        for db in replicas:
            await db.close()


async def test_a_failing_step_leaves_nothing_behind(storage_db: Database) -> None:
    broken = [*STEPS[:1], Migration(2, "broken", "INSERT INTO nowhere VALUES (1)")]
    with pytest.raises(MigrationError) as caught:
        await storage_db.migrate("demo", broken)
    assert caught.value.migration.version == 2
    assert (
        await storage_db.fetch_value(
            "SELECT count(*) FROM scs_migrations WHERE plugin = ?", ("demo",)
        )
        == 0
    )
    assert await storage_db.migrate("demo", STEPS) == [1, 2, 3]  # t was rolled back too
