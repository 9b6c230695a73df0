"""Dashboard actions as tool calls: page posts go through the MCP call hooks (rate
limits, timing, refusals audited), and the admin's force release of a lease."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from scs_server.testing import ADMIN_API_KEY

from .ui import base_of, csrf_of, dashboard

if TYPE_CHECKING:
    from collections.abc import Callable

    from scs_server.testing import ServerFactory

    from .ui import Browser


async def test_a_page_post_is_rate_limited_like_add_message(
    scs_factory: ServerFactory, browser: Callable[[str], Browser]
) -> None:
    server = await dashboard(
        scs_factory,
        env={"SCS_RATELIMIT_WRITE_BURST": "3", "SCS_RATELIMIT_WRITE_PER_MINUTE": "0.01"},
    )
    alice = await server.agent("alice")
    bob = await server.agent("bob")
    admin = await server.agent("ops", "admin")
    sid = (await alice.call("create_session", purpose="limits"))["session_id"]
    await bob.call("add_message", session_id=sid, content="over MCP")  # 1 of bob's 3
    ui = browser(base_of(server))
    csrf = await ui.logged_in(bob.token)
    for i in range(2):  # 2 and 3
        sent = await ui.post(f"/ui/sessions/{sid}/messages", {"csrf": csrf, "content": f"p{i}"})
        assert sent.status_code == 303, sent.text
    refused = await ui.post(f"/ui/sessions/{sid}/messages", {"csrf": csrf, "content": "p-late"})
    assert refused.status_code == 429
    assert "Not sent: rate limit exceeded" in refused.text
    failure = await bob.fails("add_message", session_id=sid, content="over MCP again")
    assert failure.code == "RATE_LIMITED"  # one bucket for both paths
    contents = [
        m["content"] for m in (await alice.call("get_messages", session_id=sid))["messages"]
    ]
    assert contents == ["over MCP", "p0", "p1"]
    figures = (await admin.call("get_performance_metrics"))["tools"]["add_message"]
    assert figures["calls"] == 5  # two MCP calls, three page posts: timed as the tool
    assert figures["errors_by_code"] == {"RATE_LIMITED": 2}


async def test_an_admin_force_releases_a_lease_from_the_page(
    scs_factory: ServerFactory, browser: Callable[[str], Browser]
) -> None:
    server = await dashboard(scs_factory)
    carol = await server.agent("carol")
    bob = await server.agent("bob")
    lease = await carol.call("acquire_lease", resources=["src/app.py"], reason="refactor")
    lease_id = lease["lease_id"]
    # an agent sees the board but no button, and a forged post is refused and audited
    ui = browser(base_of(server))
    bob_csrf = await ui.logged_in(bob.token)
    board = (await ui.get("/ui/leases")).text
    assert "<td>carol</td>" in board
    assert "Force release" not in board
    forged = await ui.post("/ui/leases/release", {"csrf": bob_csrf, "lease_id": lease_id})
    assert forged.status_code == 403
    assert "force_release_lease needs the &#x27;admin&#x27; permission" in forged.text
    assert [x["lease_id"] for x in (await bob.call("list_leases"))["leases"]] == [lease_id]
    # the admin: a button per lease, CSRF required, then the lease is gone
    desk = browser(base_of(server))
    await desk.logged_in(ADMIN_API_KEY)
    board = (await desk.get("/ui/leases")).text
    assert "Force release" in board
    assert re.search(rf'name="lease_id" value="{re.escape(lease_id)}"', board)
    no_token = await desk.post("/ui/leases/release", {"lease_id": lease_id})
    assert no_token.status_code == 403
    assert [x["lease_id"] for x in (await bob.call("list_leases"))["leases"]] == [lease_id]
    released = await desk.post("/ui/leases/release", {"csrf": csrf_of(board), "lease_id": lease_id})
    assert released.status_code == 303
    assert released.headers["location"] == "/ui/leases"
    after = (await desk.get("/ui/leases")).text
    assert "<td>carol</td>" not in after
    assert (await bob.call("list_leases"))["leases"] == []
    again = await desk.post("/ui/leases/release", {"csrf": csrf_of(board), "lease_id": lease_id})
    assert again.status_code == 404  # gone: nothing else changes
    audit = (await desk.get("/ui/audit")).text
    assert audit.count("lease.force_release") == 1  # as force_release_lease audits it
    assert f"lease {lease_id} of carol on src/app.py" in audit
    assert "force_release_lease needs admin" in audit  # bob's forged post
