"""Per-plugin migrations: fresh, re-run no-op, failing step rolls back and names the plugin."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import pytest
from scs import Migration
from scs.db import Database, MigrationError
from scs.migrations import split_statements

if TYPE_CHECKING:
    from pathlib import Path

STEPS = [
    Migration(1, "notes", "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);"),
    Migration(
        2,
        "trigger",
        """
        CREATE TABLE note_log (note_id INTEGER);
        CREATE TRIGGER note_added AFTER INSERT ON notes BEGIN
            INSERT INTO note_log (note_id) VALUES (new.id);
        END;
        """,
    ),
]


@pytest.fixture
async def db(tmp_path: Path):
    database = Database(tmp_path / "m.db", pool_size=2)
    await database.open()
    yield database
    await database.close()


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


async def test_fresh_then_noop(db: Database) -> None:
    assert await db.migrate("demo", STEPS) == [1, 2]
    assert await db.migrate("demo", STEPS) == []
    assert await db.applied_versions("demo") == {1, 2}
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO notes (body) VALUES ('x')")
    async with db.read() as conn:
        rows = await (await conn.execute("SELECT note_id FROM note_log")).fetchall()
    assert [r[0] for r in rows] == [1]


async def test_versions_are_per_plugin(db: Database) -> None:
    await db.migrate("a", [Migration(1, "a", "CREATE TABLE a1 (x)")])
    await db.migrate("b", [Migration(1, "b", "CREATE TABLE b1 (x)")])
    assert {"a1", "b1"} <= tables(db.path)


async def test_failing_migration_rolls_back_everything(db: Database) -> None:
    broken = [*STEPS, Migration(3, "broken", "CREATE TABLE ok3 (x); CREATE TABLE notes (dup);")]
    with pytest.raises(MigrationError) as caught:
        await db.migrate("demo", broken)
    assert "'demo'" in str(caught.value)
    assert "broken" in str(caught.value)
    names = tables(db.path)
    assert "notes" not in names and "ok3" not in names and "note_log" not in names
    assert await db.applied_versions("demo") == set()


async def test_failing_migration_stops_startup_naming_plugin(tmp_path: Path) -> None:
    from scs import hookimpl
    from scs.app import StartupError
    from scs.plugins import PluginInfo, discover

    class Broken:
        @hookimpl
        def scs_migrations(self) -> list[Migration]:
            return [Migration(1, "bad sql", "CREATE TABLE (")]

    installed = discover()
    installed["broken"] = PluginInfo("broken", "scs-plugin-broken", "0", Broken())
    from scs.app import create_app
    from scs.testing import make_settings

    with pytest.raises(StartupError, match="'broken'"):
        await create_app(make_settings(tmp_path, "broken"), installed=installed)


def test_split_statements_keeps_triggers_whole() -> None:
    parts = list(split_statements(STEPS[1].sql))
    assert len(parts) == 2
    assert parts[1].startswith("CREATE TRIGGER") and parts[1].endswith("END;")
