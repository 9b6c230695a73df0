"""The dashboard under attack: XSS in every field that reaches a page, CSRF, session
fixation, cookie flags, reading another agent's messages by URL, lock-out after failed
logins, the CSP and the Host/Origin guard."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scs_server.testing import ADMIN_API_KEY, API_KEY

from .ui import base_of, csrf_of, dashboard

if TYPE_CHECKING:
    from collections.abc import Callable

    from scs_server.testing import ServerFactory

    from .ui import Browser

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img/src=x/onerror=alert(2)>'
PAYLOADS = (SCRIPT, IMG)


def assert_inert(page: str) -> None:
    """No payload survives as markup; each is there as escaped text."""
    assert "<script>alert" not in page
    assert "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


async def test_xss_in_every_field_renders_as_text(
    scs_factory: ServerFactory, browser: Callable[[str], Browser]
) -> None:
    server = await dashboard(scs_factory)
    alice = await server.agent("alice")
    session = await alice.call(
        "create_session",
        purpose=f"{SCRIPT} {IMG}",
        metadata={SCRIPT: IMG, "note": SCRIPT},
    )
    sid = session["session_id"]
    await alice.call(
        "add_message", session_id=sid, content=f"{SCRIPT}{IMG}", metadata={"x": SCRIPT}
    )
    await alice.call("set_memory", key=SCRIPT, value={IMG: SCRIPT})
    await alice.call("set_memory", key=IMG.replace(" ", ""), value="v", session_id=sid)
    ui = browser(base_of(server))
    await ui.logged_in(alice.token)
    pages = {
        "list": await ui.get("/ui/sessions"),
        "filter": await ui.get("/ui/sessions", params={"q": SCRIPT + IMG, "status": IMG}),
        "search": await ui.get("/ui/sessions", params={"search": SCRIPT + IMG}),
        "session": await ui.get(f"/ui/sessions/{sid}"),
        "memory": await ui.get("/ui/memory"),
    }
    for name, response in pages.items():
        assert response.status_code == 200, name
        assert_inert(response.text)
    assert "&lt;img/src=x/onerror=alert(2)&gt;" in pages["session"].text
    # agent ids cannot hold markup (the core refuses them), but a reflected id can
    refused = await alice.client.call_tool(
        "authenticate_agent",
        {"agent_id": SCRIPT, "agent_type": "claude", "api_key": API_KEY},
        raise_on_error=False,
    )
    assert refused.is_error
    admin = browser(base_of(server))
    await admin.logged_in(ADMIN_API_KEY)
    reflected = await admin.get("/ui/memory", params={"agent_id": SCRIPT})
    assert_inert(reflected.text)
    # a refused post echoes the draft back, escaped
    failed = await ui.post(
        f"/ui/sessions/{sid}/messages",
        {"csrf": csrf_of(pages["session"].text), "content": SCRIPT, "visibility": IMG},
    )
    assert failed.status_code == 400
    assert_inert(failed.text)


async def test_pages_carry_the_csp_and_frame_protection(
    scs_factory: ServerFactory, browser: Callable[[str], Browser]
) -> None:
    server = await dashboard(scs_factory)
    alice = await server.agent("alice")
    ui = browser(base_of(server))
    login = await ui.get("/ui/login")
    await ui.logged_in(alice.token)
    for response in (login, await ui.get("/ui/sessions"), await ui.get("/ui/memory")):
        csp = response.headers["content-security-policy"]
        directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
        assert directives["script-src"] == "'self'"
        assert directives["default-src"] == "'none'"
        assert directives["frame-ancestors"] == "'none'"
        assert "unsafe-inline" not in csp
        assert response.headers["x-frame-options"] == "DENY"
        assert "<script>" not in response.text  # only <script src=...> from /ui/static
        assert 'src="/ui/static/dashboard.js"' in response.text
    js = await ui.get("/ui/static/dashboard.js")
    assert js.status_code == 200
    assert js.headers["content-type"].startswith("text/javascript")
    assert "innerHTML" not in js.text
    assert (await ui.get("/ui/static/..%2Fplugin.py")).status_code == 404


async def test_post_without_or_with_a_wrong_csrf_token_is_refused(
    scs_factory: ServerFactory, browser: Callable[[str], Browser]
) -> None:
    server = await dashboard(scs_factory)
    alice = await server.agent("alice")
    sid = (await alice.call("create_session", purpose="csrf"))["session_id"]
    ui = browser(base_of(server))
    csrf = await ui.logged_in(alice.token)
    other = browser(base_of(server))
    others_csrf = await other.logged_in((await server.agent("mallory")).token)
    for form in (
        {"content": "forged", "visibility": "public"},
        {"content": "forged", "visibility": "public", "csrf": ""},
        {"content": "forged", "visibility": "public", "csrf": others_csrf},
        {"content": "forged", "visibility": "public", "csrf": csrf + "x"},
    ):
        response = await ui.post(f"/ui/sessions/{sid}/messages", form)
        assert response.status_code == 403
        assert "CSRF" in response.text
    as_json = await ui.http.post(
        f"/ui/sessions/{sid}/messages", json={"content": "forged", "csrf": csrf}
    )
    assert as_json.status_code == 403
    assert (await alice.call("get_messages", session_id=sid))["messages"] == []
    assert (await ui.post("/ui/logout", {})).status_code == 403
    assert (await ui.get("/ui/sessions")).status_code == 200  # still logged in
    # the login form has its own token (login CSRF)
    fresh = browser(base_of(server))
    refused = await fresh.post("/ui/login", {"token": alice.token})
    assert refused.status_code == 403
    assert "scs_ui" not in refused.cookies


async def test_login_issues_a_new_session_id_no_fixation(
    scs_factory: ServerFactory, browser: Callable[[str], Browser]
) -> None:
    server = await dashboard(scs_factory)
    alice = await server.agent("alice")
    ui = browser(base_of(server))
    planted = "attacker-chosen-session-id"
    ui.http.cookies.set("scs_ui", planted, domain="127.0.0.1", path="/ui")
    response = await ui.login(alice.token)
    assert response.status_code == 303
    issued = response.cookies["scs_ui"]
    assert issued != planted
    assert len(issued) >= 40
    attacker = browser(base_of(server))
    attacker.http.cookies.set("scs_ui", planted, domain="127.0.0.1", path="/ui")
    assert (await attacker.get("/ui/sessions")).headers["location"] == "/ui/login"
    # logging in again replaces the session: the first id stops working
    nonce = "n" * 43  # the login form's token, as a second tab would hold it
    ui.http.cookies.set("scs_ui_login", nonce, domain="127.0.0.1", path="/ui/login")
    second = await ui.post("/ui/login", {"token": alice.token, "csrf": nonce})
    assert second.status_code == 303
    assert second.cookies["scs_ui"] != issued
    stale = browser(base_of(server))
    stale.http.cookies.set("scs_ui", issued, domain="127.0.0.1", path="/ui")
    assert (await stale.get("/ui/sessions")).status_code == 303
    # the database holds a digest, never the cookie value
    stored = await server.app.db.fetch_all("SELECT id_hash FROM dashboard_sessions")
    assert stored
    assert all(row["id_hash"] not in (issued, second.cookies["scs_ui"]) for row in stored)


async def test_cookie_flags_over_http_and_https(
    scs_factory: ServerFactory, browser: Callable[[str], Browser]
) -> None:
    server = await dashboard(scs_factory, trusted_proxies=["127.0.0.1"])
    alice = await server.agent("alice")
    ui = browser(base_of(server))
    response = await ui.login(alice.token)
    cookie = next(
        v for k, v in response.headers.multi_items() if k == "set-cookie" and "scs_ui=" in v
    )
    flags = {part.strip().split("=", 1)[0].lower() for part in cookie.split(";")}
    assert {"httponly", "samesite", "path", "max-age"} <= flags
    assert "samesite=strict" in cookie.lower()
    assert "path=/ui" in cookie.lower()
    assert "secure" not in flags  # plain http on loopback
    assert alice.token not in response.headers.get("location", "")

    https = browser(base_of(server))
    https.http.headers["x-forwarded-proto"] = "https"
    page = await https.get("/ui/login")
    nonce_cookie = page.headers["set-cookie"]
    assert "secure" in {part.strip().lower() for part in nonce_cookie.split(";")}
    nonce = csrf_of(page.text)
    # the client speaks plain http to the "proxy" address, so it would not send a
    # Secure cookie back: send it as the browser behind the TLS proxy would
    secured = await https.post(
        "/ui/login",
        {"token": alice.token, "csrf": nonce},
        headers={"cookie": f"scs_ui_login={nonce}"},
    )
    assert secured.status_code == 303
    cookie = next(
        v for k, v in secured.headers.multi_items() if k == "set-cookie" and "scs_ui=" in v
    )
    assert "secure" in {part.strip().lower() for part in cookie.split(";")}


async def test_no_credential_in_pages(
    scs_factory: ServerFactory, browser: Callable[[str], Browser]
) -> None:
    server = await dashboard(scs_factory)
    alice = await server.agent("alice")
    ui = browser(base_of(server))
    await ui.logged_in(alice.token)
    for path in ("/ui/sessions", "/ui/memory"):
        assert alice.token not in (await ui.get(path)).text
    admin = browser(base_of(server))
    await admin.logged_in(ADMIN_API_KEY)
    for path in ("/ui/sessions", "/ui/audit", "/ui/health", "/ui/memory"):
        text = (await admin.get(path)).text
        assert ADMIN_API_KEY not in text
        assert API_KEY not in text
    wrong = await browser(base_of(server)).login("wrong-" + alice.token)
    assert alice.token not in wrong.text


async def test_another_agents_private_messages_stay_hidden_by_url(
    scs_factory: ServerFactory, browser: Callable[[str], Browser]
) -> None:
    server = await dashboard(scs_factory)
    alice = await server.agent("alice")
    bob = await server.agent("bob")
    sid = (await alice.call("create_session", purpose="alice's"))["session_id"]
    await alice.call("add_message", session_id=sid, content="for everyone")
    await alice.call("add_message", session_id=sid, content="alice's diary", visibility="private")
    await alice.call(
        "add_message", session_id=sid, content="claude agents only", visibility="agent_only"
    )
    ui = browser(base_of(server))
    await ui.logged_in((await server.agent("gemma", agent_type="gemini")).token)
    page = (await ui.get(f"/ui/sessions/{sid}")).text
    assert "for everyone" in page
    assert "alice&#x27;s diary" not in page
    assert "claude agents only" not in page
    bobs = browser(base_of(server))
    await bobs.logged_in(bob.token)
    bob_page = (await bobs.get(f"/ui/sessions/{sid}")).text
    assert "claude agents only" in bob_page  # same agent type
    assert "diary" not in bob_page
    missing = await bobs.get("/ui/sessions/session_ffffffffffffffff")
    assert missing.status_code == 404


async def test_failed_logins_are_refused_audited_and_locked_out(
    scs_factory: ServerFactory, browser: Callable[[str], Browser]
) -> None:
    server = await dashboard(scs_factory, auth_backoff_after=3, auth_backoff_base_s=30)
    alice = await server.agent("alice")
    ui = browser(base_of(server))
    statuses = []
    for attempt in range(5):
        # the first is the plain API key: it mints tokens, it is no login
        response = await ui.login(API_KEY if attempt == 0 else f"not-a-token-{attempt}")
        statuses.append(response.status_code)
        assert "scs_ui=" not in response.headers.get("set-cookie", "")
    assert statuses[:3] == [401, 401, 401]
    assert statuses[-1] == 429
    locked = await ui.login("still-wrong")
    assert "Too many failed logins" in locked.text
    # a right credential is still accepted (the throttle never sees right ones)
    assert (await ui.login(alice.token)).status_code == 303
    await server.app.auth.flush_failure_audit()
    rows = await server.app.db.fetch_all(
        "SELECT detail FROM scs_audit WHERE action = 'auth_failures'"
    )
    assert any("dashboard" in r["detail"] or "token" in r["detail"] for r in rows)


async def test_revoked_token_and_logout_end_the_session(
    scs_factory: ServerFactory, browser: Callable[[str], Browser]
) -> None:
    server = await dashboard(scs_factory)
    alice = await server.agent("alice")
    ui = browser(base_of(server))
    csrf = await ui.logged_in(alice.token)
    out = await ui.post("/ui/logout", {"csrf": csrf})
    assert out.status_code == 303
    assert (await ui.get("/ui/sessions")).headers["location"] == "/ui/login"
    carol = await server.agent("carol")
    await ui.logged_in(carol.token)
    await carol.call("revoke_token", token=carol.token)
    assert (await ui.get("/ui/sessions")).headers["location"] == "/ui/login"


async def test_host_and_origin_guard_covers_the_dashboard(
    scs_factory: ServerFactory, browser: Callable[[str], Browser]
) -> None:
    server = await dashboard(scs_factory)
    alice = await server.agent("alice")
    ui = browser(base_of(server))
    csrf = await ui.logged_in(alice.token)
    rebound = await ui.get("/ui/sessions", headers={"host": "evil.example"})
    assert rebound.status_code == 421
    cross = await ui.post("/ui/logout", {"csrf": csrf}, headers={"origin": "http://evil.example"})
    assert cross.status_code == 403
    assert (await ui.get("/ui/sessions")).status_code == 200  # not logged out
