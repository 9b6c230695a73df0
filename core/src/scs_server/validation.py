"""Input checks every plugin uses: text and ids. Each raises a typed error before
anything is written (or, for ids that cannot exist, before any query)."""

from __future__ import annotations

import unicodedata

from scs_server.errors import ErrorCode, ScsError, not_found, validation_error

MAX_SESSION_ID_CHARS = 128
# Refused in ids: control, surrogate (not encodable), separators (spaces).
_ID_FORBIDDEN_CATEGORIES = {"Cc", "Cs", "Zs", "Zl", "Zp"}


def check_unicode(value: str, field: str) -> None:
    """Refuse NUL characters and lone surrogates (text that is not valid UTF-8)."""
    if "\x00" in value:
        raise validation_error(
            f"{field} contains NUL characters", "remove the \\u0000 characters and send again"
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise validation_error(
            f"{field} is not valid Unicode (it contains a lone surrogate)",
            "send UTF-8 text; escape binary data (base64) first",
        ) from None


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


def check_session_id(session_id: str) -> str:
    """Refuse ids that cannot exist as not found, without a query: empty, longer than
    ``MAX_SESSION_ID_CHARS``, or holding spaces, control characters or lone surrogates."""
    if not session_id or len(session_id) > MAX_SESSION_ID_CHARS:
        shown = session_id[:40] + ("..." if len(session_id) > 40 else "")
        raise not_found("session", shown or "''")
    if session_id.isascii() and session_id.isprintable() and " " not in session_id:
        return session_id  # the usual id: no control character, no space (fast path)
    if any(
        char.isspace() or unicodedata.category(char) in _ID_FORBIDDEN_CATEGORIES
        for char in session_id
    ):
        raise not_found("session", "(invalid id)")
    return session_id
