"""A caller's requests in flight are capped before the MCP layers (security finding 3:
a burst of sixty searches kept the event loop busy parsing and refusing them).

Calls are held in flight by ``wait_for_messages`` (it waits for a message that the test
sends only at the end), so nothing here races the clock.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import httpx2
import pytest
from metrics_scrape import metrics, sample
from scs_server.testing import ADMIN_API_KEY

if TYPE_CHECKING:
    from scs_server.inflight import InFlight
    from scs_server.testing import Agent, ScsServer, ServerFactory

pytestmark = pytest.mark.slow


async def hold(agent: Agent, session_id: str, after_id: int) -> asyncio.Task[Any]:
    """A ``wait_for_messages`` call that stays in flight until a message is added."""
    task = asyncio.ensure_future(
        agent.call("wait_for_messages", session_id=session_id, after_id=after_id, timeout_s=60)
    )
    await asyncio.sleep(0)
    return task


async def until_in_flight(server: ScsServer, count: int) -> None:
    """Poll (bounded) until the server counts ``count`` requests in flight."""
    counts = in_flight(server)
    for _ in range(500):
        if sum(counts.by_caller.values()) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never {count} requests in flight: {counts.by_caller}")


async def two_agents_in_a_session(
    scs_factory: ServerFactory, plugins: str, cap: int
) -> tuple[ScsServer, Agent, Agent, str, int]:
    """A server capped at ``cap``, alice and bob, alice's session and its first message."""
    server = await scs_factory(plugins, http=True, max_calls_in_flight=cap)
    alice = await server.agent("alice")
    bob = await server.agent("bob")
    sid = (await alice.call("create_session", purpose="in flight"))["session_id"]
    first = (await alice.call("add_message", session_id=sid, content="first"))["message_id"]
    return server, alice, bob, sid, first


async def post(server: ScsServer, agent: Agent, body: str) -> dict[str, Any]:
    """POST a raw JSON-RPC ``body`` to ``/mcp`` as ``agent``; the JSON answer."""
    assert server.url
    headers = {
        "authorization": f"Bearer {agent.token}",
        "accept": "application/json, text/event-stream",
        "content-type": "application/json",
    }
    async with httpx2.AsyncClient(timeout=30) as http:
        answer = await http.post(server.url, headers=headers, content=body)
    assert answer.status_code == 200
    parsed: dict[str, Any] = answer.json()
    return parsed


def in_flight(server: ScsServer) -> InFlight:
    assert server.app.in_flight is not None
    return server.app.in_flight


async def test_a_caller_over_its_cap_gets_a_typed_refusal_and_others_are_served(
    scs_factory: ServerFactory,
) -> None:
    server, alice, bob, sid, first = await two_agents_in_a_session(
        scs_factory, "sessions,messaging,monitoring", 2
    )

    waits = [await hold(alice, sid, first) for _ in range(2)]
    await until_in_flight(server, 2)
    refused = await alice.fails("add_message", session_id=sid, content="over the cap")
    assert refused.code == "RATE_LIMITED"
    assert refused.body["retryable"] is True
    assert "in flight" in refused.body["error"]
    assert in_flight(server).refused == 1
    scraped = await metrics(server, {"X-API-Key": ADMIN_API_KEY})
    assert sample(scraped.text, "scs_http_refused_in_flight_total") == 1
    assert sample(scraped.text, "scs_http_requests_in_flight") == 2  # the two waits

    # another caller is not affected, and the refused call changed nothing
    seen = await bob.call("get_messages", session_id=sid)
    assert [m["content"] for m in seen["messages"]] == ["first"]

    await bob.call("add_message", session_id=sid, content="release")
    for wait in waits:
        assert [m["content"] for m in (await wait)["messages"]] == ["release"]
    # the slots are free again once the calls are answered
    assert in_flight(server).by_caller == {}
    await alice.call("add_message", session_id=sid, content="after")


