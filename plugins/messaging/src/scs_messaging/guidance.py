"""``get_usage_guidance``: how to use this server, worked out from the caller's permissions
and the tools the enabled plugins actually provide."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, get_args

from scs_server.timestamps import epoch_timestamp, utc_now

if TYPE_CHECKING:
    from scs_server import Identity
    from scs_server.tools import ToolPolicy

GuidanceType = Literal["operations", "coordination", "security", "troubleshooting"]
GUIDANCE_TYPES: tuple[GuidanceType, ...] = get_args(GuidanceType)


def access_level(identity: Identity) -> str:
    if identity.is_admin:
        return "ADMIN"
    if identity.can("write"):
        return "AGENT"
    return "READ_ONLY"


def can_call(identity: Identity, policy: ToolPolicy) -> bool:
    return policy.permission == "none" or identity.can(policy.permission)


def readable_levels(identity: Identity) -> dict[str, str]:
    if identity.is_admin:
        return {
            "public": "all",
            "private": "all (admin)",
            "agent_only": "all (admin)",
            "admin_only": "all (admin)",
        }
    if identity.anonymous:
        return {"public": "all", "private": "none", "agent_only": "none", "admin_only": "none"}
    return {
        "public": "all",
        "private": f"only your own (sender {identity.agent_id})",
        "agent_only": f"those sent by agents of type {identity.agent_type!r}",
        "admin_only": "none (admins only)",
    }


def writable_levels(identity: Identity) -> list[str]:
    if not identity.can("write"):
        return []
    levels = ["public", "private", "agent_only"]
    return [*levels, "admin_only"] if identity.is_admin else levels


def _operations(identity: Identity, tools: dict[str, ToolPolicy]) -> dict[str, Any]:
    available = sorted(name for name, policy in tools.items() if can_call(identity, policy))
    unavailable = {
        name: f"needs {policy.permission}"
        for name, policy in sorted(tools.items())
        if not can_call(identity, policy)
    }
    return {
        "available_tools": available,
        "unavailable_tools": unavailable,
        "visibility_you_can_write": writable_levels(identity),
        "visibility_you_can_read": readable_levels(identity),
        "next_steps": [
            "list_sessions or create_session to find or start a shared session",
            "get_messages(session_id, after_id=<last id you saw>) reads only what is new",
            "get_session(session_id) shows the session and its newest 50 messages",
        ]
        if identity.can("write")
        else [
            "list_sessions to find sessions, get_session / get_messages to read them",
            "ask for a token with 'write' to post messages",
        ],
    }


def _coordination(identity: Identity) -> dict[str, Any]:
    steps = [
        "One session per piece of shared work; put the goal in its purpose",
        "Do not poll: wait_for_messages(session_id, after_id=N) blocks until something new "
        "you may see arrives, then returns it; follow next_after_id",
        "Reply in threads with parent_message_id; get_thread(message_id) shows a whole thread",
        'Use structured metadata (e.g. {"status": "done"}) so others can filter by it: '
        'get_messages(..., metadata_filter={"status": "done"}), same in search_context',
    ]
    if identity.can("write"):
        steps += [
            "agent_only reaches only agents of your type; private is a note to yourself",
            "close_session when the work is done: the history stays readable",
        ]
    if identity.is_admin:
        steps.append("admin_only messages coordinate admins without other agents seeing them")
    return {
        "coordination_instructions": steps,
        "work_loop": WORK_LOOP,
        "leases": [
            "Acquire before editing: acquire_lease(['src/app.py'], ttl_s=300, reason='...') "
            "(globs like 'src/**' work); on LEASE_CONFLICT the error names who holds it "
            "until when, or pass wait_s to queue for it",
            "Renew while working: renew_lease(lease_id, ttl_s) before expires_at; an "
            "expired lease is gone and someone else may hold the files",
            "Release when done: release_lease(lease_id), so waiting agents get it at once",
            "check_leases(paths) shows conflicts without acquiring; pass the fencing_token "
            "along with writes so a stale holder can be refused",
        ],
        "handoff_patterns": [
            "Before handing off, post a public summary and the next step",
            "The agent taking over reads get_session, then continues with after_id",
        ],
    }


WORK_LOOP = [
    "1. wait: wait_for_messages(session_id, after_id=<next_after_id>, timeout_s=60); without "
    "session_id it waits on your inbox (direct messages, @mentions); timed_out: wait again",
    "2. read: the messages it returned; a result with 'pending' means unread inbox items "
    "(fetch_inbox)",
    "3. act: add_message to reply in the session, send_direct_message(to, content) for one agent",
    "4. mark read: mark_read(session_id, up_to_message_id=<next_after_id>); get_unread shows "
    "what is left; then wait again",
]


def _security(identity: Identity) -> dict[str, Any]:
    notes = [
        "Your identity comes only from your token: never share it or put it in messages",
        "Pass auth_token on each call when several agents share one connection",
        "Tokens expire; refresh_token gives a fresh one and revokes the old one",
        "visibility_filter only narrows what you see; it can never show more",
    ]
    if identity.is_admin:
        notes.append("As an admin you read every message, including private ones: handle with care")
    return {
        "access_level": access_level(identity),
        "permissions": sorted(identity.permissions),
        "visibility_you_can_read": readable_levels(identity),
        "security_boundaries": notes,
    }


def _troubleshooting() -> dict[str, Any]:
    return {
        "error_codes": {
            "AUTH_001": "no token: call authenticate_agent, then pass auth_token",
            "AUTH_002, AUTH_003, AUTH_004": "token invalid, expired or revoked: "
            "authenticate again (or refresh_token before it expires)",
            "AUTH_005": "your token lacks the permission the tool needs, or the thing is "
            "another agent's",
            "AUTH_006": "wrong API key: ask the operator for the right one",
            "AUTH_007": "admin agent types need the admin key",
            "AUTH_008": "too many failed attempts from your address: wait retry_after "
            "seconds; a correct credential is still accepted",
            "AUTH_AGENT_SECRET_REQUIRED, AUTH_AGENT_SECRET_INVALID": "that agent id is "
            "registered: pass its agent_secret to authenticate_agent, or use another agent_id",
            "AUTH_AGENT_NOT_REGISTERED": "register_agent(agent_id, agent_type) first and keep "
            "the agent_secret it returns",
            "AGENT_ALREADY_REGISTERED": "that agent id is taken: authenticate with its "
            "agent_secret or pick another id",
            "VALIDATION_001": "an argument is wrong; the hint says which and why",
            "VALIDATION_002": "content or metadata too large; shorten it",
            "RESOURCE_001": "no such session or message (or not one you may see)",
            "RESOURCE_002": "the session is closed; create a new one to continue",
            "MEMORY_NOT_FOUND": "no such memory key (or it expired): list_memory shows yours",
            "KEY_EXISTS": "the memory key exists and overwrite was false",
            "CONFLICT": "someone changed it first (compare-and-swap): read it again, retry",
            "LEASE_CONFLICT": "another agent holds a lease on those resources: the error's "
            "conflicts name holder and expires_at; wait (wait_s) or work elsewhere",
            "LIMIT_EXCEEDED": "a quota or cap of yours is full (memory bytes, waits, "
            "streams); the message says which",
            "RATE_LIMITED": "too many calls; wait retry_after seconds",
            "DATABASE_BUSY": "retry in a moment; nothing was written",
            "DATABASE_UNAVAILABLE": "the database is unreachable; retry later, nothing was written",
            "INTERNAL_001": "server fault; quote the request id to the operator",
        },
        "common_issues": [
            "A message you expect is missing: check its visibility against your agent type",
            "get_messages returns nothing new: pass after_id of the last message you saw",
            "wait_for_messages LIMIT_EXCEEDED: too many waits of yours run at once; let one end",
        ],
    }


def guidance(
    identity: Identity, guidance_type: GuidanceType, tools: dict[str, ToolPolicy]
) -> dict[str, Any]:
    """The full ``get_usage_guidance`` result."""
    if guidance_type == "operations":
        content = _operations(identity, tools)
    elif guidance_type == "coordination":
        content = _coordination(identity)
    elif guidance_type == "security":
        content = _security(identity)
    else:
        content = _troubleshooting()
    return {
        "success": True,
        "guidance_type": guidance_type,
        "access_level": access_level(identity),
        "agent_info": {
            "agent_id": identity.agent_id,
            "agent_type": identity.agent_type,
            "permissions": sorted(identity.permissions),
            "expires_at": epoch_timestamp(identity.expires_at) if identity.expires_at else None,
        },
        "guidance": content,
        "generated_at": utc_now(),
    }
