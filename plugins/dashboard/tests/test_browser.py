"""The dashboard in a real headless Chromium (Debian's package, driven by Playwright):
log in through the form, open a session, see an MCP agent's message arrive without a
reload, reply from the page and read the reply over MCP."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .ui import base_of, dashboard

if TYPE_CHECKING:
    from scs_server.testing import ServerFactory

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# set to a folder to also keep the light and dark screenshots there (the README's)
SCREENSHOT_DIR = os.environ.get("SCS_DASHBOARD_SCREENSHOT_DIR")


def need_browser() -> None:
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("SCS_TEST_REQUIRE_BROWSER") == "1":
        pytest.fail(
            f"{CHROMIUM} is missing and SCS_TEST_REQUIRE_BROWSER=1 (apt-get install chromium)"
        )
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium to run the browser test)")


async def wait_for_reply(agent: Any, session_id: str, content: str) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        messages = (await agent.call("get_messages", session_id=session_id))["messages"]
        found = [m for m in messages if m["content"] == content]
        if found:
            return dict(found[0])
    raise AssertionError(f"{content!r} never reached session {session_id}")


async def test_live_session_in_a_real_browser(scs_factory: ServerFactory, tmp_path: Path) -> None:
    need_browser()
    from playwright.async_api import async_playwright, expect

    server = await dashboard(scs_factory)
    alice = await server.agent("alice")
    bob = await server.agent("bob")
    session = await alice.call(
        "create_session", purpose="Release 2.4 planning", metadata={"team": "core"}
    )
    sid = session["session_id"]
    first = await alice.call(
        "add_message", session_id=sid, content="I'll take the migration; bob, the changelog?"
    )
    await bob.call(
        "add_message",
        session_id=sid,
        content="On it.",
        parent_message_id=first["message_id"],
        visibility="agent_only",
    )
    base = base_of(server)
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = await chromium.new_page(viewport={"width": 1000, "height": 720})
            problems: list[str] = []
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on(
                "console",
                lambda message: problems.append(message.text) if message.type == "error" else None,
            )
            await page.goto(base + "/ui")
            assert page.url == base + "/ui/login"
            await page.fill("#token", bob.token)
            await page.press("#token", "Enter")
            await page.wait_for_url(base + "/ui/sessions")
            await page.click(f"a[href='/ui/sessions/{sid}']")
            await page.wait_for_url(base + f"/ui/sessions/{sid}")
            await expect(page.locator("#live")).to_have_text("live", timeout=15_000)
            await page.evaluate("() => { window.notReloaded = true; }")

            text = "Changelog <b>draft</b> is up"
            added = await alice.call("add_message", session_id=sid, content=text)
            live = page.locator(f"#m-{added['message_id']} .content")
            await expect(live).to_have_text(text, timeout=15_000)  # as text, not markup
            assert await page.evaluate("() => window.notReloaded") is True
            assert await page.locator("#messages b").count() == 0

            await page.click(f"#m-{added['message_id']} .reply-to")
            assert await page.input_value("#parent") == str(added["message_id"])
            await page.fill("#content", "Thanks both, ship it Friday.")
            await page.click("#post button[type=submit]")
            await page.wait_for_url(f"**/ui/sessions/{sid}#m-*")
            reply = await wait_for_reply(alice, sid, "Thanks both, ship it Friday.")
            assert reply["sender"] == "bob"
            assert reply["parent_message_id"] == added["message_id"]
            await expect(page.locator(f"#m-{reply['id']}")).to_be_visible()

            await page.screenshot(path=tmp_path / "session.png")
            assert (tmp_path / "session.png").stat().st_size > 1000
            await page.evaluate("() => window.scrollTo(0, 0)")
            for scheme in ("light", "dark"):
                await page.emulate_media(color_scheme=scheme)
                shot = tmp_path / f"dashboard-{scheme}.png"
                await page.screenshot(path=shot)
                if SCREENSHOT_DIR:
                    shutil.copy(shot, Path(SCREENSHOT_DIR) / shot.name)
            assert problems == []  # no CSP violation, no script error
        finally:
            await chromium.close()
