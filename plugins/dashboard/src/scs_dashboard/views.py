"""The dashboard's pages as escaped HTML (data comes in already read by ``pages``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scs_messaging.api import VISIBILITY_LEVELS as LEVELS

from scs_dashboard.charts import bars, line
from scs_dashboard.html import Html, join, json_text, render, table

if TYPE_CHECKING:
    from scs_monitoring.api import Minute

    from scs_dashboard.logins import Viewer

STATIC = "/ui/static"


def nav_links(viewer: Viewer, extras: dict[str, bool]) -> list[tuple[str, str]]:
    """The menu: pages this viewer may open; Inbox/Leases only when a plugin serves them."""
    links = [("/ui/sessions", "Sessions")]
    if extras.get("inbox"):
        links.append(("/ui/inbox", "Inbox"))
    if extras.get("leases"):
        links.append(("/ui/leases", "Leases"))
    if extras.get("memory"):
        links.append(("/ui/memory", "Memory"))
    if viewer.identity.is_admin:
        if extras.get("monitoring"):
            links.append(("/ui/health", "Health"))
        links.append(("/ui/audit", "Audit"))
    return links


def page(
    title: str,
    body: Html,
    viewer: Viewer | None = None,
    extras: dict[str, bool] | None = None,
    active: str = "",
) -> Html:
    """The whole document around ``body``."""
    header = Html("")
    if viewer is not None:
        links = join(
            render('<a href="$href" aria-current="page">$label</a>', href=href, label=label)
            if href == active
            else render('<a href="$href">$label</a>', href=href, label=label)
            for href, label in nav_links(viewer, extras or {})
        )
        who = viewer.identity
        header = render(
            '<header class="top"><nav aria-label="Main">$links</nav>'
            '<div class="who"><span class="agent">$agent</span> <span class="type">$type</span>'
            '<form method="post" action="/ui/logout" class="inline">'
            '<input type="hidden" name="csrf" value="$csrf">'
            '<button type="submit">Log out</button></form></div></header>',
            links=links,
            agent=who.agent_id,
            type="admin" if who.is_admin else who.agent_type,
            csrf=viewer.csrf,
        )
    return render(
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        "<title>$title · scs</title>"
        '<link rel="stylesheet" href="$static/dashboard.css">'
        '<script src="$static/dashboard.js" defer></script></head>'
        '<body><a class="skip" href="#main">Skip to content</a>$header'
        '<main id="main" tabindex="-1">$body</main></body></html>',
        title=title,
        static=STATIC,
        header=header,
        body=body,
    )


def notice(text: str, kind: str = "error") -> Html:
    return render('<p class="notice $kind" role="alert">$text</p>', kind=kind, text=text)


def login_form(nonce: str, message: str | None = None) -> Html:
    return render(
        '<section class="login"><h1>scs dashboard</h1>$message'
        '<form method="post" action="/ui/login" autocomplete="off">'
        '<input type="hidden" name="csrf" value="$nonce">'
        '<label for="token">Agent token or admin API key</label>'
        '<input id="token" name="token" type="password" required autofocus '
        'autocomplete="off" spellcheck="false">'
        '<button type="submit">Log in</button></form>'
        '<p class="hint">Mint a token with <code>scs token --agent-id you</code>. '
        "It is checked once; the browser keeps only a session cookie.</p></section>",
        nonce=nonce,
        message=notice(message) if message else Html(""),
    )


def _status(session: dict[str, Any]) -> Html:
    if session["is_active"]:
        return Html('<span class="badge open">open</span>')
    return Html('<span class="badge closed">closed</span>')


def _session_cells(row: dict[str, Any], show_unread: bool) -> list[object]:
    session = row["session"]
    cells: list[object] = [
        render(
            '<a href="/ui/sessions/$sid">$purpose</a>',
            sid=session["id"],
            purpose=session["purpose"] or session["id"],
        ),
        session["created_by"],
        _status(session),
        row["messages"],
    ]
    if show_unread:
        unread = row["unread"]
        cells.append(render('<strong class="unread">$n</strong>', n=unread) if unread else "0")
    cells.append(render('<time datetime="$t">$t</time>', t=row["last_activity"]))
    return cells


def sessions_page(
    rows: list[dict[str, Any]],
    status: str,
    text: str,
    query: str,
    results: list[dict[str, Any]] | None,
    next_cursor: str | None,
    error: str | None = None,
    show_unread: bool = True,
) -> Html:
    """The sessions list, its filter, and message search results (the Unread column only
    when the inbox plugin keeps read cursors)."""
    options = join(
        render('<option value="$v" selected>$v</option>', v=v)
        if v == status
        else render('<option value="$v">$v</option>', v=v)
        for v in ("all", "open", "closed")
    )
    forms = render(
        '<div class="tools"><form method="get" action="/ui/sessions" class="filter" role="search">'
        '<label for="status">Status</label><select id="status" name="status">$options</select>'
        '<label for="q">Filter</label><input id="q" name="q" value="$text" '
        'placeholder="purpose or creator">'
        '<button type="submit">Filter</button></form>'
        '<form method="get" action="/ui/sessions" class="search" role="search">'
        '<label for="search">Search messages</label><input id="search" name="search" '
        'value="$query" placeholder="fuzzy search"><button type="submit">Search</button></form></div>',
        options=options,
        text=text,
        query=query,
    )
    found = Html("")
    if results is not None:
        found = render(
            '<section class="results" aria-label="Search results"><h2>Search: $query</h2>$table</section>',
            query=query,
            table=table(
                ["Session", "Sender", "Match", "Score"],
                (
                    [
                        render(
                            '<a href="/ui/sessions/$sid#m-$mid">$sid</a>',
                            sid=r["message"]["session_id"],
                            mid=r["message"]["id"],
                        ),
                        r["message"]["sender"],
                        r["match_preview"],
                        r["score"],
                    ]
                    for r in results
                ),
                "No visible message matches.",
            ),
        )
    headers = ["Purpose", "Creator", "Status", "Messages", "Unread", "Last activity"]
    if not show_unread:
        headers.remove("Unread")
    listing = table(
        headers, (_session_cells(row, show_unread) for row in rows), "No sessions match."
    )
    more = (
        render(
            '<p><a href="/ui/sessions?status=$status&amp;q=$text&amp;cursor=$cursor">Older sessions</a></p>',
            status=status,
            text=text,
            cursor=next_cursor,
        )
        if next_cursor
        else Html("")
    )
    return join(
        [
            Html("<h1>Sessions</h1>"),
            notice(error) if error else Html(""),
            forms,
            found,
            listing,
            more,
        ]
    )


def message_item(message: dict[str, Any]) -> Html:
    """One message; dashboard.js builds the same markup for live ones."""
    parent = message.get("parent_message_id")
    reply = (
        render('<a class="parent" href="#m-$p">↳ reply to #$p</a>', p=parent)
        if parent is not None
        else Html("")
    )
    metadata = message.get("metadata")
    details = (
        render(
            '<details class="metadata"><summary>metadata</summary><pre>$m</pre></details>',
            m=json_text(metadata),
        )
        if metadata
        else Html("")
    )
    return render(
        '<li class="msg$reply_class" id="m-$id" data-id="$id">'
        '<div class="meta"><span class="sender">$sender</span> <span class="type">$stype</span> '
        '<span class="badge v-$vis">$vis</span> <time datetime="$ts">$ts</time> '
        '<a class="id" href="#m-$id">#$id</a> $reply'
        '<button type="button" class="reply-to" data-id="$id">Reply</button></div>'
        '<div class="content">$content</div>$details</li>',
        reply_class=" reply" if parent is not None else "",
        id=message["id"],
        sender=message["sender"],
        stype=message["sender_type"],
        vis=message["visibility"],
        ts=message["timestamp"],
        reply=reply,
        content=message["content"],
        details=details,
    )


def session_page(
    viewer: Viewer,
    view: dict[str, Any],
    error: str | None = None,
    draft: str = "",
) -> Html:
    """A session: its messages (live), and the form to post as the viewer."""
    session = view["session"]
    messages = view["messages"]
    last = messages[-1]["id"] if messages else 0
    levels = [v for v in LEVELS if v != "admin_only" or viewer.identity.is_admin]
    options = join(render('<option value="$v">$v</option>', v=v) for v in levels)
    metadata = (
        render(
            '<details class="metadata"><summary>metadata</summary><pre>$m</pre></details>',
            m=json_text(session["metadata"]),
        )
        if session["metadata"]
        else Html("")
    )
    older = (
        render(
            '<p class="hint">Showing the newest $n of $total messages you can see.</p>',
            n=len(messages),
            total=view["total_count"],
        )
        if view["has_more"]
        else Html("")
    )
    if not session["is_active"]:
        form = Html('<p class="notice">This session is closed; it takes no new messages.</p>')
    elif not viewer.identity.can("write"):
        form = Html('<p class="notice">Your token cannot write (no "write" permission).</p>')
    else:
        form = render(
            '<form method="post" action="/ui/sessions/$sid/messages" class="post" id="post">'
            '<input type="hidden" name="csrf" value="$csrf">'
            '<label for="content">Message as $agent</label>'
            '<textarea id="content" name="content" rows="3" required>$draft</textarea>'
            '<div class="row"><label for="visibility">Visibility</label>'
            '<select id="visibility" name="visibility">$options</select>'
            '<label for="parent">Reply to #</label>'
            '<input id="parent" name="parent_message_id" inputmode="numeric" pattern="[0-9]*" size="8">'
            '<button type="submit">Send</button></div></form>',
            sid=session["id"],
            csrf=viewer.csrf,
            agent=viewer.identity.agent_id,
            draft=draft,
            options=options,
        )
    return render(
        '<h1>$purpose</h1><p class="sub"><code>$sid</code> · created by <span>$creator</span> '
        '<time datetime="$created">$created</time> $status</p>$metadata$error$older'
        '<ol id="messages" class="messages" aria-live="polite" data-session="$sid" data-last="$last">'
        '$items</ol><p id="live" class="live" role="status">live updates: connecting…</p>$form',
        purpose=session["purpose"] or session["id"],
        sid=session["id"],
        creator=session["created_by"],
        created=session["created_at"],
        status=_status(session),
        metadata=metadata,
        error=notice(error) if error else Html(""),
        older=older,
        last=last,
        items=join(message_item(m) for m in messages),
        form=form,
    )


def memory_page(
    viewer: Viewer, snapshot: dict[str, Any], agent_id: str, error: str | None = None
) -> Html:
    """An agent's live memory: global keys, then per session."""
    pick = Html("")
    if viewer.identity.is_admin:
        pick = render(
            '<form method="get" action="/ui/memory" class="filter">'
            '<label for="agent">Agent</label><input id="agent" name="agent_id" value="$a">'
            '<button type="submit">Show</button></form>',
            a=agent_id,
        )
    memory = snapshot.get("memory", {"global": {}, "sessions": {}})

    def rows(entries: dict[str, Any]) -> list[list[object]]:
        return [
            [
                key,
                render("<pre>$v</pre>", v=json_text(item["value"]))
                if not item.get("value_omitted")
                else "(too large to show)",
                item["version"],
                item["updated_at"],
                item["expires_at"] or "never",
            ]
            for key, item in sorted(entries.items())
        ]

    headers = ["Key", "Value", "Version", "Updated", "Expires"]
    sections = [render("<h2>Global</h2>$t", t=table(headers, rows(memory["global"]), "No keys."))]
    for session_id, entries in sorted(memory["sessions"].items()):
        sections.append(
            render(
                '<h2>Session <a href="/ui/sessions/$s">$s</a></h2>$t',
                s=session_id,
                t=table(headers, rows(entries)),
            )
        )
    return render(
        "<h1>Memory of $agent</h1>$pick$error$sections",
        agent=agent_id,
        pick=pick,
        error=notice(error) if error else Html(""),
        sections=join(sections),
    )


