"""The text a message is searched by, and the preview shown for a match.

The searched text is the 1.x one: sender, content and (when ``search_metadata``)
the scalar metadata values, each lower-cased and joined by single spaces. The
query is lower-cased the same way. Scores are RapidFuzz ``partial_ratio`` on
these prepared strings, nothing else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rapidfuzz import fuzz

if TYPE_CHECKING:
    from collections.abc import Mapping

SCALARS = (str, int, float, bool)
MAX_SCORED_CHARS = 4000  # default of SCS_SEARCH_MAX_SCORED_CHARS


def metadata_values(metadata: Mapping[str, Any] | None) -> list[str]:
    """The scalar values of a metadata object, as text (nested values are not searched)."""
    if not metadata:
        return []
    values = []
    for value in metadata.values():
        if value is None or isinstance(value, dict | list) or not isinstance(value, SCALARS):
            continue
        text = str(value)
        if text:
            values.append(text)
    return values


def prepare(
    sender: str,
    content: str,
    metadata: Mapping[str, Any] | None,
    max_chars: int = MAX_SCORED_CHARS,
) -> tuple[str, int]:
    """The searched text with metadata, and the length of its part without metadata.

    Only the first ``max_chars`` characters are kept (``SCS_SEARCH_MAX_SCORED_CHARS``):
    the result is exactly the full prepared text cut there. Each part is cut before it
    is lower-cased (lower-casing never shortens a string), so a huge message costs
    only ``max_chars`` of work.
    """
    base = f"{sender[:max_chars].lower()} {content[:max_chars].lower()}"
    extra = [value[:max_chars].lower() for value in metadata_values(metadata)]
    text = " ".join([base, *extra]) if extra else base
    return text[:max_chars], min(len(base), max_chars)


def prepare_query(query: str) -> str:
    return query.lower()


def preview(query: str, text: str, sender: str, content: str, width: int) -> str:
    """A piece of the content around the best-matching part of ``text`` (the prepared text)."""
    start = 0
    offset = len(sender) + 1  # the content follows "sender " in the prepared text
    if (
        len(text) >= offset + len(content)
        and text[offset : offset + len(content)] == content.lower()
    ):
        alignment = fuzz.partial_ratio_alignment(query, text)
        if alignment is not None:
            middle = (alignment.dest_start + alignment.dest_end) // 2 - offset
            start = min(max(0, middle - width // 2), max(0, len(content) - width))
    piece = content[start : start + width]
    if start > 0:
        piece = "..." + piece
    if start + width < len(content):
        piece += "..."
    return piece
