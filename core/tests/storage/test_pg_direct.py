"""PostgreSQL only: statements sent through libpq directly (``storage.pg_direct``) are
prepared on their second use, keep psycopg's types, survive what would drop or stale
their prepared statements, and run one at a time on a shared executor."""

from __future__ import annotations

import asyncio
import datetime
from typing import TYPE_CHECKING, Any

import pytest
from scs_server.storage import IntegrityError, open_database, pg_direct
from scs_server.testing import engine_settings

from .conftest import create_notes

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from scs_server.storage import Database, Executor
    from scs_server.storage.cluster import PostgresCluster

PREPARED = "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE ?"


@pytest.fixture
async def one_connection(
    tmp_path: Path, postgres_cluster: PostgresCluster
) -> AsyncIterator[Database]:
    """A PostgreSQL database whose pool holds one connection: every call shares it."""
    settings = engine_settings(tmp_path, postgres_cluster.create_database(), db_pool_size=1)
    db = open_database(settings)
    await db.open()
    await create_notes(db)
    yield db
    await db.close()


async def _prepared(db: Database, like: str) -> int:
    return int(await db.fetch_value(PREPARED, (like,)))


async def test_a_statement_is_prepared_on_its_second_use(one_connection: Database) -> None:
    db = one_connection
    await db.execute("INSERT INTO notes (body, n) VALUES ('a', 1), ('b', 2)")
    sql = "SELECT body FROM notes WHERE n = ? /* second use */"
    assert await db.fetch_value(sql, (1,)) == "a"
    assert await _prepared(db, "%second use%") == 0
    answers = [await db.fetch_value(sql, (n,)) for n in (2, 1, 3)]
    assert answers == ["b", "a", None]
    assert await _prepared(db, "%second use%") == 1  # once, however often it runs


async def test_values_keep_their_types_both_ways(one_connection: Database) -> None:
    db = one_connection
    await db.execute(
        "CREATE TABLE typed (i BIGINT, f DOUBLE PRECISION, t TEXT, b BOOLEAN, "
        "raw BYTEA, j JSONB, at TIMESTAMPTZ)"
    )
    at = datetime.datetime(2026, 12, 1, 12, 30, tzinfo=datetime.UTC)
    rows: list[tuple[Any, ...]] = [
        (7, 0.5, "plain", True, b"\x00\xff", '{"k": [1, 2]}', at),
        (2**40, -1e300, "ünïcødé ✓ '%?'", False, b"", "[]", at),
        (-(2**31) - 1, 0.0, "", None, None, None, None),
    ]
    insert = "INSERT INTO typed VALUES (?, ?, ?, ?, ?, CAST(? AS jsonb), ?)"
    for row in rows * 2:  # the second round through the prepared statement
        await db.execute(insert, row)
    read = await db.fetch_all("SELECT * FROM typed ORDER BY i DESC, t")
    expected = [
        (2**40, -1e300, "ünïcødé ✓ '%?'", False, b"", [], at),
        (7, 0.5, "plain", True, b"\x00\xff", {"k": [1, 2]}, at),
        (-(2**31) - 1, 0.0, "", None, None, None, None),
    ]
    assert [tuple(row.values()) for row in read] == [row for row in expected for _ in (1, 2)]
    assert await db.fetch_value("SELECT count(*) FROM typed WHERE i = ?", (2**40,)) == 2


async def test_a_script_without_parameters_runs_whole(one_connection: Database) -> None:
    """Outside a transaction a statement without parameters goes by the simple protocol,
    as psycopg's cursor sends it (in a transaction, as before, it must be one statement)."""
    db = one_connection

    async def script(executor: Executor) -> int:
        return await executor.execute(
            "CREATE TABLE s1 (x INT); CREATE TABLE s2 (x INT); INSERT INTO s2 VALUES (5)"
        )

    await db.lookup(script)
    assert await db.fetch_value("SELECT x FROM s2") == 5
    assert await db.fetch_value("SELECT count(*) FROM s1") == 0


async def test_prepared_statements_outlive_rollbacks_and_drops(one_connection: Database) -> None:
    """psycopg answers a ROLLBACK or a DROP with DEALLOCATE ALL when it prepared statements
    of its own; the pool's connections leave preparation to pg_direct alone."""
    db = one_connection
    insert = "INSERT INTO notes (body, n) VALUES (?, ?)"
    for round_ in range(6):  # psycopg would prepare the batch's INSERT from its 5th use
        async with db.transaction() as tx:
            await tx.execute_many(insert, [(f"batch{round_}-{i}", i) for i in range(3)])
    count = "SELECT count(*) FROM notes WHERE n = ?"
    assert [await db.fetch_value(count, (n,)) for n in (0, 1)] == [6, 6]  # now prepared
    with pytest.raises(RuntimeError):
        async with db.transaction() as tx:
            await tx.execute(insert, ("rolled back", 9))
            raise RuntimeError("abandon")
    await db.execute("CREATE TABLE gone (x INT)")
    await db.execute("DROP TABLE gone")
    async with db.transaction() as tx:
        await tx.execute(insert, ("kept", 1))
        await tx.execute_many(insert, [("kept too", 1)])  # psycopg's path, as a DEALLOCATE's
        assert await tx.fetch_value(count, (1,)) == 8  # the prepared statement, in the transaction
    assert await db.fetch_value(count, (9,)) == 0


