"""``db.write_one``: one statement, committed when it completes, a change per returned row,
on both engines (PostgreSQL sends it alone, its changes emitted inside it)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest
from scs_server.errors import ScsError
from scs_server.storage import Change, IntegrityError, one_statement_in, open_database
from scs_server.testing import engine_settings, until_a_backend_waits_for_a_lock

from .conftest import create_notes, eventually

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from scs_server.storage import Database, OneStatement, Row

INSERT = "INSERT INTO notes (body, n) VALUES (?, ?) RETURNING id, body, n"


@pytest.fixture
async def dbs(
    tmp_path: Path, database_url: str | None, storage_db: Database
) -> AsyncIterator[tuple[Database, Database, list[Change], list[Change]]]:
    """The engine under test with ``notes``, a second replica of it, and the ``notes``
    changes each has seen."""
    await create_notes(storage_db)
    replica = open_database(engine_settings(tmp_path, database_url))
    await replica.open()
    here: list[Change] = []
    there: list[Change] = []
    await storage_db.changes.subscribe(here.append, topics={"notes"})
    await replica.changes.subscribe(there.append, topics={"notes"})
    yield storage_db, replica, here, there
    await replica.close()


async def _add(one: OneStatement, body: str, n: int | None = 0) -> Row | None:
    one.emit_rows("notes", {"kind": "note", "quote": 'a "b"\n ü'}, ("id", "n"))
    return await one.fetch_one(INSERT, (body, n))


async def test_the_row_comes_back_and_its_change_reaches_every_replica(
    dbs: tuple[Database, Database, list[Change], list[Change]],
) -> None:
    db, _, here, there = dbs
    row = await db.write_one(_add, "a", n=None)
    assert row is not None and (row["body"], row["n"], list(row)) == (
        "a",
        None,
        ["id", "body", "n"],
    )
    expected = {"kind": "note", "quote": 'a "b"\n ü', "id": row["id"], "n": None}
    assert [c.payload for c in here] == [expected]  # at once, in this process
    await eventually(lambda: len(there) == 1)
    assert there[0].payload == expected and there[0].seq == here[0].seq
    assert await db.fetch_value("SELECT body FROM notes WHERE id = ?", (row["id"],)) == "a"


async def test_one_change_per_row_and_none_without_rows(
    dbs: tuple[Database, Database, list[Change], list[Change]],
) -> None:
    db, _, here, there = dbs
    for body, n in (("a", 1), ("b", 2), ("c", 3)):
        await db.write_one(_add, body, n)

    async def bump(one: OneStatement, floor: int) -> list[Row]:
        one.emit_rows("notes", {"bumped": True}, ("id", "n"))
        return await one.fetch_all(
            "UPDATE notes SET n = n + 10 WHERE n >= ? RETURNING id, n", (floor,)
        )

    rows = await db.write_one(bump, 2)
    assert sorted(r["n"] for r in rows) == [12, 13]
    bumped = [c for c in here if c.payload.get("bumped")]
    assert sorted((c.payload["id"], c.payload["n"]) for c in bumped) == sorted(
        (r["id"], r["n"]) for r in rows
    )
    assert await db.write_one(bump, 100) == []
    await eventually(lambda: len(there) == 5)
    assert [c.payload for c in there] == [c.payload for c in here]
    assert [c.seq for c in here] == sorted(c.seq for c in here)


async def test_after_commit_runs_once_committed_and_never_after_a_failure(
    dbs: tuple[Database, Database, list[Change], list[Change]],
) -> None:
    db, _, here, _ = dbs
    calls: list[tuple[str, int]] = []

    async def add_then_note(one: OneStatement, body: str) -> int:
        one.after_commit(lambda: calls.append(("before", len(here))))
        row = await _add(one, body)
        assert row is not None
        one.after_commit(lambda: calls.append(("after", len(here))))
        assert calls == []  # not before the function has returned
        return int(row["id"])

    await db.write_one(add_then_note, "a")
    assert calls == [("before", 1), ("after", 1)]  # the change was delivered first
    with pytest.raises(IntegrityError) as caught:
        await db.write_one(add_then_note, "a")  # a duplicate body
    assert caught.value.kind == "unique" and caught.value.code == "CONFLICT"
    assert len(calls) == 2 and len(here) == 1  # no callback, no change
    assert await db.fetch_value("SELECT count(*) FROM notes") == 1


@pytest.mark.usefixtures("grouping")  # on SQLite: they share a commit
async def test_concurrent_writes_each_stand_alone(
    dbs: tuple[Database, Database, list[Change], list[Change]],
) -> None:
    """Writes started together (on SQLite: one commit for the loop's turn) each get their
    own answer: a duplicate fails alone, the others commit, every change in id order."""
    db, _, here, there = dbs
    await db.write_one(_add, "taken")
    committed: list[str] = []

    async def add_noting(one: OneStatement, body: str) -> int:
        one.after_commit(lambda: committed.append(body))
        row = await _add(one, body)
        assert row is not None
        return int(row["id"])

    bodies = ["w0", "w1", "taken", "w3", "w4", "w5"]
    results = await asyncio.gather(
        *(db.write_one(add_noting, body) for body in bodies), return_exceptions=True
    )
    failed = [r for r in results if isinstance(r, BaseException)]
    assert len(failed) == 1 and isinstance(failed[0], IntegrityError)
    assert isinstance(results[2], IntegrityError)
    ids = {body: r for body, r in zip(bodies, results, strict=True) if isinstance(r, int)}
    assert sorted(committed) == sorted(ids) == ["w0", "w1", "w3", "w4", "w5"]
    rows = await db.fetch_all("SELECT id, body FROM notes WHERE body != 'taken'")
    assert {r["body"]: r["id"] for r in rows} == ids
    assert sorted(c.payload["id"] for c in here[1:]) == sorted(ids.values())  # none for the failure
    await eventually(lambda: len(there) == 6)
    assert [c.payload for c in there] == [c.payload for c in sorted(here, key=lambda c: c.seq)]


async def test_a_failure_after_the_statement_leaves_the_write_committed(
    dbs: tuple[Database, Database, list[Change], list[Change]],
) -> None:
    db, _, here, _ = dbs
    ran: list[bool] = []

    async def add_then_fail(one: OneStatement) -> None:
        one.after_commit(lambda: ran.append(True))
        await _add(one, "kept")
        raise ValueError("after the statement")

    with pytest.raises(ValueError):
        await db.write_one(add_then_fail)
    assert await db.fetch_value("SELECT count(*) FROM notes WHERE body = 'kept'") == 1
    assert len(here) == 1 and ran == [True]


async def test_misuse_is_refused_before_anything_is_sent(
    dbs: tuple[Database, Database, list[Change], list[Change]],
) -> None:
    db, _, here, _ = dbs

    async def misuse(one: OneStatement, how: str) -> Any:
        if how == "emit":
            one.emit("notes", {})
        elif how == "column":
            one.emit_rows("notes", {}, ("Id; DROP TABLE notes",))
        elif how == "topic":
            one.emit_rows("has space")
        elif how == "twice":
            one.emit_rows("notes")
            one.emit_rows("notes")
        elif how == "execute":
            one.emit_rows("notes", {}, ("id",))
            return await one.execute("INSERT INTO notes (body) VALUES ('x')")
        elif how == "many":
            return await one.execute_many("INSERT INTO notes (body) VALUES (?)", [("x",)])
        return None

    for how, error in (
        ("emit", TypeError),
        ("column", ValueError),
        ("topic", ScsError),
        ("twice", TypeError),
        ("execute", TypeError),
        ("many", TypeError),
    ):
        with pytest.raises(error):
            await db.write_one(misuse, how)
    assert await db.fetch_value("SELECT count(*) FROM notes") == 0
    assert here == []


async def test_a_second_statement_is_refused_and_the_first_stays(
    dbs: tuple[Database, Database, list[Change], list[Change]],
) -> None:
    db, _, here, _ = dbs

    async def two(one: OneStatement) -> None:
        await _add(one, "first")
        await one.execute("INSERT INTO notes (body) VALUES ('second')")

    with pytest.raises(TypeError, match="one statement"):
        await db.write_one(two)
    assert [r["body"] for r in await db.fetch_all("SELECT body FROM notes")] == ["first"]
    assert len(here) == 1
    # without emit_rows: a plain statement, its count
    assert await db.write_one(lambda one: one.execute("UPDATE notes SET n = 5")) == 1


async def test_a_store_function_reused_inside_a_larger_transaction(
    dbs: tuple[Database, Database, list[Change], list[Change]],
) -> None:
    db, _, here, _ = dbs
    with pytest.raises(RuntimeError):
        async with db.transaction() as tx:
            await _add(one_statement_in(tx), "rolled back")
            raise RuntimeError("abandon")
    assert here == [] and await db.fetch_value("SELECT count(*) FROM notes") == 0
    committed: list[bool] = []
    async with db.transaction() as tx:
        one = one_statement_in(tx)
        one.after_commit(lambda: committed.append(True))
        row = await _add(one, "kept")
        await tx.execute("UPDATE notes SET n = 9")  # the transaction goes on
        assert here == [] and committed == []
    assert row is not None and [c.payload["id"] for c in here] == [row["id"]]
    assert committed == [True]


@pytest.mark.parametrize("db_engine", ["postgresql"])  # SQLite commits on the loop: no await
@pytest.mark.parametrize("form", ["write_one", "transaction"])
async def test_a_write_cut_off_midway_gives_subscribers_a_gap(
    storage_db: Database, form: str
) -> None:
    """A commit cancelled while PostgreSQL runs it may still happen unseen: this
    process's own notifications are skipped, so its subscribers get a gap instead."""
    db = storage_db
    await create_notes(db)
    await db.execute("INSERT INTO notes (body, n) VALUES ('held', 1)")
    seen: list[Change] = []
    await db.changes.subscribe(seen.append)

    async def bump(one: OneStatement) -> list[Row]:
        one.emit_rows("notes", {}, ("id",))
        return await one.fetch_all("UPDATE notes SET n = n + 1 WHERE body = 'held' RETURNING id")

    async def bump_in_a_transaction() -> None:
        async with db.transaction() as tx:
            await tx.execute("UPDATE notes SET n = n + 1 WHERE body = 'other'")
            tx.emit("notes", {"id": 0})  # its scs_emit waits for the feed's lock

    async with db.transaction() as holder:
        if form == "write_one":  # the row the statement updates
            await holder.execute("UPDATE notes SET n = 5 WHERE body = 'held'")
            write = asyncio.ensure_future(db.write_one(bump))
        else:  # the change feed's commit-order lock (storage.postgres.CHANGES_LOCK)
            await holder.execute("SELECT pg_advisory_xact_lock(?)", (0x5C5_0002,))
            write = asyncio.ensure_future(bump_in_a_transaction())
        await until_a_backend_waits_for_a_lock(db, "the write")
        write.cancel()
        with pytest.raises(asyncio.CancelledError):
            await write
    assert [(c.topic, c.payload["reason"]) for c in seen] == [("*", "uncertain")]
    expected = 5 if form == "write_one" else 1  # the holder's update; the cut-off one's none
    assert await db.fetch_value("SELECT n FROM notes WHERE body = 'held'") == expected
