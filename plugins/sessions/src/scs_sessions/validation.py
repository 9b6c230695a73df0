"""Session and message metadata: JSON objects stored as text (messaging uses them through
``scs_sessions.api``). The text and id checks are the core's (``scs_server.validation``).

Every check raises a typed validation error before anything is written.
"""

from __future__ import annotations

from typing import Any

from scs_server.jsonvalues import check_json_object, decode_stored

__all__ = ["decode_metadata", "encode_metadata"]


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
