"""The data API on both engines: statements, rows, placeholders, transactions, errors."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest
from scs_server.errors import ScsError
from scs_server.storage import IntegrityError, Row
from scs_server.storage.sql import to_numbered

if TYPE_CHECKING:
    from scs_server.storage import Database, Executor, Transaction


async def test_crud_through_the_api(notes_db: Database) -> None:
    db = notes_db
    async with db.transaction() as tx:
        assert await tx.execute("INSERT INTO notes (body, n) VALUES (?, ?)", ("a", 1)) == 1
        assert (
            await tx.execute_many("INSERT INTO notes (body, n) VALUES (?, ?)", [("b", 2), ("c", 3)])
            == 2
        )
    assert await db.fetch_value("SELECT count(*) FROM notes") == 3
    row = await db.fetch_one("SELECT body, n FROM notes WHERE body = ?", ("b",))
    assert row is not None and row["n"] == 2 and row[0] == "b"
    assert await db.fetch_one("SELECT body FROM notes WHERE body = ?", ("zz",)) is None
    assert await db.fetch_value("SELECT n FROM notes WHERE body = ?", ("zz",)) is None
    assert await db.execute("UPDATE notes SET n = n + 10 WHERE n >= ?", (2,)) == 2
    assert await db.execute("DELETE FROM notes WHERE body = ?", ("a",)) == 1
    async with db.read() as reader:
        rows = await reader.fetch_all("SELECT body, n FROM notes ORDER BY n")
        assert await reader.fetch_value("SELECT max(n) FROM notes") == 13
    assert [dict(r) for r in rows] == [{"body": "b", "n": 12}, {"body": "c", "n": 13}]


async def test_rows_are_read_only_mappings(notes_db: Database) -> None:
    await notes_db.execute("INSERT INTO notes (body, n) VALUES (?, ?)", ("a", 7))
    row = await notes_db.fetch_one("SELECT id, body, n FROM notes")
    assert isinstance(row, Row)
    assert list(row) == ["id", "body", "n"]
    assert (row["body"], row[1], row.get("missing"), "n" in row, len(row)) == (
        "a",
        "a",
        None,
        True,
        3,
    )
    assert dict(row) == {"id": row["id"], "body": "a", "n": 7}
    with pytest.raises(TypeError):
        row["n"] = 8  # type: ignore[index]
    with pytest.raises(AttributeError):
        row.extra = 1  # type: ignore[attr-defined]


async def test_placeholders_skip_string_literals_and_keep_percent(notes_db: Database) -> None:
    db = notes_db
    await db.execute("INSERT INTO notes (body, n) VALUES ('50% done?', ?)", (1,))
    await db.execute("INSERT INTO notes (body, n) VALUES (?, ?)", ("100%_sure", 2))
    await db.execute("INSERT INTO notes (body, n) VALUES (?, ?)", ("100x sure", 3))
    assert await db.fetch_value("SELECT n FROM notes WHERE body = '50% done?'") == 1
    # a literal % in the pattern, escaped for LIKE; the ? is a real placeholder
    escaped = await db.fetch_all(
        "SELECT n FROM notes WHERE body LIKE ? ESCAPE '!' ORDER BY n", ("100!%%",)
    )
    assert [r["n"] for r in escaped] == [2]
    wild = await db.fetch_all(
        "SELECT n FROM notes WHERE body LIKE '100%' AND n > ? ORDER BY n", (0,)
    )
    assert [r["n"] for r in wild] == [2, 3]
    assert await db.fetch_value("SELECT '?' || ? -- a comment with ? and %", ("x",)) == "?x"


def test_translation_rules() -> None:
    assert to_numbered("SELECT 1") == b"SELECT 1"
    assert (
        to_numbered("a = ? AND b LIKE '%?''?' AND c = ?") == b"a = $1 AND b LIKE '%?''?' AND c = $2"
    )
    assert to_numbered("a = ? AND b LIKE '%?' AND c = ?") == b"a = $1 AND b LIKE '%?' AND c = $2"
    assert to_numbered('SELECT "?" /* ? */ , ? -- ?\n, ?') == b'SELECT "?" /* ? */ , $1 -- ?\n, $2'
    assert to_numbered("x $tag$ ? $tag$ ? % ?") == b"x $tag$ ? $tag$ $1 % $2"


async def test_a_transaction_commits_or_rolls_back_as_a_whole(notes_db: Database) -> None:
    db = notes_db
    with pytest.raises(RuntimeError):
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO notes (body) VALUES (?)", ("lost",))
            raise RuntimeError("boom")
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO notes (body) VALUES (?)", ("kept",))
        assert await tx.fetch_value("SELECT count(*) FROM notes") == 1  # sees its own write
    async with db.transaction(heavy=True) as tx:
        await tx.execute("INSERT INTO notes (body) VALUES (?)", ("heavy",))
    rows = await db.fetch_all("SELECT body FROM notes ORDER BY body")
    assert [r["body"] for r in rows] == ["heavy", "kept"]


async def test_concurrent_writers_lose_nothing(notes_db: Database) -> None:
    await notes_db.execute("INSERT INTO notes (body, n) VALUES ('counter', 0)")

    async def write(i: int) -> None:
        async with notes_db.transaction() as tx:
            await tx.execute("INSERT INTO notes (body, n) VALUES (?, ?)", (f"w{i}", i))
            await asyncio.sleep(0)  # let the others try to interleave
            await tx.execute("UPDATE notes SET n = n + 1 WHERE body = 'counter'")

    await asyncio.gather(*(write(i) for i in range(200)))
    rows = await notes_db.fetch_all("SELECT n FROM notes WHERE body <> 'counter' ORDER BY n")
    assert [r["n"] for r in rows] == list(range(200))
    assert await notes_db.fetch_value("SELECT n FROM notes WHERE body = 'counter'") == 200


async def test_returning_id(notes_db: Database) -> None:
    async with notes_db.transaction() as tx:
        first = await tx.fetch_value("INSERT INTO notes (body) VALUES (?) RETURNING id", ("a",))
        row = await tx.fetch_one("INSERT INTO notes (body) VALUES (?) RETURNING id, body", ("b",))
    assert isinstance(first, int) and row is not None and row["id"] == first + 1
    assert await notes_db.fetch_value("SELECT body FROM notes WHERE id = ?", (first,)) == "a"


async def test_a_constraint_violation_is_a_typed_conflict_and_writes_nothing(
    notes_db: Database,
) -> None:
    await notes_db.execute("INSERT INTO notes (body) VALUES (?)", ("same",))
    with pytest.raises(IntegrityError) as caught:
        async with notes_db.transaction() as tx:
            await tx.execute("INSERT INTO notes (body) VALUES (?)", ("other",))
            await tx.execute("INSERT INTO notes (body) VALUES (?)", ("same",))
    assert caught.value.kind == "unique"
    assert caught.value.code == "CONFLICT"
    with pytest.raises(IntegrityError) as caught:
        await notes_db.execute("INSERT INTO notes (body) VALUES (?)", (None,))
    assert caught.value.kind == "not_null"
    assert await notes_db.fetch_value("SELECT count(*) FROM notes") == 1


async def test_bad_sql_is_not_swallowed(notes_db: Database) -> None:
    with pytest.raises(Exception) as caught:
        await notes_db.fetch_all("SELECT nope FROM notes")
    assert not isinstance(caught.value, ScsError)
    assert await notes_db.ping()
    assert notes_db.stats()["dialect"] == notes_db.dialect


async def _add(tx: Transaction, body: str, *, n: int = 0) -> int:
    new_id = await tx.fetch_value(
        "INSERT INTO notes (body, n) VALUES (?, ?) RETURNING id", (body, n)
    )
    if n < 0:
        raise ValueError("negative")
    return int(new_id)


async def _get(reader: Executor, note_id: int) -> tuple[str, int] | None:
    row = await reader.fetch_one("SELECT body, n FROM notes WHERE id = ?", (note_id,))
    return None if row is None else (row["body"], row["n"])


async def test_store_functions_run_in_a_transaction_or_as_a_lookup(notes_db: Database) -> None:
    new_id = await notes_db.write(_add, "a", n=3)
    assert await notes_db.lookup(_get, new_id) == ("a", 3)
    with pytest.raises(ValueError):
        await notes_db.write(_add, "b", n=-1)
    assert await notes_db.fetch_value("SELECT count(*) FROM notes") == 1  # rolled back
