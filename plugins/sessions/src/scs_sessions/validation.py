"""Input checks shared by sessions and messaging: text, JSON metadata, ids.

Every check raises a typed validation error before anything is written.
"""

from __future__ import annotations

from typing import Any

from scs import ErrorCode, ScsError
from scs.errors import not_found, validation_error
from scs.jsonvalues import check_json_object, decode_stored
from scs.textinput import check_unicode as check_unicode  # moved to the core; kept here

MAX_ID_CHARS = 128


def clean_text(value: str, field: str, max_chars: int) -> str:
    """A required, non-blank text of at most ``max_chars`` characters, stored verbatim."""
    check_unicode(value, field)
    if not value.strip():
        raise validation_error(f"{field} must not be empty or blank", f"send a non-blank {field}")
    if len(value) > max_chars:
        raise ScsError(
            ErrorCode.VALIDATION_TOO_LARGE,
            f"{field} is {len(value)} characters; the limit is {max_chars}",
            f"shorten the {field} or split it",
            limit=max_chars,
        )
    return value


def encode_metadata(
    value: dict[str, Any] | str | None, max_kb: int, field: str = "metadata"
) -> str | None:
    """Metadata as compact JSON text for storage (None stays None), by the core's JSON limits.

    Accepts a JSON object, or its JSON text (1.x clients send strings), of at most
    ``max_kb`` KiB and 32 levels deep.
    """
    return check_json_object(value, field, max_bytes=max_kb * 1024)


def decode_metadata(text: str | None) -> dict[str, Any] | None:
    """Stored metadata back to an object; an unreadable row reads as ``{"_unreadable": ...}``."""
    if text is None:
        return None
    value = decode_stored(text, "metadata")
    return value if isinstance(value, dict) else None


def check_session_id(session_id: str) -> str:
    """Refuse ids that cannot exist (too long, NUL, invalid Unicode) as not found, without a query."""
    if not session_id or len(session_id) > MAX_ID_CHARS:
        shown = session_id[:40] + ("..." if len(session_id) > 40 else "")
        raise not_found("session", shown or "''")
    try:
        check_unicode(session_id, "session_id")
    except ScsError:
        raise not_found("session", "(invalid id)") from None
    return session_id