async def test_resource_reads_are_counted_housekeeping_is_not(scs_factory: ServerFactory) -> None:
    server, alice, bob, sid, first = await two_agents_in_a_session(
        scs_factory, "sessions,messaging", 1
    )
    wait = await hold(alice, sid, first)
    await until_in_flight(server, 1)
    request = {"jsonrpc": "2.0", "id": 7, "method": "resources/read"}
    read = await post(server, alice, json.dumps({**request, "params": {"uri": f"session://{sid}"}}))
    assert read["error"]["data"]["code"] == "RATE_LIMITED"
    assert read["error"]["data"]["retryable"] is True
    # listing tools is housekeeping: never refused by the cap
    listed = await alice.client.list_tools()
    assert "add_message" in {tool.name for tool in listed}
    assert in_flight(server).refused == 1
    await bob.call("add_message", session_id=sid, content="release")
    assert [m["content"] for m in (await wait)["messages"]] == ["release"]


async def test_a_call_dressed_as_housekeeping_is_still_counted(scs_factory: ServerFactory) -> None:
    """The method is read without parsing only when nothing else in the body could be a
    ``method`` key: a ``tools/call`` behind a leading ``"method": "ping"`` (JSON keeps
    the last of a repeated key, also one written with escapes) is counted and refused."""
    server, alice, bob, sid, first = await two_agents_in_a_session(
        scs_factory, "sessions,messaging", 1
    )
    wait = await hold(alice, sid, first)
    await until_in_flight(server, 1)
    call = {"name": "add_message", "arguments": {"session_id": sid, "content": "sneaked in"}}
    params = json.dumps(call)
    for number, second_key in enumerate(('"method"', '"\\u006dethod"')):
        body = (
            f'{{"jsonrpc": "2.0", "id": {number}, "method": "ping", '
            f'{second_key}: "tools/call", "params": {params}}}'
        )
        assert json.loads(body)["method"] == "tools/call"
        answer = await post(server, alice, body)
        assert answer["result"]["isError"] is True
        assert json.loads(answer["result"]["content"][0]["text"])["code"] == "RATE_LIMITED"
    assert in_flight(server).refused == 2
    await bob.call("add_message", session_id=sid, content="release")
    assert [m["content"] for m in (await wait)["messages"]] == ["release"]
    seen = await bob.call("get_messages", session_id=sid)
    assert [m["content"] for m in seen["messages"]] == ["first", "release"]


async def test_agents_sharing_a_connection_are_counted_by_their_token(
    scs_factory: ServerFactory,
) -> None:
    """Subagents that share one connection and pass ``auth_token`` are separate callers."""
    server, alice, bob, sid, first = await two_agents_in_a_session(
        scs_factory, "sessions,messaging", 1
    )
    shared = await server.open_client()
    wait = asyncio.ensure_future(
        shared.call_tool(
            "wait_for_messages",
            {"session_id": sid, "after_id": first, "timeout_s": 60, "auth_token": alice.token},
        )
    )
    await until_in_flight(server, 1)
    added = await shared.call_tool(
        "add_message", {"session_id": sid, "content": "from bob", "auth_token": bob.token}
    )
    assert not added.is_error
    assert in_flight(server).refused == 0
    result = await wait
    assert "from bob" in result.content[0].text


async def test_no_cap_when_set_to_zero(scs_factory: ServerFactory) -> None:
    server = await scs_factory("sessions,messaging", http=True, max_calls_in_flight=0)
    assert server.app.in_flight is None
    alice = await server.agent("alice")
    sid = (await alice.call("create_session", purpose="no cap"))["session_id"]
    results = await asyncio.gather(
        *(alice.call("add_message", session_id=sid, content=f"m{n}") for n in range(5))
    )
    assert len({r["message_id"] for r in results}) == 5


async def test_bad_setting_is_refused(scs_factory: ServerFactory) -> None:
    with pytest.raises(Exception, match="max_calls_in_flight"):
        await scs_factory("sessions", http=True, max_calls_in_flight=-1)
