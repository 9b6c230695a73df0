"""The dashboard across replicas (a login and the live stream follow the database) and
the Inbox/Leases slots other plugins fill."""

from __future__ import annotations

import asyncio
import json
import time
import types
from typing import TYPE_CHECKING, Any

from scs_dashboard.api import InboxRows
from scs_server import hookimpl

from .ui import base_of, csrf_of, dashboard

if TYPE_CHECKING:
    from collections.abc import Callable

    from scs_server import Identity
    from scs_server.app import App
    from scs_server.testing import ServerFactory

    from .ui import Browser


async def test_a_message_written_on_another_replica_streams_live(
    scs_factory: ServerFactory, browser: Callable[[str], Browser]
) -> None:
    a = await dashboard(scs_factory)
    b = await scs_factory(http=True, same_database_as=a)
    writer = await b.agent("writer")
    viewer = await a.agent("viewer")
    sid = (await writer.call("create_session", purpose="replicas"))["session_id"]
    ui = browser(base_of(a))
    await ui.logged_in(viewer.token)
    # the login lives in the database: the other replica knows it too
    on_b = browser(base_of(b))
    on_b.http.cookies.set("scs_ui", ui.http.cookies["scs_ui"], domain="127.0.0.1", path="/ui")
    assert (await on_b.get(f"/ui/sessions/{sid}")).status_code == 200
    data: list[dict[str, Any]] = []
    async with ui.http.stream("GET", "/ui/stream", params={"session_id": sid}) as stream:
        lines = stream.aiter_lines()
        assert (await anext(lines)).startswith("retry:")
        await writer.call("add_message", session_id=sid, content="from replica b")
        deadline = time.monotonic() + 15
        while not data and time.monotonic() < deadline:
            line = await asyncio.wait_for(anext(lines), deadline - time.monotonic())
            if line.startswith("data: "):
                data.append(json.loads(line[6:]))
    assert [(d["content"], d["sender"]) for d in data] == [("from replica b", "writer")]


async def test_read_only_token_sees_but_cannot_post(
    scs_factory: ServerFactory, browser: Callable[[str], Browser]
) -> None:
    server = await dashboard(scs_factory)
    alice = await server.agent("alice")
    reader = await server.agent("watcher", permissions=["read"])
    sid = (await alice.call("create_session", purpose="watched"))["session_id"]
    ui = browser(base_of(server))
    await ui.logged_in(reader.token)
    page = await ui.get(f"/ui/sessions/{sid}")
    assert "cannot write" in page.text
    refused = await ui.post(
        f"/ui/sessions/{sid}/messages",
        {"csrf": csrf_of(page.text), "content": "sneaky", "visibility": "public"},
    )
    assert refused.status_code == 403
    assert (await alice.call("get_messages", session_id=sid))["messages"] == []


async def test_an_expired_login_is_over(
    scs_factory: ServerFactory, browser: Callable[[str], Browser]
) -> None:
    server = await dashboard(scs_factory)
    alice = await server.agent("alice")
    ui = browser(base_of(server))
    await ui.logged_in(alice.token)
    await server.app.db.execute("UPDATE dashboard_sessions SET expires_at = 0")
    assert (await ui.get("/ui/sessions")).headers["location"] == "/ui/login"


class Inbox:
    async def dashboard_rows(self, identity: Identity) -> list[dict[str, Any]]:
        return [{"from": "bob", "to": identity.agent_id, "subject": "<b>hi</b>"}]


def inbox_plugin() -> types.ModuleType:
    def scs_register(app: App) -> None:
        app.services.provide(InboxRows, Inbox(), by="test")

    module = types.ModuleType("scs_test_dashboard_inbox")
    module.scs_register = hookimpl(scs_register)  # type: ignore[attr-defined]
    return module


async def test_inbox_and_leases_slots_show_only_when_provided(
    scs_factory: ServerFactory, browser: Callable[[str], Browser]
) -> None:
    plain = await scs_factory("default,-inbox,-leases", http=True)
    ui = browser(base_of(plain))
    await ui.logged_in((await plain.agent("alice")).token)
    assert 'href="/ui/inbox"' not in (await ui.get("/ui/sessions")).text
    assert (await ui.get("/ui/inbox")).status_code == 404

    served = await scs_factory(
        "default,-leases", http=True, extra_plugins={"inbox": inbox_plugin()}
    )
    other = browser(base_of(served))
    await other.logged_in((await served.agent("carol")).token)
    listing = (await other.get("/ui/sessions")).text
    assert 'href="/ui/inbox"' in listing
    assert 'href="/ui/leases"' not in listing
    inbox = await other.get("/ui/inbox")
    assert inbox.status_code == 200
    assert "<td>carol</td>" in inbox.text
    assert "&lt;b&gt;hi&lt;/b&gt;" in inbox.text
    assert (await other.get("/ui/leases")).status_code == 404


async def test_the_built_in_inbox_and_leases_fill_their_pages(
    scs_factory: ServerFactory, browser: Callable[[str], Browser]
) -> None:
    server = await dashboard(scs_factory)
    alice = await server.agent("alice")
    bob = await server.agent("bob")
    carol = await server.agent("carol")
    await bob.call("send_direct_message", to="alice", content="<i>review</i> please")
    await bob.call("send_direct_message", to="carol", content="not for alice")
    await carol.call("acquire_lease", resources=["src/app.py"], reason="<b>refactor</b>")
    ui = browser(base_of(server))
    await ui.logged_in(alice.token)
    listing = (await ui.get("/ui/sessions")).text
    assert 'href="/ui/inbox"' in listing
    assert 'href="/ui/leases"' in listing
    inbox = (await ui.get("/ui/inbox")).text
    assert "&lt;i&gt;review&lt;/i&gt; please" in inbox
    assert "not for alice" not in inbox  # a direct message shows only to its recipients
    leases = (await ui.get("/ui/leases")).text
    assert "<td>carol</td>" in leases
    assert "<td>src/app.py</td>" in leases
    assert "&lt;b&gt;refactor&lt;/b&gt;" in leases
