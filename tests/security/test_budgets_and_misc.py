"""Security issue, parts of 6 and 7: byte budgets, single-use refresh, the cache key of
admins, a body read deadline, headers on 421, a WAL that shrinks, a 0700 data dir."""

from __future__ import annotations

import asyncio
import json
import stat
from typing import TYPE_CHECKING, Any

import httpx2
from scs_server.app import create_app
from scs_server.settings import Settings
from scs_server.storage.sqlite import SqliteDatabase
from scs_server.testing import Agent, ToolCallError

if TYPE_CHECKING:
    from pathlib import Path

    import pytest
    from scs_server.storage import Transaction
    from scs_server.testing import ServerFactory

MCP_HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


def compact_size(item: Any) -> int:
    return len(json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode())


# -- refresh_token is single use -----------------------------------------------------


async def test_concurrent_refreshes_of_one_token_yield_exactly_one_token(
    scs_factory: ServerFactory,
) -> None:
    # presenting a revoked token is a wrong credential: keep the failure throttle's
    # backoff (AUTH_008) out of this test of the refresh race itself
    server = await scs_factory(http=True, env={"SCS_AUTH_BACKOFF_AFTER": "100"})
    alice = await server.agent("alice")
    callers = [Agent(await server.open_client(), "alice", "claude", alice.token) for _ in range(8)]

    async def refresh(agent: Agent) -> dict[str, Any] | ToolCallError:
        try:
            result: dict[str, Any] = await agent.call("refresh_token", current_token=alice.token)
        except ToolCallError as error:
            return error
        return result

    outcomes = await asyncio.gather(*(refresh(agent) for agent in callers))
    minted = [o for o in outcomes if isinstance(o, dict)]
    refused = [o for o in outcomes if isinstance(o, ToolCallError)]
    assert len(minted) == 1
    assert [error.code for error in refused] == ["AUTH_004"] * 7
    assert (await alice.fails("list_sessions")).code == "AUTH_004"
    fresh = Agent(alice.client, "alice", "claude", minted[0]["token"])
    assert (await fresh.call("list_sessions"))["success"] is True
    audited = await server.app.db.fetch_value(
        "SELECT COUNT(*) FROM scs_audit WHERE action = 'refresh' AND result = 'success'"
    )
    assert audited == 1


async def test_a_refresh_whose_audit_fails_keeps_the_old_token(
    scs_factory: ServerFactory,
) -> None:
    """Revocation and audit are one transaction: no audit, no revocation."""
    server = await scs_factory()
    alice = await server.agent("alice")
    db = server.app.db
    await db.execute("ALTER TABLE scs_audit RENAME TO scs_audit_away")  # the audit insert fails
    try:
        failed = await alice.fails("refresh_token", current_token=alice.token)
    finally:
        await db.execute("ALTER TABLE scs_audit_away RENAME TO scs_audit")
    assert failed.code == "INTERNAL_001"
    assert (await alice.call("list_sessions"))["success"] is True
    refreshed = await alice.call("refresh_token", current_token=alice.token)
    assert refreshed["token"] != alice.token


# -- response byte budgets -------------------------------------------------------------


async def test_get_messages_pages_within_the_byte_budget_and_pages_through_all(
    scs_factory: ServerFactory,
) -> None:
    budget = 20_000
    server = await scs_factory(env={"SCS_MESSAGING_MAX_RESPONSE_BYTES": str(budget)})
    alice = await server.agent("alice")
    session_id = (await alice.call("create_session", purpose="big"))["session_id"]
    sent = []
    for n in range(30):
        body = f"{n:03d}" + "x" * (3000 if n != 17 else 30_000)  # one alone exceeds the budget
        sent.append(
            (await alice.call("add_message", session_id=session_id, content=body))["message_id"]
        )

    seen: list[int] = []
    after: int | None = None
    for _ in range(40):  # bounded: 30 messages, at least one a page
        page = await alice.call("get_messages", session_id=session_id, limit=1000, after_id=after)
        ids = [m["id"] for m in page["messages"]]
        assert ids, "a page always carries at least one message"
        assert len(ids) == 1 or compact_size(page["messages"]) <= budget
        assert page["total_count"] == 30
        seen.extend(ids)
        if not page["has_more"]:
            assert page["next_cursor"] is None
            break
        assert page["next_cursor"] == ids[-1]
        after = page["next_cursor"]
    assert seen == sent  # every message exactly once, in order
    first = await alice.call("get_messages", session_id=session_id, limit=1000)
    assert 1 < first["count"] < 30 and first["has_more"] is True
    big = await alice.call("get_messages", session_id=session_id, after_id=sent[16], limit=1000)
    assert [m["id"] for m in big["messages"]] == [sent[17]] and big["has_more"] is True


async def test_offset_paging_also_reaches_every_message(scs_factory: ServerFactory) -> None:
    server = await scs_factory(env={"SCS_MESSAGING_MAX_RESPONSE_BYTES": "8000"})
    alice = await server.agent("alice")
    session_id = (await alice.call("create_session", purpose="big"))["session_id"]
    for n in range(12):
        await alice.call("add_message", session_id=session_id, content=f"{n}" + "y" * 2000)
    seen: list[str] = []
    offset = 0
    pages = 0
    for _ in range(20):
        pages += 1
        page = await alice.call("get_messages", session_id=session_id, limit=1000, offset=offset)
        seen.extend(m["content"][:2] for m in page["messages"])
        offset += page["count"]
        if not page["has_more"]:
            break
    assert [int(s.rstrip("y")) for s in seen] == list(range(12))
    assert pages > 1


