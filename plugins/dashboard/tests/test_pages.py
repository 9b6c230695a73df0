"""The dashboard's pages over real HTTP: login, sessions, a session, posting, memory,
health, audit, the live stream; each read as the logged-in identity."""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import TYPE_CHECKING

from scs_server.testing import ADMIN_API_KEY

from .ui import base_of, dashboard

if TYPE_CHECKING:
    from collections.abc import Callable

    from scs_server.testing import ServerFactory

    from .ui import Browser


async def test_root_redirects_to_login_then_to_sessions(
    scs_factory: ServerFactory, browser: Callable[[str], Browser]
) -> None:
    server = await dashboard(scs_factory)
    alice = await server.agent("alice")
    ui = browser(base_of(server))
    first = await ui.get("/ui")
    assert first.status_code == 303
    assert first.headers["location"] == "/ui/login"
    assert (await ui.get("/ui/sessions")).headers["location"] == "/ui/login"
    await ui.logged_in(alice.token)
    again = await ui.get("/ui")
    assert again.headers["location"] == "/ui/sessions"


async def test_sessions_list_shows_counts_the_viewer_may_see(
    scs_factory: ServerFactory, browser: Callable[[str], Browser]
) -> None:
    server = await dashboard(scs_factory)
    alice = await server.agent("alice")
    bob = await server.agent("bob")
    open_one = await alice.call("create_session", purpose="planning the release")
    closed = await alice.call("create_session", purpose="old retro")
    await alice.call("close_session", session_id=closed["session_id"])
    sid = open_one["session_id"]
    await alice.call("add_message", session_id=sid, content="hello all")
    await alice.call("add_message", session_id=sid, content="alice only", visibility="private")
    ui = browser(base_of(server))
    await ui.logged_in(bob.token)
    page = (await ui.get("/ui/sessions")).text
    assert "planning the release" in page
    assert "old retro" in page
    row = page.split("planning the release", 1)[1].split("</tr>", 1)[0]
    assert "<td>1</td>" in row  # bob sees one of the two messages
    only_closed = (await ui.get("/ui/sessions", params={"status": "closed"})).text
    assert "old retro" in only_closed
    assert "planning the release" not in only_closed
    filtered = (await ui.get("/ui/sessions", params={"q": "RELEASE"})).text
    assert "planning the release" in filtered
    assert "old retro" not in filtered


async def test_search_goes_through_visibility(
    scs_factory: ServerFactory, browser: Callable[[str], Browser]
) -> None:
    server = await dashboard(scs_factory)
    alice = await server.agent("alice")
    bob = await server.agent("bob")
    sid = (await alice.call("create_session", purpose="s"))["session_id"]
    await alice.call("add_message", session_id=sid, content="the zebra migration plan")
    await alice.call(
        "add_message", session_id=sid, content="the zebra secret", visibility="private"
    )
    ui = browser(base_of(server))
    await ui.logged_in(bob.token)
    page = (await ui.get("/ui/sessions", params={"search": "zebra"})).text
    assert "zebra migration" in page
    assert "zebra secret" not in page


async def test_post_a_message_as_the_logged_in_identity(
    scs_factory: ServerFactory, browser: Callable[[str], Browser]
) -> None:
    server = await dashboard(scs_factory)
    alice = await server.agent("alice")
    sid = (await alice.call("create_session", purpose="steer"))["session_id"]
    first = await alice.call("add_message", session_id=sid, content="question?")
    ui = browser(base_of(server))
    csrf = await ui.logged_in(alice.token)
    response = await ui.post(
        f"/ui/sessions/{sid}/messages",
        {
            "csrf": csrf,
            "content": "an answer",
            "visibility": "private",
            "parent_message_id": str(first["message_id"]),
        },
    )
    assert response.status_code == 303
    messages = (await alice.call("get_messages", session_id=sid))["messages"]
    assert [(m["content"], m["sender"], m["visibility"], m["parent_message_id"]) for m in messages][
        -1
    ] == ("an answer", "alice", "private", first["message_id"])
    page = (await ui.get(f"/ui/sessions/{sid}")).text
    assert "an answer" in page
    assert "↳ reply to #" in page


