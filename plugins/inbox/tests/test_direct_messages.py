"""Direct messages: only sender and recipients read them, by any path; receipts; acks."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .conftest import CrewFactory


@pytest.mark.slow  # over HTTP, for the resource read
async def test_only_recipients_and_the_sender_see_a_direct_message(make_crew: CrewFactory) -> None:
    crew = await make_crew(http=True)
    sent = await crew.alice.call(
        "send_direct_message", to=["bob"], content="zebra-secret plan", subject="plan"
    )
    assert sent["success"] is True
    inbox = await crew.bob.call("fetch_inbox")
    assert [
        (m["id"], m["kind"], m["sender"], m["content"], m["subject"]) for m in inbox["messages"]
    ] == [(sent["message_id"], "direct", "alice", "zebra-secret plan", "plan")]
    for outsider in (crew.carol, crew.auditor, crew.alice):
        assert (await outsider.call("fetch_inbox", unread_only=False))["messages"] == []
    # no session path shows it, to anyone (admins included)
    for reader in (crew.bob, crew.auditor):
        page = await reader.call("get_messages", session_id=crew.session_id)
        assert page["messages"] == []
        found = await reader.call(
            "search_context", session_id=crew.session_id, query="zebra-secret"
        )
        assert found["results"] == []
        resource = await reader.client.read_resource(f"session://{crew.session_id}")
        assert "zebra-secret" not in resource[0].text


async def test_receipts_are_for_the_sender_only_and_acknowledge_is_idempotent(
    make_crew: CrewFactory,
) -> None:
    crew = await make_crew()
    sent = await crew.alice.call(
        "send_direct_message", to=["bob", "carol"], content="ack please", ack_required=True
    )
    mid = sent["message_id"]
    receipts = await crew.alice.call("get_message_receipts", message_id=mid)
    assert receipts["receipts"] == [
        {"agent_id": "bob", "read_at": None, "acked_at": None},
        {"agent_id": "carol", "read_at": None, "acked_at": None},
    ]
    for other in (crew.bob, crew.auditor):
        error = await other.fails("get_message_receipts", message_id=mid)
        assert error.code == "RESOURCE_001"

    first = await crew.bob.call("acknowledge_message", message_ids=[mid])
    again = await crew.bob.call("acknowledge_message", message_ids=[mid, mid])
    assert (first["changed"], again["changed"]) == (1, 0)
    after = {
        r["agent_id"]: r
        for r in (await crew.alice.call("get_message_receipts", message_id=mid))["receipts"]
    }
    assert after["bob"]["acked_at"] is not None and after["bob"]["read_at"] is not None
    assert after["carol"] == {"agent_id": "carol", "read_at": None, "acked_at": None}
    acked_at = after["bob"]["acked_at"]
    await crew.bob.call("acknowledge_message", message_ids=[mid])
    later = (await crew.alice.call("get_message_receipts", message_id=mid))["receipts"]
    assert later[0]["acked_at"] == acked_at  # unchanged by the repeat

    # an id that is not in the caller's inbox: refused, nothing changed (carol's own id too)
    refused = await crew.carol.fails("acknowledge_message", message_ids=[mid, mid + 1000])
    assert refused.code == "RESOURCE_001"
    still = (await crew.alice.call("get_message_receipts", message_id=mid))["receipts"]
    assert still[1] == {"agent_id": "carol", "read_at": None, "acked_at": None}


async def test_bad_direct_messages_are_refused_and_write_nothing(make_crew: CrewFactory) -> None:
    crew = await make_crew()
    for arguments, code in (
        ({"to": ["not an id!"], "content": "x"}, "VALIDATION_001"),
        ({"to": [], "content": "x"}, "VALIDATION_001"),
        ({"to": "bob", "content": "x", "importance": "meh"}, "VALIDATION_001"),
        ({"to": "bob", "content": "x", "session_id": "session_0000000000000000"}, "RESOURCE_001"),
        ({"to": "bob", "content": "x", "reply_to": 12345}, "RESOURCE_001"),
    ):
        error = await crew.alice.fails("send_direct_message", **arguments)
        assert error.code == code, arguments
    stored = await crew.server.app.db.fetch_value("SELECT COUNT(*) FROM inbox_messages")
    assert stored == 0
    reader = await crew.server.agent("reader", "readonly")
    assert (await reader.fails("send_direct_message", to="bob", content="x")).code == "AUTH_005"


async def test_fetch_inbox_pages_and_marks_read(make_crew: CrewFactory) -> None:
    crew = await make_crew()
    ids = [
        (await crew.alice.call("send_direct_message", to="bob", content=f"m{i}"))["message_id"]
        for i in range(3)
    ]
    newest = await crew.bob.call("fetch_inbox", limit=2)
    assert [m["id"] for m in newest["messages"]] == [ids[2], ids[1]]
    assert newest["has_more"] is True
    paged = await crew.bob.call("fetch_inbox", after_id=ids[0], mark_read=True)
    assert [m["id"] for m in paged["messages"]] == ids[1:]
    assert paged["next_after_id"] == ids[2]
    unread = await crew.bob.call("fetch_inbox")
    assert [m["id"] for m in unread["messages"]] == [ids[0]]
    reply = await crew.bob.call("send_direct_message", to="alice", content="re", reply_to=ids[0])
    got = await crew.alice.call("fetch_inbox")
    assert got["messages"][0]["reply_to"] == ids[0]
    assert got["messages"][0]["id"] == reply["message_id"]