async def test_a_stale_prepared_statement_is_sent_again(one_connection: Database) -> None:
    """After a migration changes a table, a prepared ``SELECT *`` is refused by the server
    ("cached plan must not change result type"); outside a transaction it is resent."""
    db = one_connection
    await db.execute("INSERT INTO notes (body, n) VALUES ('a', 1)")
    star = "SELECT * FROM notes WHERE body = ?"
    for _ in range(3):
        row = await db.fetch_one(star, ("a",))
        assert row is not None and len(row) == 3
    await db.execute("ALTER TABLE notes ADD COLUMN extra TEXT DEFAULT 'new'")
    for _ in range(3):  # resent unprepared, then prepared anew
        row = await db.fetch_one(star, ("a",))
        assert row is not None and len(row) == 4 and row["extra"] == "new"


async def test_a_failed_statement_in_a_pipeline_raises_and_writes_nothing(
    one_connection: Database,
) -> None:
    db = one_connection
    await db.execute("INSERT INTO notes (body, n) VALUES ('taken', 1)")
    with pytest.raises(IntegrityError) as caught:
        async with db.transaction() as tx:  # BEGIN and the INSERT in one round trip
            await tx.execute("INSERT INTO notes (body, n) VALUES (?, ?)", ("taken", 2))
    assert caught.value.kind == "unique"
    with pytest.raises(IntegrityError):
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO notes (body, n) VALUES (?, ?)", ("fresh", 3))
            tx.emit("notes", {"body": "fresh"})
            await tx.execute("INSERT INTO notes (body, n) VALUES (?, ?)", ("taken", 4))
    rows = await db.fetch_all("SELECT body, n FROM notes ORDER BY body")
    assert [(r["body"], r["n"]) for r in rows] == [("taken", 1)]
    async with db.transaction() as tx:  # the connection is usable again
        await tx.execute("INSERT INTO notes (body, n) VALUES (?, ?)", ("fresh", 5))
        tx.emit("notes", {"body": "fresh"})
    assert await db.fetch_value("SELECT n FROM notes WHERE body = ?", ("fresh",)) == 5


async def test_statements_of_one_executor_run_one_after_the_other(
    one_connection: Database,
) -> None:
    db = one_connection
    await db.execute("INSERT INTO notes (body, n) VALUES ('a', 1), ('b', 2), ('c', 3)")

    async def several(executor: Executor) -> list[Any]:
        slow = executor.fetch_value("SELECT 4 FROM pg_sleep(0.05)")  # still running when
        reads = [  # the others are sent: without the lock, libpq would refuse them
            executor.fetch_value("SELECT body FROM notes WHERE n = ?", (n,)) for n in (1, 2, 3)
        ]
        return list(await asyncio.gather(slow, *reads))

    assert await db.lookup(several) == [4, "a", "b", "c"]


async def test_statements_past_the_cap_run_unprepared(
    one_connection: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pg_direct, "PREPARED_MAX", 2)
    db = one_connection
    await db.execute("INSERT INTO notes (body, n) VALUES ('a', 1)")
    already = await _prepared(db, "%")
    for k in range(4):
        sql = f"SELECT n + {k} FROM notes WHERE body = ? /* capped */"
        assert [await db.fetch_value(sql, ("a",)) for _ in range(3)] == [1 + k] * 3
    assert await _prepared(db, "%capped%") == 2
    assert await _prepared(db, "%") - already == 2


async def test_execute_many_sends_its_rows_in_one_pipeline(one_connection: Database) -> None:
    """20,000 rows of ~300 bytes (6 MB, more than the socket buffers hold) in one round
    trip, the statement prepared once; a failing row writes nothing."""
    db = one_connection
    insert = "INSERT INTO notes (body, n) VALUES (?, ?) /* many */"
    rows = [(f"row {i} " + "x" * 300, i) for i in range(20_000)]
    async with db.transaction() as tx:
        assert await tx.execute_many(insert, rows) == 20_000
    assert await db.fetch_value("SELECT count(*) FROM notes WHERE n >= ?", (0,)) == 20_000
    assert await _prepared(db, "%many%") == 1
    with pytest.raises(IntegrityError):
        async with db.transaction() as tx:
            await tx.execute_many(insert, [("new one", -1), (rows[7][0], -2), ("new two", -3)])
    assert await db.fetch_value("SELECT count(*) FROM notes WHERE n < ?", (0,)) == 0
    async with db.transaction() as tx:
        assert await tx.execute_many(insert, [("new one", -1), ("new two", -3)]) == 2
    assert await db.fetch_value("SELECT count(*) FROM notes WHERE n < ?", (0,)) == 2