async def test_bad_post_changes_nothing_and_keeps_the_draft(
    scs_factory: ServerFactory, browser: Callable[[str], Browser]
) -> None:
    server = await dashboard(scs_factory)
    alice = await server.agent("alice")
    sid = (await alice.call("create_session", purpose="steer"))["session_id"]
    ui = browser(base_of(server))
    csrf = await ui.logged_in(alice.token)
    for form, status in (
        ({"content": "x", "visibility": "shouting"}, 400),
        ({"content": "x", "visibility": "admin_only"}, 403),
        ({"content": "x", "visibility": "public", "parent_message_id": "abc"}, 400),
        ({"content": "", "visibility": "public"}, 400),
    ):
        response = await ui.post(f"/ui/sessions/{sid}/messages", {"csrf": csrf, **form})
        assert response.status_code == status, (form, response.text)
        assert "Not sent" in response.text
    nowhere = await ui.post(
        "/ui/sessions/session_0000000000000000/messages",
        {"csrf": csrf, "content": "x", "visibility": "public"},
    )
    assert nowhere.status_code == 404
    assert (await alice.call("get_messages", session_id=sid))["messages"] == []


async def test_memory_own_and_admin_any_audited(
    scs_factory: ServerFactory, browser: Callable[[str], Browser]
) -> None:
    server = await dashboard(scs_factory)
    alice = await server.agent("alice")
    bob = await server.agent("bob")
    await alice.call("set_memory", key="plan", value={"step": 3})
    await bob.call("set_memory", key="bob-note", value="mine")
    ui = browser(base_of(server))
    await ui.logged_in(alice.token)
    own = (await ui.get("/ui/memory")).text
    assert "plan" in own
    assert "&quot;step&quot;: 3" in own
    assert "bob-note" not in own
    refused = await ui.get("/ui/memory", params={"agent_id": "bob"})
    assert refused.status_code == 403
    assert "bob-note" not in refused.text

    admin = browser(base_of(server))
    await admin.logged_in(ADMIN_API_KEY)
    other = await admin.get("/ui/memory", params={"agent_id": "bob"})
    assert other.status_code == 200
    assert "bob-note" in other.text
    rows = await server.app.db.fetch_all(
        "SELECT agent_id, detail FROM scs_audit WHERE action = 'dashboard_memory'"
    )
    assert [(r["agent_id"], r["detail"]) for r in rows] == [("dashboard-admin", "memory of bob")]


async def test_health_and_audit_are_admin_pages(
    scs_factory: ServerFactory, browser: Callable[[str], Browser]
) -> None:
    server = await dashboard(scs_factory)
    alice = await server.agent("alice")
    await alice.call("create_session", purpose="counted")
    await alice.fails("get_session", session_id="session_0000000000000000")
    ui = browser(base_of(server))
    await ui.logged_in(alice.token)
    assert (await ui.get("/ui/health")).status_code == 403
    assert (await ui.get("/ui/audit")).status_code == 403
    assert 'href="/ui/health"' not in (await ui.get("/ui/sessions")).text

    admin = browser(base_of(server))
    await admin.logged_in(ADMIN_API_KEY)
    health = (await admin.get("/ui/health")).text
    assert "create_session" in health
    assert "<svg" in health
    assert "RESOURCE_001" in health
    assert "pool" in health.lower()
    audit = (await admin.get("/ui/audit")).text
    assert "dashboard_login" in audit


async def test_live_stream_sends_new_visible_messages_only(
    scs_factory: ServerFactory, browser: Callable[[str], Browser]
) -> None:
    server = await dashboard(scs_factory)
    alice = await server.agent("alice")
    bob = await server.agent("bob")
    sid = (await alice.call("create_session", purpose="live"))["session_id"]
    before = await alice.call("add_message", session_id=sid, content="before")
    ui = browser(base_of(server))
    await ui.logged_in(bob.token)
    events: list[dict[str, object]] = []
    async with ui.http.stream(
        "GET", "/ui/stream", params={"session_id": sid, "after": str(before["message_id"])}
    ) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.aiter_lines()
        assert (await anext(lines)).startswith("retry:")
        await alice.call("add_message", session_id=sid, content="hidden", visibility="private")
        await alice.call("add_message", session_id=sid, content="shown live")
        deadline = time.monotonic() + 15
        while not events and time.monotonic() < deadline:
            line = await asyncio.wait_for(anext(lines), deadline - time.monotonic())
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    assert [e["content"] for e in events] == ["shown live"]
    assert events[0]["sender"] == "alice"


