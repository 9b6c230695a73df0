"""Export -> import -> export gives the same records apart from remapped message ids,
on both engines, across them, and over generated histories; a second import adds nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scs_server.testing import sqlite_only

from .conftest import VISIBILITIES, comparable, export_text, import_text, row_counts, seed, team

if TYPE_CHECKING:
    from pathlib import Path

    from scs_server.storage.cluster import PostgresCluster
    from scs_server.testing import ServerFactory


async def test_round_trip_and_second_import_adds_nothing(
    scs_factory: ServerFactory, tmp_path: Path
) -> None:
    source = await scs_factory()
    seeded = await seed(source, sessions=3, messages=50)
    text = await export_text(source.app)
    target = await scs_factory()
    report = await import_text(target.app, text, tmp_path / "a.ndjson")
    assert report.sessions_imported == 3
    assert report.imported["message"] == seeded.messages
    assert comparable(await export_text(target.app)) == comparable(text)

    before = await row_counts(target.app)
    again = await import_text(target.app, text, tmp_path / "b.ndjson")
    assert again.sessions_imported == 0
    assert again.sessions_skipped == 3
    assert sum(again.imported.values()) == 0
    assert await row_counts(target.app) == before


async def test_imported_messages_take_ids_never_used_before(
    scs_factory: ServerFactory, tmp_path: Path
) -> None:
    """Imports reserve a batch's ids up front (one execute_many per batch): the ids are
    above every id ever used, also a deleted newest one, and the server's next message
    comes after them."""
    source = await scs_factory()
    await seed(source, sessions=1, messages=6)
    text = await export_text(source.app)
    target = await scs_factory()
    alice = (await team(target))["alice"]
    local = (await alice.call("create_session", purpose="local"))["session_id"]
    for n in range(3):
        added = await alice.call("add_message", session_id=local, content=f"m{n}")
    newest = added["message_id"]
    await target.app.db.execute("DELETE FROM messaging_messages WHERE id = ?", (newest,))

    report = await import_text(target.app, text, tmp_path / "a.ndjson")
    assert report.imported["message"] == 6
    rows = await target.app.db.fetch_all(
        "SELECT id FROM messaging_messages WHERE session_id <> ? ORDER BY id", (local,)
    )
    imported = [row["id"] for row in rows]
    assert len(imported) == 6
    assert min(imported) > newest
    after = await alice.call("add_message", session_id=local, content="after the import")
    assert after["message_id"] > max(imported)


async def test_a_taken_session_id_is_skipped_failed_or_renamed(
    scs_factory: ServerFactory, tmp_path: Path
) -> None:
    source = await scs_factory()
    await seed(source, sessions=1, messages=4)
    text = await export_text(source.app)
    # a second database's export of the same session ids has another origin
    other = await scs_factory()
    await import_text(other.app, text, tmp_path / "o.ndjson")
    text_from_other = await export_text(other.app)

    from scs_server.errors import ScsError

    with pytest.raises(ScsError) as refused:
        await import_text(source.app, text_from_other, tmp_path / "f.ndjson", on_conflict="fail")
    assert refused.value.code == "CONFLICT"
    before = await row_counts(source.app)
    skipped = await import_text(source.app, text_from_other, tmp_path / "s.ndjson")
    assert skipped.sessions_skipped == 1
    assert await row_counts(source.app) == before
    renamed = await import_text(
        source.app, text_from_other, tmp_path / "r.ndjson", on_conflict="rename"
    )
    assert renamed.sessions_imported == 1
    after = await row_counts(source.app)
    assert after["sessions_sessions"] == before["sessions_sessions"] + 1
    assert after["messaging_messages"] == before["messaging_messages"] + 4


@sqlite_only
@pytest.mark.slow
async def test_sqlite_to_postgresql_to_sqlite(
    scs_factory: ServerFactory, postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    first = await scs_factory()
    await seed(first, sessions=3, messages=50)
    text = await export_text(first.app, include=frozenset({"audit"}))
    on_postgres = await scs_factory(database_url=postgres_cluster.create_database())
    assert on_postgres.app.db.dialect == "postgresql"
    await import_text(on_postgres.app, text, tmp_path / "1.ndjson")
    back = await scs_factory()
    await import_text(back.app, await export_text(on_postgres.app), tmp_path / "2.ndjson")
    without_audit = [r for r in comparable(text) if r["kind"] != "audit"]
    header = without_audit[0]
    header["counts"].pop("audit")
    header["records"] = len(without_audit) - 1
    assert comparable(await export_text(back.app)) == without_audit
    # the audit rows went to PostgreSQL, and only once however often they are imported
    audit = [r for r in comparable(text) if r["kind"] == "audit"]
    assert audit
    found = await on_postgres.app.db.fetch_value(
        "SELECT COUNT(*) FROM scs_audit WHERE action = ? AND at = ?",
        (audit[0]["action"], audit[0]["at"]),
    )
    assert found == 1
    await import_text(on_postgres.app, text, tmp_path / "3.ndjson")
    again = await on_postgres.app.db.fetch_value(
        "SELECT COUNT(*) FROM scs_audit WHERE action = ? AND at = ?",
        (audit[0]["action"], audit[0]["at"]),
    )
    assert again == 1


# any unicode but lone surrogates and NUL (PostgreSQL text cannot hold it)
_text = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), min_size=1, max_size=40
)
_words = _text.map(lambda text: f"w{text}")  # content and purpose must not be blank
_message = st.fixed_dictionaries(
    {
        "sender": st.sampled_from(["alice", "bob", "boss"]),
        "visibility": st.sampled_from(VISIBILITIES),
        "content": _words,
        "metadata": st.none() | st.dictionaries(_text, _text | st.integers(), max_size=3),
        "parent": st.none() | st.integers(min_value=0, max_value=30),
    }
)
_history = st.fixed_dictionaries(
    {
        "purpose": _words,
        "messages": st.lists(_message, max_size=12),
        "memory": st.lists(
            st.tuples(
                st.text("abcdef", min_size=1, max_size=6), _text, st.none() | st.integers(60, 999)
            ),
            max_size=3,
            unique_by=lambda item: item[0],
        ),
    }
)


@pytest.mark.slow
async def test_generated_histories_round_trip(scs_factory: ServerFactory, tmp_path: Path) -> None:
    histories: list[dict[str, Any]] = []

    @settings(max_examples=15, deadline=None, database=None)
    @given(_history)
    def collect(history: dict[str, Any]) -> None:
        histories.append(history)

    collect()
    source, target = await scs_factory(), await scs_factory()
    agents = await team(source)
    for n, history in enumerate(histories):
        created = await agents["alice"].call("create_session", purpose=history["purpose"])
        session_id = created["session_id"]
        ids: list[int] = []
        for message in history["messages"]:
            visibility = message["visibility"]
            sender = "boss" if visibility == "admin_only" else message["sender"]
            arguments: dict[str, Any] = {
                "session_id": session_id,
                "content": message["content"],
                "visibility": visibility,
                "metadata": message["metadata"],
            }
            if message["parent"] is not None and message["parent"] < len(ids):
                # replies go to public messages (every sender may see those)
                arguments["parent_message_id"] = ids[message["parent"]]
            added = await agents[sender].call("add_message", **arguments)
            if visibility == "public":
                ids.append(added["message_id"])
        for key, value, ttl in history["memory"]:
            await agents["alice"].call(
                "set_memory", key=key, value=value, session_id=session_id, expires_in=ttl
            )
        text = await export_text(source.app, sessions=[session_id])
        report = await import_text(target.app, text, tmp_path / f"{n}.ndjson")
        assert report.sessions_imported == 1
        assert comparable(await export_text(target.app, sessions=[session_id])) == comparable(text)
