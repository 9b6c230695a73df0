"""Direct messages, mentions and read cursors in archives: export -> import keeps them
with their receipts, once, on both engines and across them; still private afterwards;
bad records change nothing; retention removes old ones and spares held sessions."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from scs_archive import exporter, importer
from scs_archive.retention import Retention
from scs_server.errors import ErrorCode, ScsError
from scs_server.testing import sqlite_only

if TYPE_CHECKING:
    from pathlib import Path

    from scs_server.app import App
    from scs_server.storage.cluster import PostgresCluster
    from scs_server.testing import ServerFactory

    from .conftest import Crew, CrewFactory

INBOX_KINDS = ("direct_message", "mention", "read_cursor")
TABLES = ("inbox_messages", "inbox_recipients", "inbox_cursors", "messaging_messages")


async def _export(app: App) -> str:
    out = io.BytesIO()
    await exporter.write(app, out, exporter.ExportOptions())
    return out.getvalue().decode("utf-8")


async def _import(app: App, text: str, path: Path) -> importer.ImportReport:
    path.write_bytes(text.encode("utf-8"))
    return await importer.run(app, path)


async def _counts(app: App) -> dict[str, int]:
    return {t: int(await app.db.fetch_value(f"SELECT COUNT(*) FROM {t}")) for t in TABLES}


def _inbox_records(text: str) -> list[dict[str, Any]]:
    """The inbox records with database ids replaced by their order in the file."""
    items: dict[int, int] = {}
    messages: dict[int, int] = {}
    out: list[dict[str, Any]] = []
    for line in text.split("\n"):
        if not line:
            continue
        record = json.loads(line)
        if record["kind"] == "message":
            messages[record["id"]] = len(messages)
        if record["kind"] not in INBOX_KINDS:
            continue
        record.pop("session_id")  # the same session, by position: one session per test
        if record["kind"] == "read_cursor":
            record["last_read_id"] = messages[record["last_read_id"]]
        else:
            items[record["id"]] = len(items)
            record["id"] = items[record["id"]]
        if record.get("reply_to") is not None:
            record["reply_to"] = items[record["reply_to"]]
        if "message_id" in record:
            record["message_id"] = messages[record["message_id"]]
        out.append(record)
    return out


async def _history(crew: Crew) -> dict[str, int]:
    """A session DM with receipts and acks, global DMs with a reply, a mention, a cursor."""
    sid = crew.session_id
    in_session = await crew.alice.call(
        "send_direct_message",
        to=["bob", "carol"],
        content="session plan ✓",
        subject="plan",
        session_id=sid,
        ack_required=True,
        importance="high",
    )
    private = await crew.alice.call("send_direct_message", to="bob", content="only bob 🔒")
    reply = await crew.bob.call(
        "send_direct_message", to="alice", content="got it", reply_to=private["message_id"]
    )
    said = await crew.alice.call("add_message", session_id=sid, content="hey @carol, look")
    await crew.bob.call("fetch_inbox", mark_read=True)
    await crew.bob.call("acknowledge_message", message_ids=[in_session["message_id"]])
    await crew.carol.call("mark_read", session_id=sid, up_to_message_id=said["message_id"])
    return {"in_session": in_session["message_id"], "reply": reply["message_id"]}


@pytest.mark.slow  # two servers, three imports
async def test_round_trip_keeps_receipts_privacy_and_a_second_import_adds_nothing(
    make_crew: CrewFactory, scs_factory: ServerFactory, tmp_path: Path
) -> None:
    source = await make_crew()
    await _history(source)
    text = await _export(source.server.app)
    kinds = [r["kind"] for r in _inbox_records(text)]
    assert sorted(kinds) == sorted(
        ["direct_message", "mention", "read_cursor", "direct_message", "direct_message"]
    )

    target = await scs_factory()
    report = await _import(target.app, text, tmp_path / "a.ndjson")
    assert (report.imported["direct_message"], report.imported["mention"]) == (3, 1)
    assert report.imported["read_cursor"] == 1
    again_text = await _export(target.app)
    assert _inbox_records(again_text) == _inbox_records(text)

    # through the tools, on the target: receipts, acks, the reply, the cursor
    alice, bob = await target.agent("alice"), await target.agent("bob")
    carol, auditor = await target.agent("carol", "cursor"), await target.agent("auditor", "admin")
    seen = (await bob.call("fetch_inbox", unread_only=False))["messages"]
    assert [(m["content"], m["read_at"] is not None) for m in seen] == [
        ("only bob 🔒", True),
        ("session plan ✓", True),
    ]
    in_session = next(m for m in seen if m["kind"] == "direct" and m["session_id"])
    assert in_session["acked_at"] is not None
    receipts = await alice.call("get_message_receipts", message_id=in_session["id"])
    assert [(r["agent_id"], r["acked_at"] is not None) for r in receipts["receipts"]] == [
        ("bob", True),
        ("carol", False),
    ]
    replies = (await alice.call("fetch_inbox", unread_only=False))["messages"]
    only_bob = next(m for m in seen if m["content"] == "only bob 🔒")
    assert [(m["content"], m["reply_to"]) for m in replies] == [("got it", only_bob["id"])]
    # still private: third agents (an admin included) see nothing of "only bob"
    for outsider in (carol, auditor):
        items = (await outsider.call("fetch_inbox", unread_only=False))["messages"]
        assert all("only bob" not in m["content"] for m in items)
    assert [
        m["kind"] for m in (await carol.call("fetch_inbox", unread_only=False))["messages"]
    ] == [
        "mention",
        "direct",
    ]
    assert (await auditor.call("fetch_inbox", unread_only=False))["messages"] == []
    cursors = (await carol.call("get_unread"))["sessions"]
    assert [c["unread"] for c in cursors] == [0]

    before = await _counts(target.app)
    again = await _import(target.app, text, tmp_path / "b.ndjson")
    assert sum(again.imported.values()) == 0
    assert await _counts(target.app) == before


async def test_a_bad_inbox_record_is_refused_before_anything_is_written(
    make_crew: CrewFactory, scs_factory: ServerFactory, tmp_path: Path
) -> None:
    source = await make_crew()
    await _history(source)
    lines = (await _export(source.server.app)).split("\n")
    at = next(i for i, line in enumerate(lines) if json.loads(line)["kind"] == "direct_message")
    bad = json.loads(lines[at])
    bad["recipients"] = [{"agent_id": "not an agent!", "read_at": None, "acked_at": None}]
    lines[at] = json.dumps(bad)
    target = await scs_factory()
    before = await _counts(target.app)
    with pytest.raises(ScsError) as refused:
        await _import(target.app, "\n".join(lines), tmp_path / "bad.ndjson")
    assert refused.value.code == ErrorCode.VALIDATION
    assert f"line {at + 1}:" in refused.value.message
    assert "recipients.agent_id" in refused.value.message
    assert await _counts(target.app) == before


@sqlite_only
@pytest.mark.slow
async def test_sqlite_to_postgresql(
    make_crew: CrewFactory,
    scs_factory: ServerFactory,
    postgres_cluster: PostgresCluster,
    tmp_path: Path,
) -> None:
    source = await make_crew()
    await _history(source)
    text = await _export(source.server.app)
    on_postgres = await scs_factory(database_url=postgres_cluster.create_database())
    assert on_postgres.app.db.dialect == "postgresql"
    await _import(on_postgres.app, text, tmp_path / "p.ndjson")
    assert _inbox_records(await _export(on_postgres.app)) == _inbox_records(text)
    bob = await on_postgres.agent("bob")
    assert [m["content"] for m in (await bob.call("fetch_inbox"))["messages"]] == []
    assert len((await bob.call("fetch_inbox", unread_only=False))["messages"]) == 2
    before = await _counts(on_postgres.app)
    await _import(on_postgres.app, text, tmp_path / "p2.ndjson")
    assert await _counts(on_postgres.app) == before


async def test_retention_removes_old_direct_messages_and_spares_held_sessions(
    make_crew: CrewFactory,
) -> None:
    crew = await make_crew(env={"SCS_ARCHIVE_MESSAGE_RETENTION_DAYS": "1"})
    other = (await crew.alice.call("create_session", purpose="not held"))["session_id"]
    await crew.auditor.call("hold_session", session_id=crew.session_id, reason="litigation")
    kept = await crew.alice.call(
        "send_direct_message", to="bob", content="held", session_id=crew.session_id
    )
    await crew.alice.call("send_direct_message", to="bob", content="in other", session_id=other)
    await crew.alice.call("send_direct_message", to=["bob", "carol"], content="global")
    await crew.alice.call("add_message", session_id=other, content="@bob see this")
    retention = crew.server.app.services.get(Retention, needed_by="test")
    assert await retention.run_once(datetime.now(UTC)) == {}  # nothing is a day old yet
    removed = await retention.run_once(datetime.now(UTC) + timedelta(days=2))
    assert removed == {"direct_messages": 2, "mentions": 1, "messages": 1}
    left = (await crew.bob.call("fetch_inbox", unread_only=False))["messages"]
    assert [m["id"] for m in left] == [kept["message_id"]]
    assert (await crew.carol.call("fetch_inbox", unread_only=False))["messages"] == []
    orphans = await crew.server.app.db.fetch_value(
        "SELECT COUNT(*) FROM inbox_recipients WHERE message_id <> ?", (kept["message_id"],)
    )
    assert orphans == 0


async def test_export_session_by_an_admin_leaves_direct_messages_out(
    make_crew: CrewFactory,
) -> None:
    crew = await make_crew()
    await _history(crew)
    result = await crew.auditor.client.call_tool(
        "export_session", {"session_id": crew.session_id, "auth_token": crew.auditor.token}
    )
    text = result.content[1].resource.text  # type: ignore[union-attr]
    assert "session plan" not in text
    assert [r["kind"] for r in _inbox_records(text)] == ["mention", "read_cursor"]
    # the operator's export has it
    assert "session plan" in await _export(crew.server.app)
