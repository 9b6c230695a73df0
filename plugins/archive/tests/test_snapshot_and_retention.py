"""Export while agents write is one consistent snapshot; retention removes exactly what
is older than its cut-off, never a held session, while agents write."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from scs_archive.retention import Retention
from scs_server.timestamps import parse_iso

from .conftest import export_text, records, seed, team

if TYPE_CHECKING:
    from scs_server.testing import Agent, ServerFactory

WRITERS = 20
PER_WRITER = 8


async def _write_chain(agent: Agent, session_id: str, started: asyncio.Event) -> list[int]:
    """Each message replies to the writer's previous one (a chain per writer)."""
    ids: list[int] = []
    for i in range(PER_WRITER):
        arguments: dict[str, Any] = {"session_id": session_id, "content": f"{agent.agent_id} {i}"}
        if ids:
            arguments["parent_message_id"] = ids[-1]
        ids.append((await agent.call("add_message", **arguments))["message_id"])
        started.set()
    return ids


async def test_export_while_twenty_agents_write_is_a_consistent_snapshot(
    scs_factory: ServerFactory,
) -> None:
    server = await scs_factory()
    admin = await server.agent("admin", agent_type="admin")
    session_id = (await admin.call("create_session", purpose="busy"))["session_id"]
    writers = [await server.agent(f"w{n}") for n in range(WRITERS)]
    started = asyncio.Event()
    tasks = [asyncio.create_task(_write_chain(w, session_id, started)) for w in writers]
    await asyncio.wait_for(started.wait(), 30)
    text = await export_text(server.app)
    chains = await asyncio.gather(*tasks)

    dump = records(text)
    header = dump[0]
    messages = [r for r in dump if r["kind"] == "message"]
    assert header["counts"]["message"] == len(messages)
    assert 0 < len(messages) <= WRITERS * PER_WRITER
    seen: set[int] = set()
    for message in messages:  # every reply's parent is in the dump, before it
        assert message["parent_id"] is None or message["parent_id"] in seen
        seen.add(message["id"])
    for chain in chains:  # each writer's messages in the dump are a prefix of its chain
        present = [m in seen for m in chain]
        assert present == sorted(present, reverse=True)


async def test_a_snapshot_read_does_not_see_later_commits(scs_factory: ServerFactory) -> None:
    server = await scs_factory()
    alice = await server.agent("alice")
    session_id = (await alice.call("create_session", purpose="s"))["session_id"]
    await alice.call("add_message", session_id=session_id, content="before")
    count = "SELECT COUNT(*) FROM messaging_messages"
    async with server.app.db.read(snapshot=True) as reader:
        assert await reader.fetch_value(count) == 1
        await alice.call("add_message", session_id=session_id, content="during")
        assert await server.app.db.fetch_value(count) == 2  # committed
        assert await reader.fetch_value(count) == 1  # not in the snapshot
    async with server.app.db.read() as reader:
        assert await reader.fetch_value(count) == 2


async def test_retention_is_exact_spares_held_sessions_and_runs_while_agents_write(
    scs_factory: ServerFactory,
) -> None:
    server = await scs_factory(env={"SCS_ARCHIVE_MESSAGE_RETENTION_DAYS": "1"})
    await seed(server, sessions=3, messages=12)
    agents = await team(server)
    boss = agents["boss"]
    kept_session, held_session, short_session = await server.app.db.fetch_all(
        "SELECT id FROM sessions_sessions ORDER BY created_at"
    )
    await boss.call("hold_session", session_id=held_session["id"], reason="litigation")
    await boss.call("set_retention", session_id=short_session["id"], days=3)

    stamps = await server.app.db.fetch_all(
        "SELECT id, session_id, timestamp FROM messaging_messages ORDER BY id"
    )
    cut = stamps[len(stamps) // 2]["timestamp"]  # the global cut-off, one day from "now"
    now = parse_iso(cut, "cut") + timedelta(days=1)
    # the 3-day session's cut-off is two days before the global one: nothing of it goes
    writer = agents["alice"]
    stop = asyncio.Event()

    async def keep_writing() -> int:
        written = 0
        while not stop.is_set() and written < 200:
            await writer.call("add_message", session_id=kept_session["id"], content="live")
            written += 1
        return written

    task = asyncio.create_task(keep_writing())
    removed = await server.app.services.get(Retention, needed_by="test").run_once(now)
    stop.set()
    written = await task

    expected = [
        r["id"] for r in stamps if r["session_id"] == kept_session["id"] and r["timestamp"] < cut
    ]
    assert removed == {"messages": len(expected)}
    assert expected  # the test removes something
    left = {r["id"] for r in await server.app.db.fetch_all("SELECT id FROM messaging_messages")}
    for r in stamps:
        assert (r["id"] in left) == (r["id"] not in expected)
    live = await server.app.db.fetch_value(
        "SELECT COUNT(*) FROM messaging_messages WHERE content = 'live'"
    )
    assert live == written
    audit = await server.app.db.fetch_one(
        "SELECT detail FROM scs_audit WHERE action = 'retention_purge' ORDER BY id DESC"
    )
    assert audit is not None
    assert json.loads(audit["detail"])["removed"] == {"messages": len(expected)}

    # released, the held session falls under the global limit at the next run
    await boss.call("release_hold", session_id=held_session["id"])
    again = await server.app.services.get(Retention, needed_by="test").run_once(now)
    held_old = [r for r in stamps if r["session_id"] == held_session["id"] and r["timestamp"] < cut]
    assert held_old
    assert again == {"messages": len(held_old)}