async def test_stream_needs_a_login_and_a_session(
    scs_factory: ServerFactory, browser: Callable[[str], Browser]
) -> None:
    server = await dashboard(scs_factory)
    alice = await server.agent("alice")
    ui = browser(base_of(server))
    assert (await ui.get("/ui/stream", params={"session_id": "x"})).status_code == 401
    await ui.logged_in(alice.token)
    assert (await ui.get("/ui/stream", params={"session_id": "x" * 500})).status_code == 404
    missing = await ui.get("/ui/stream", params={"session_id": "session_0000000000000000"})
    assert missing.status_code == 404


async def test_unread_counts_are_the_inbox_read_cursors(
    scs_factory: ServerFactory, browser: Callable[[str], Browser]
) -> None:
    server = await dashboard(scs_factory)
    alice = await server.agent("alice")
    bob = await server.agent("bob")
    sid = (await alice.call("create_session", purpose="unread check"))["session_id"]
    for i in range(3):
        await alice.call("add_message", session_id=sid, content=f"m{i}")
    ui = browser(base_of(server))
    await ui.logged_in(bob.token)

    async def unread(client: Browser = ui) -> str:
        page = (await client.get("/ui/sessions")).text
        row = page.split("unread check", 1)[1].split("</tr>", 1)[0]
        cells = row.split("<td>")
        return cells[4].split("</td>", 1)[0]  # purpose | creator | status | messages | unread

    async def listed() -> int:
        sessions = (await bob.call("list_sessions"))["sessions"]
        return int(next(s for s in sessions if s["id"] == sid)["unread"])

    assert await listed() == 3
    assert await unread() == '<strong class="unread">3</strong>'
    page = (await ui.get(f"/ui/sessions/{sid}")).text  # reading the page marks it read
    newest = max(int(n) for n in re.findall(r'data-id="(\d+)"', page))
    got = await bob.call("get_unread", session_id=sid)
    assert got["sessions"] == [{"session_id": sid, "last_read_id": newest, "unread": 0}]
    assert await listed() == 0
    assert await unread() == "0"
    await alice.call("add_message", session_id=sid, content="not for bob", visibility="private")
    assert await unread() == "0"  # what bob cannot see is not unread for him
    await alice.call("add_message", session_id=sid, content="for @bob")
    assert await listed() == 1
    assert await unread() == '<strong class="unread">1</strong>'
    assert (await bob.call("fetch_inbox"))["count"] == 1  # the mention
    await ui.get(f"/ui/sessions/{sid}")
    assert (await bob.call("fetch_inbox"))["count"] == 0  # read with the page, as mark_read
    added = await alice.call("add_message", session_id=sid, content="one more")
    assert await unread() == '<strong class="unread">1</strong>'
    await bob.call("mark_read", session_id=sid, up_to_message_id=added["message_id"])
    assert await unread() == "0"  # a cursor moved over MCP shows on the page
    # alice wrote them all: nothing is unread for her, as list_sessions says
    other = browser(base_of(server))
    await other.logged_in(alice.token)
    assert await unread(other) == "0"


async def test_without_the_inbox_there_is_no_unread_column(
    scs_factory: ServerFactory, browser: Callable[[str], Browser]
) -> None:
    server = await scs_factory("default,-inbox", http=True)
    alice = await server.agent("alice")
    sid = (await alice.call("create_session", purpose="no cursors"))["session_id"]
    await alice.call("add_message", session_id=sid, content="hello")
    ui = browser(base_of(server))
    await ui.logged_in(alice.token)
    listing = await ui.get("/ui/sessions")
    assert listing.status_code == 200
    assert "no cursors" in listing.text
    assert ">Unread<" not in listing.text
    assert ">Messages<" in listing.text
    shown = await ui.get(f"/ui/sessions/{sid}")
    assert shown.status_code == 200
    assert "hello" in shown.text