async def test_thread_and_timerange_answers_stay_within_the_budget(
    scs_factory: ServerFactory,
) -> None:
    budget = 10_000
    server = await scs_factory(env={"SCS_MESSAGING_MAX_RESPONSE_BYTES": str(budget)})
    alice = await server.agent("alice")
    session_id = (await alice.call("create_session", purpose="big"))["session_id"]
    root = await alice.call("add_message", session_id=session_id, content="root " + "r" * 3000)
    for _ in range(8):
        await alice.call(
            "add_message",
            session_id=session_id,
            content="reply " + "z" * 3000,
            parent_message_id=root["message_id"],
        )
    thread = await alice.call("get_thread", message_id=root["message_id"])
    shown = ([thread["root"]] if thread["root"] else []) + thread["replies"]
    assert thread["truncated"] is True and 1 < len(shown) < 9
    assert compact_size(shown) <= budget
    ranged = await alice.call(
        "search_by_timerange",
        session_id=session_id,
        start_time="2000-01-01T00:00:00Z",
        end_time="2100-01-01T00:00:00Z",
        limit=200,
    )
    assert ranged["has_more"] is True and 1 < ranged["count"] < 9
    assert compact_size(ranged["messages"]) <= budget
    newest = await alice.call("get_session", session_id=session_id)  # the newest that fit
    assert newest["has_more"] is True and 1 < newest["message_count"] < 9
    assert compact_size(newest["messages"]) <= budget
    assert newest["messages"][-1]["content"].startswith("reply")


# -- the cache keys admins by id --------------------------------------------------------


async def test_two_admins_each_see_only_their_own_private_search_results(
    scs_factory: ServerFactory,
) -> None:
    server = await scs_factory()  # default plugins: the cache is on
    assert "cache" in server.app.plugins
    root = await server.agent("root", agent_type="admin")
    other = await server.agent("other-admin", agent_type="admin")
    session_id = (await root.call("create_session", purpose="admins"))["session_id"]
    await root.call(
        "add_message", session_id=session_id, content="rotation plan A", visibility="private"
    )
    await other.call(
        "add_message", session_id=session_id, content="rotation plan B", visibility="private"
    )

    def senders(answer: dict[str, Any]) -> set[str]:
        return {hit["message"]["sender"] for hit in answer["results"]}

    query = {"query": "rotation plan", "session_id": session_id, "search_scope": "private"}
    for _ in range(2):  # the second round is answered from the cache
        assert senders(await root.call("search_context", **query)) == {"root"}
        assert senders(await other.call("search_context", **query)) == {"other-admin"}
    assert server.app.host.stats(server.app)["cache"]["hits"] >= 2


# -- HTTP: a body read deadline, headers on every refusal ------------------------------


async def test_a_body_that_never_arrives_gets_408_and_a_closed_connection(
    scs_factory: ServerFactory,
) -> None:
    server = await scs_factory("", http=True, body_read_timeout_s=0.5)
    assert server.url
    port = int(server.url.split(":")[2].split("/")[0])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
            "Content-Length: 1000\r\n\r\n{".encode()
        )
        await writer.drain()
        # a deadline on the wait, not a timing assertion: today's server never answers
        answer = await asyncio.wait_for(reader.read(), timeout=15)  # read() ends at EOF
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408")
    assert b"x-content-type-options: nosniff" in head.lower()
    assert json.loads(body)["code"] == "VALIDATION_001"


async def test_misdirected_and_forbidden_origin_answers_carry_security_headers(
    scs_factory: ServerFactory,
) -> None:
    server = await scs_factory("", http=True)
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
    async with httpx2.AsyncClient(timeout=10) as http:
        misdirected = await http.post(
            server.url or "", json=init, headers={**MCP_HEADERS, "host": "evil.example:80"}
        )
        foreign = await http.post(
            server.url or "", json=init, headers={**MCP_HEADERS, "origin": "https://evil.example"}
        )
    assert (misdirected.status_code, foreign.status_code) == (421, 403)
    for response in (misdirected, foreign):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert "default-src 'none'" in response.headers["content-security-policy"]


# -- the WAL shrinks after a checkpoint -------------------------------------------------


async def _create(tx: Transaction) -> None:
    await tx.execute("CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB)")


async def _insert(tx: Transaction, size: int) -> None:
    await tx.execute("INSERT INTO blobs (data) VALUES (zeroblob(?))", (size,))


async def test_the_wal_is_cut_back_to_journal_size_limit_after_a_checkpoint(
    tmp_path: Path,
) -> None:
    limit = 256 * 1024
    db = SqliteDatabase(tmp_path / "wal.db", journal_size_limit=limit)  # SQLite's WAL file
    await db.open()
    try:
        wal = tmp_path / "wal.db-wal"
        await db.write(_create)
        for _ in range(40):  # 40 x 64 KiB: the WAL grows to several MiB
            await db.write(_insert, 64 * 1024)
        grown = wal.stat().st_size
        assert grown > 4 * limit
        await db.checkpoint()
        await db.write(_insert, 16)  # the first write after a full checkpoint restarts the WAL
        assert wal.stat().st_size <= limit
    finally:
        await db.close()


# -- the data dir is private from the first write ---------------------------------------


async def test_a_fresh_data_dir_is_0700_and_secrets_0600(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    for name in ("SCS_API_KEY", "SCS_ADMIN_API_KEY", "SCS_JWT_SECRET_KEY", "SCS_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    data_dir = tmp_path / "fresh" / "scs"
    settings = Settings(plugins="", data_dir=data_dir, transport="http", port=0)
    app = await create_app(settings)
    try:
        assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
        assert stat.S_IMODE((data_dir / "secrets.json").stat().st_mode) == 0o600
        assert stat.S_IMODE((data_dir / "scs.db").stat().st_mode) == 0o600
    finally:
        await app.close()
