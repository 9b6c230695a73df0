"""Texts of the ``setup-collaboration`` and ``debug-session`` prompts."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any


def setup_collaboration(
    purpose: str, agent_types: list[str], project_name: str | None, session_id: str | None
) -> str:
    metadata: dict[str, Any] = {"agent_types": agent_types}
    if project_name:
        metadata["project"] = project_name
    session_step = (
        f"Use the existing session `{session_id}`."
        if session_id
        else (
            "Create the session:\n"
            f"    create_session(purpose={json.dumps(purpose)}, metadata={json.dumps(metadata)})\n"
            "Keep the returned session_id; every agent needs it."
        )
    )
    agents = "\n".join(
        f'    {kind}_token = authenticate_agent(agent_id="{kind}_{n}", agent_type="{kind}")'
        for n, kind in enumerate(agent_types, start=1)
    )
    title = f" for {project_name}" if project_name else ""
    return f"""# Set up a multi-agent collaboration{title}

**Purpose**: {purpose}
**Agent types**: {", ".join(agent_types)}

## 1. Session
{session_step}

## 2. One token per agent
Each agent gets its own identity (never share tokens):
{agents}
Every call passes its own `auth_token` (or sends it as an Authorization: Bearer header).

## 3. Working together
- Post findings with add_message(session_id, content, visibility="public").
- `agent_only` reaches only agents of the same type; `private` is a note to yourself.
- Reply to a message with parent_message_id; get_thread(message_id) shows the discussion.
- Read only what is new with get_messages(session_id, after_id=<last id you saw>).

## 4. The loop: wait, read, act, mark read
1. **Wait**: wait_for_messages(session_id, after_id=<next_after_id>, timeout_s=60) returns as soon
   as there is something you may see (without session_id it waits on your inbox: direct
   messages and @mentions). On `timed_out`, simply wait again.
2. **Read** the messages it returned (and fetch_inbox when a result carries `"pending"`).
3. **Act**: reply with add_message, or send_direct_message(to, content) to one agent.
4. **Mark read**: mark_read(session_id, up_to_message_id=<next_after_id>); get_unread shows
   what is left. Then wait again with the new next_after_id.
- Store working state with set_memory (per agent, optionally per session).

## 5. Finishing
Post a public summary, then close_session(session_id): the history stays readable.
"""


def debug_session(
    session_id: str,
    session: dict[str, Any] | None,
    messages: list[dict[str, Any]] | None,
    total: int,
    reader: str | None,
) -> str:
    header = f"# Debug session `{session_id}`\n"
    if reader is None:
        return (
            header + "\nThis prompt was requested without a token, so it cannot show the session.\n"
            "Send an Authorization: Bearer header, or call get_session(session_id) yourself.\n"
            + CHECKLIST
        )
    if session is None:
        return (
            header
            + "\n**Not found**: no session has this id. Check for typos, or list_sessions.\n"
            + CHECKLIST
        )
    shown = messages or []
    senders = Counter(m["sender"] for m in shown)
    levels = Counter(m["visibility"] for m in shown)
    state = "open" if session["closed_at"] is None else f"closed at {session['closed_at']}"
    lines = [
        header,
        f"- Purpose: {session['purpose']}",
        f"- Created by {session['created_by']} at {session['created_at']}; {state}",
        f"- Messages you can see: {total} (as {reader}); the newest {len(shown)} are summarised",
        f"- Senders: {dict(senders) or 'none'}",
        f"- Visibility: {dict(levels) or 'none'}",
    ]
    if shown:
        last = shown[-1]
        lines.append(f"- Last message: #{last['id']} by {last['sender']} at {last['timestamp']}")
    hints = []
    if session["closed_at"] is not None:
        hints.append("The session is closed: add_message answers RESOURCE_002. Start a new one.")
    if total == 0:
        hints.append("No messages you can see: others may be posting private or agent_only ones.")
    elif len(senders) == 1:
        hints.append("Only one agent has posted: check the others use this session_id.")
    lines += ["", "## Findings", *(f"- {h}" for h in hints or ["Nothing looks wrong."])]
    return "\n".join(lines) + "\n" + CHECKLIST


CHECKLIST = """
## Checklist
1. Every agent uses its own token and the same session_id.
2. Messages missing? Compare their visibility with the reader's agent type.
3. Polling? Use wait_for_messages(after_id=...) (or get_messages(after_id=...)) rather than re-reading everything.
4. Errors carry a code: get_usage_guidance(guidance_type="troubleshooting") explains them.
"""