def _flat(prefix: str, value: Any) -> list[list[object]]:
    """Nested figures as (dotted name, value) rows."""
    if isinstance(value, dict):
        out: list[list[object]] = []
        for key, item in value.items():
            out.extend(_flat(f"{prefix}{key}.", item))
        return out
    return [[prefix.rstrip("."), value]]


def health_page(snapshot: dict[str, Any], minutes: list[Minute], span: int) -> Html:
    """Calls/s and p95 per tool over the last minutes, errors by code, pool use."""
    starts = [minute.start for minute in minutes]
    first = (starts[-1] - (span - 1) * 60) if starts else 0
    slots = [first + i * 60 for i in range(span)] if starts else []
    by_start = {minute.start: minute for minute in minutes}
    tools = sorted({tool for minute in minutes for tool in minute.tools})
    chart_rows: list[list[object]] = []
    for tool in tools:
        rates: list[float] = []
        p95s: list[float | None] = []
        for start in slots:
            figures = by_start[start].tools.get(tool) if start in by_start else None
            rates.append(figures.calls / 60 if figures else 0.0)
            p95s.append(figures.p95_ms() if figures else None)
        known = [p for p in p95s if p is not None]
        chart_rows.append(
            [
                tool,
                bars(rates, f"{tool}: calls per second, last {span} minutes"),
                f"{rates[-1]:.2f}" if rates else "0",
                line(p95s, f"{tool}: p95 ms, last {span} minutes"),
                f"{known[-1]:.1f}" if known else "–",
            ]
        )
    errors: dict[str, int] = {}
    for figures in snapshot.get("tools", {}).values():
        for code, count in figures.get("errors_by_code", {}).items():
            errors[code] = errors.get(code, 0) + count
    totals = snapshot.get("totals", {})
    return render(
        "<h1>Health</h1>"
        '<p class="sub">version $version · up $uptime s · $calls calls · in flight $inflight</p>'
        "<h2>Calls per tool (last $span minutes)</h2>$charts"
        "<h2>Errors by code (since start)</h2>$errors"
        "<h2>Database pool</h2>$pool",
        version=snapshot.get("version"),
        uptime=snapshot.get("uptime_seconds"),
        calls=totals.get("calls", 0),
        inflight=snapshot.get("in_flight"),
        span=span,
        charts=table(
            ["Tool", "Calls/s", "now", "p95 ms", "now"], chart_rows, "No tool calls recently."
        ),
        errors=table(["Code", "Count"], ([c, n] for c, n in sorted(errors.items())), "No errors."),
        pool=table(["Figure", "Value"], _flat("", snapshot.get("database", {}))),
    )


