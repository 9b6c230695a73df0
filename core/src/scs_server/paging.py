"""Opaque page cursors: base64url of a compact JSON list of strings.

Every cursor-taking tool decodes with ``decode_cursor``: anything that is not a cursor
this server could have issued (too long, not base64url, not JSON, nested, wrong types
or count, invalid Unicode) is one typed ``VALIDATION_001`` error, never a server fault.
"""

from __future__ import annotations

import base64
import binascii
import json

from scs_server.errors import ScsError, validation_error

MAX_CURSOR_CHARS = 2048


def encode_cursor(*parts: str) -> str:
    """A cursor holding ``parts`` (the sort key of the last row of a page)."""
    raw = json.dumps(list(parts), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _bad_cursor(tool: str) -> ScsError:
    return validation_error(
        "cursor is not one this server issued",
        f"pass next_cursor from a previous {tool} as is, or omit it for the first page",
        field="cursor",
    )


def decode_cursor(cursor: str, arity: int, tool: str) -> tuple[str, ...]:
    """The ``arity`` strings a cursor of ``tool`` holds, or a typed refusal."""
    if not isinstance(cursor, str) or not cursor or len(cursor) > MAX_CURSOR_CHARS:
        raise _bad_cursor(tool)
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        parts = json.loads(raw.decode("utf-8"))
    except (ValueError, binascii.Error, UnicodeError, RecursionError):  # nested "[" recurse
        raise _bad_cursor(tool) from None
    if not (
        isinstance(parts, list)
        and len(parts) == arity
        and all(isinstance(part, str) for part in parts)
    ):
        raise _bad_cursor(tool)
    try:
        "".join(parts).encode("utf-8")  # no lone surrogates (escaped in the JSON)
    except UnicodeEncodeError:
        raise _bad_cursor(tool) from None
    if any("\x00" in part for part in parts):
        raise _bad_cursor(tool)
    return tuple(parts)
