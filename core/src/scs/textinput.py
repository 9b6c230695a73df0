"""Checks of client text that is stored or compared in the database."""

from __future__ import annotations

from scs.errors import validation_error


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
