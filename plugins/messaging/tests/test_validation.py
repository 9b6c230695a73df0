"""Every refusal of add_message / get_messages: a typed error, and nothing written."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import httpx2
import pytest

if TYPE_CHECKING:
    from scs_server.testing import Agent

    from .conftest import StoredCount, Team, TeamFactory

SMALL = {"SCS_MESSAGING_MAX_MESSAGE_LENGTH": "100", "SCS_MESSAGING_MAX_METADATA_SIZE_KB": "1"}


@pytest.fixture
async def team(make_team: TeamFactory) -> Team:
    return await make_team(env=SMALL)


async def refused(
    team: Team, stored: StoredCount, code: str, who: Agent | None = None, **arguments: Any
) -> str:
    """add_message with ``arguments`` fails with ``code`` and the database is unchanged."""
    before = await stored(team.server)
    arguments.setdefault("session_id", team.session_id)
    arguments.setdefault("content", "hello")
    error = await (who or team.alice).fails("add_message", **arguments)
    assert error.code == code, error.body
    assert await stored(team.server) == before
    return error.message


async def test_unknown_session(team: Team, stored_messages: StoredCount) -> None:
    await refused(team, stored_messages, "RESOURCE_001", session_id="session_ffffffffffffffff")
    await refused(team, stored_messages, "RESOURCE_001", session_id="x" * 5000)
    await refused(team, stored_messages, "RESOURCE_001", session_id="")


@pytest.mark.parametrize(
    "session_id",
    ["session 1", "session\t1", "session\x7f1", "session\x001", "session\u00a01", "s\u20281"],
)
async def test_an_id_that_cannot_exist_is_refused_without_a_query(
    team: Team, stored_messages: StoredCount, session_id: str
) -> None:
    """Spaces (ASCII or not), control and line-separator characters: an invalid id."""
    message = await refused(team, stored_messages, "RESOURCE_001", session_id=session_id)
    assert "(invalid id)" in message


async def test_an_unknown_id_of_letters_beyond_ascii_is_looked_up(
    team: Team, stored_messages: StoredCount
) -> None:
    message = await refused(team, stored_messages, "RESOURCE_001", session_id="séssion_ñ1")
    assert "séssion_ñ1" in message


async def test_get_messages_of_an_unknown_session(team: Team) -> None:
    """Refused with a typed error and a hint, whether the page is read with the count
    (one statement) or through a metadata filter; an empty session is no such case."""
    for arguments in ({}, {"after_id": 5, "offset": 2}, {"metadata_filter": {"kind": "x"}}):
        error = await team.bob.fails(
            "get_messages", session_id="session_ffffffffffffffff", **arguments
        )
        assert error.code == "RESOURCE_001", error.body
        assert "session_ffffffffffffffff" in error.message and error.hint
    page = await team.bob.call("get_messages", session_id=team.session_id, offset=3)
    assert (page["messages"], page["total_count"], page["has_more"]) == ([], 0, False)


async def test_closed_session(team: Team, stored_messages: StoredCount) -> None:
    await team.alice.call("add_message", session_id=team.session_id, content="before")
    await team.alice.call("close_session", session_id=team.session_id)
    await refused(team, stored_messages, "RESOURCE_002")
    # still readable
    page = await team.bob.call("get_messages", session_id=team.session_id)
    assert [m["content"] for m in page["messages"]] == ["before"]


async def test_blank_content(team: Team, stored_messages: StoredCount) -> None:
    for blank in ("", "   ", "\n\t "):
        await refused(team, stored_messages, "VALIDATION_001", content=blank)


async def test_content_length_limit(team: Team, stored_messages: StoredCount) -> None:
    await refused(team, stored_messages, "VALIDATION_002", content="x" * 101)
    ok = await team.alice.call("add_message", session_id=team.session_id, content="é" * 100)
    assert ok["success"] is True


async def test_metadata_must_be_a_small_object(team: Team, stored_messages: StoredCount) -> None:
    for bad in ([1, 2], 5, "not json", "[1, 2]", '"text"'):
        await refused(team, stored_messages, "VALIDATION_001", metadata=bad)
    await refused(team, stored_messages, "VALIDATION_002", metadata={"blob": "x" * 1100})
    as_text = await team.alice.call(
        "add_message", session_id=team.session_id, content="m", metadata='{"k": [1, 2]}'
    )
    page = await team.alice.call(
        "get_messages", session_id=team.session_id, after_id=as_text["message_id"] - 1
    )
    assert page["messages"][0]["metadata"] == {"k": [1, 2]}


async def test_visibility_values(team: Team, stored_messages: StoredCount) -> None:
    await refused(team, stored_messages, "VALIDATION_001", visibility="secret")
    await refused(team, stored_messages, "VALIDATION_001", visibility="PUBLIC")
    message = await refused(team, stored_messages, "AUTH_005", visibility="admin_only")
    assert "admin" in message
    ok = await team.boss.call(
        "add_message", session_id=team.session_id, content="x", visibility="admin_only"
    )
    assert ok["visibility"] == "admin_only"


async def test_parent_must_be_a_visible_message_of_the_session(
    team: Team, stored_messages: StoredCount
) -> None:
    other = await team.alice.call("create_session", purpose="elsewhere")
    foreign = await team.alice.call("add_message", session_id=other["session_id"], content="x")
    private = await team.alice.call(
        "add_message", session_id=team.session_id, content="mine", visibility="private"
    )
    await refused(team, stored_messages, "VALIDATION_001", parent_message_id=999_999)
    await refused(team, stored_messages, "VALIDATION_001", parent_message_id=0)
    await refused(team, stored_messages, "VALIDATION_001", parent_message_id=2**70)
    await refused(team, stored_messages, "VALIDATION_001", parent_message_id=foreign["message_id"])
    await refused(
        team,
        stored_messages,
        "VALIDATION_001",
        who=team.bob,
        parent_message_id=private["message_id"],
    )


async def test_nul_and_lone_surrogates(team: Team, stored_messages: StoredCount) -> None:
    await refused(team, stored_messages, "VALIDATION_001", content="a\x00b")
    await refused(team, stored_messages, "VALIDATION_001", content="a\ud800b")
    await refused(team, stored_messages, "VALIDATION_001", metadata={"k": "\udfff"})
    # NUL inside metadata is just an escaped character in JSON: kept as is
    ok = await team.alice.call(
        "add_message", session_id=team.session_id, content="m", metadata={"k": "a\x00b"}
    )
    page = await team.alice.call(
        "get_messages", session_id=team.session_id, after_id=ok["message_id"] - 1
    )
    assert page["messages"][0]["metadata"] == {"k": "a\x00b"}


async def test_sql_metacharacters_are_stored_verbatim(team: Team) -> None:
    texts = [
        "'; DROP TABLE messages; --",
        'Robert"); DELETE FROM sessions WHERE ("1"="1',
        "100% of _all_ \\ rows",
        "emoji 🧪 and ünïcødé and \u202e bidi",
    ]
    for text in texts:
        await team.alice.call(
            "add_message", session_id=team.session_id, content=text, metadata={text: text}
        )
    page = await team.bob.call("get_messages", session_id=team.session_id)
    assert [m["content"] for m in page["messages"]] == texts
    assert [m["metadata"] for m in page["messages"]] == [{t: t} for t in texts]


async def test_read_arguments_out_of_range(team: Team) -> None:
    sid = team.session_id
    for arguments in (
        {"limit": 0},
        {"limit": 1001},
        {"offset": -1},
        {"after_id": -1},
        {"offset": 2**70},
        {"after_id": 2**70},
    ):
        error = await team.bob.fails("get_messages", session_id=sid, **arguments)
        assert error.code == "VALIDATION_001", arguments
    assert (await team.bob.fails("get_thread", message_id=2**70)).code == "VALIDATION_001"
    unknown = await team.bob.fails("get_messages", session_id="session_ffffffffffffffff")
    assert unknown.code == "RESOURCE_001"
    assert (await team.bob.call("get_messages", session_id=sid, limit=1000))["success"]


async def test_readonly_agent_cannot_write(team: Team, stored_messages: StoredCount) -> None:
    reader = await team.server.agent("watcher", "readonly")
    await refused(team, stored_messages, "AUTH_005", who=reader)
    assert (await reader.call("get_messages", session_id=team.session_id))["success"]


async def test_invalid_utf8_over_http_is_refused(
    make_team: TeamFactory, stored_messages: StoredCount
) -> None:
    """Bytes that are not UTF-8, and escaped lone surrogates, never reach the tool."""
    team = await make_team(http=True)
    assert team.server.url is not None
    headers = {
        "Authorization": f"Bearer {team.alice.token}",
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
    }
    call = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {
            "name": "add_message",
            "arguments": {"session_id": team.session_id, "content": "MARK"},
        },
    }
    async with httpx2.AsyncClient(timeout=20) as http:
        hello = await http.post(
            team.server.url,
            headers=headers,
            json={
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "raw", "version": "0"},
                },
            },
        )
        assert hello.status_code == 200
        headers["mcp-session-id"] = hello.headers["mcp-session-id"]
        headers["mcp-protocol-version"] = "2025-06-18"
        await http.post(
            team.server.url,
            headers=headers,
            json={"jsonrpc": "2.0", "method": "notifications/initialized"},
        )
        raw = json.dumps(call).encode()
        for body in (raw.replace(b"MARK", b"ok\xff\xfe"), raw.replace(b"MARK", b"ok\\ud800")):
            answer = await http.post(team.server.url, headers=headers, content=body)
            assert answer.status_code == 400
            assert answer.json()["error"]["code"] == -32700
    assert await stored_messages(team.server) == 0