def audit_page(rows: list[dict[str, Any]]) -> Html:
    return render(
        "<h1>Audit log</h1>$t",
        t=table(
            ["Id", "At", "Agent", "Action", "Result", "Detail", "Client"],
            (
                [
                    r["id"],
                    r["at"],
                    r["agent_id"],
                    r["action"],
                    r["result"],
                    r["detail"],
                    r["client"],
                ]
                for r in rows
            ),
        ),
    )


def rows_page(title: str, rows: list[dict[str, Any]]) -> Html:
    """A page a plugin serves as rows (Inbox, Leases): one column per key."""
    headers = list(rows[0]) if rows else []
    return render(
        "<h1>$title</h1>$t",
        title=title,
        t=table(headers, ([row.get(h) for h in headers] for row in rows)),
    )


def leases_page(title: str, rows: list[dict[str, Any]], csrf: str) -> Html:
    """The Leases page of an admin: each lease with a force-release button."""
    headers = [*list(rows[0]), "action"] if rows else []

    def button(lease_id: object) -> Html:
        return render(
            '<form method="post" action="/ui/leases/release" class="inline">'
            '<input type="hidden" name="csrf" value="$csrf">'
            '<input type="hidden" name="lease_id" value="$lease">'
            '<button type="submit" aria-label="Force release lease $lease">Force release</button>'
            "</form>",
            csrf=csrf,
            lease=lease_id,
        )

    return render(
        "<h1>$title</h1>$t",
        title=title,
        t=table(
            headers,
            ([*[row.get(h) for h in headers[:-1]], button(row["lease id"])] for row in rows),
        ),
    )


def error_page(status: int, message: str) -> Html:
    return render(
        '<h1>$status</h1>$notice<p><a href="/ui/sessions">Back to the sessions</a></p>',
        status=status,
        notice=notice(message),
    )
