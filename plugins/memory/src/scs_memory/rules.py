"""Input rules of the memory tools: keys, TTLs and prefixes.

Everything here is pure (no database): each check either returns the cleaned
input or raises a typed ``ScsError`` before anything is written.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from scs_server import validation
from scs_server.errors import validation_error
from scs_server.timestamps import iso_timestamp

if TYPE_CHECKING:
    from scs_server import Identity

MAX_KEY_CHARS = 255
MAX_TTL_SECONDS = 31_536_000
ALL_SCOPES = "all"
PRIVATE = "private"
SHARED = "shared"
# Owner of a session's shared entries. Agent ids start with a letter or digit
# (scs_server.auth.tokens.AGENT_ID_RE), so no agent can own, and so read as private, these rows.
SHARED_OWNER_PREFIX = "#shared:"
# Categories refused in keys: control, surrogate (not encodable), separators (spaces).
_FORBIDDEN_CATEGORIES = {"Cc", "Cs", "Zs", "Zl", "Zp"}
_SURROGATES = range(0xD800, 0xE000)
_MAX_CODE_POINT = 0x10FFFF


def may_read_memory_of(identity: Identity, agent_id: str) -> bool:
    """An agent's whole memory is readable by that agent or an admin (not anonymously)."""
    return not identity.anonymous and (identity.agent_id == agent_id or identity.is_admin)


def shared_owner(session_id: str) -> str:
    """The owner column of session ``session_id``'s shared memory."""
    return SHARED_OWNER_PREFIX + session_id


def is_shared_owner(owner: str) -> bool:
    return owner.startswith(SHARED_OWNER_PREFIX)


def now() -> datetime:
    return datetime.now(UTC)


def expiry(moment: datetime, expires_in: int | None) -> str | None:
    if expires_in is None:
        return None
    if not 1 <= expires_in <= MAX_TTL_SECONDS:
        raise validation_error(
            f"expires_in must be between 1 and {MAX_TTL_SECONDS} seconds (got {expires_in})",
            "omit expires_in (or pass null) for an entry that never expires",
        )
    return iso_timestamp(moment + timedelta(seconds=expires_in))


def _bad_char(text: str) -> str | None:
    for char in text:
        if char.isspace() or unicodedata.category(char) in _FORBIDDEN_CATEGORIES:
            return char
    return None


def check_key(key: str, what: str = "key") -> str:
    """A key is 1..255 characters without whitespace or control characters."""
    if not key:
        raise validation_error(f"{what} must not be empty", "use a name like 'plan.step'")
    if len(key) > MAX_KEY_CHARS:
        raise validation_error(
            f"{what} is {len(key)} characters long; the limit is {MAX_KEY_CHARS}",
            "use a shorter key",
        )
    bad = _bad_char(key)
    if bad is not None:
        raise validation_error(
            f"{what} contains a whitespace or control character ({ascii(bad)})",
            "keys may not contain spaces, tabs, newlines or control characters; "
            "use '.', '_' or '-' as separators",
        )
    return key


def check_prefix(prefix: str | None) -> str | None:
    if prefix is None or prefix == "":
        return None
    return check_key(prefix, "prefix")


def check_session_id(session_id: str | None) -> str | None:
    """None and "" (as in 1.x) mean the agent's global scope."""
    if session_id is None or session_id == "":
        return None
    return validation.check_session_id(session_id)


def _next_code_point(code: int) -> int | None:
    code += 1
    if code in _SURROGATES:
        code = _SURROGATES.stop
    return code if code <= _MAX_CODE_POINT else None


def prefix_upper_bound(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix``.

    ``key >= prefix AND key < bound`` selects exactly the keys starting with it
    under binary (code point / UTF-8 byte) order, with ``%`` and ``_`` as plain
    characters and an index range scan. None means "no upper bound".
    """
    chars = list(prefix)
    while chars:
        following = _next_code_point(ord(chars[-1]))
        if following is not None:
            chars[-1] = chr(following)
            return "".join(chars)
        chars.pop()
    return None
