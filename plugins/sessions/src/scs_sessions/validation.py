"""Input checks shared by sessions and messaging: text, JSON metadata, timestamps, ids.

Every check raises a typed validation error before anything is written.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from scs import ErrorCode, ScsError
from scs.errors import not_found, validation_error

MAX_ID_CHARS = 128


def utc_now() -> str:
    """The current time as ISO-8601 UTC with microseconds, e.g. ``2026-11-25T21:15:48.123456Z``.

    Fixed width, so text order is time order (SQL ``ORDER BY`` and cursors rely on it).
    """
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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


def encode_metadata(
    value: dict[str, Any] | str | None, max_kb: int, field: str = "metadata"
) -> str | None:
    """Metadata as compact JSON text for storage (None stays None).

    Accepts a JSON object, or its JSON text (1.x clients send strings). Anything
    else, non-finite numbers, invalid Unicode or more than ``max_kb`` KiB is refused.
    """
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            raise validation_error(
                f"{field} is not valid JSON", 'send a JSON object such as {"key": "value"}'
            ) from None
        if value is None:
            return None
    if not isinstance(value, dict):
        raise validation_error(
            f"{field} must be a JSON object, not {type(value).__name__}",
            'send an object such as {"key": "value"} or null',
        )
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (ValueError, TypeError, RecursionError) as error:
        raise validation_error(
            f"{field} cannot be stored as JSON: {str(error)[:100]}",
            "use only JSON values (no NaN/Infinity, no deep nesting)",
        ) from None
    check_unicode(text, field)
    size = len(text.encode("utf-8"))
    if size > max_kb * 1024:
        raise ScsError(
            ErrorCode.VALIDATION_TOO_LARGE,
            f"{field} is {size} bytes as JSON; the limit is {max_kb} KiB",
            f"keep {field} small; put large data in the content or in memory",
            limit_bytes=max_kb * 1024,
        )
    return text


def decode_metadata(text: str | None) -> dict[str, Any] | None:
    """Stored metadata back to an object."""
    if text is None:
        return None
    value = json.loads(text)
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
