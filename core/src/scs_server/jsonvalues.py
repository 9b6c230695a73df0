"""Limits on every JSON value scs stores, and safe decoding of what is stored.

One validator for all input (message and session metadata, memory values and metadata):
a value deeper than ``MAX_DEPTH`` containers, larger than its byte limit as compact JSON,
holding a lone surrogate or a non-finite number is refused with a typed error before
anything is written. Reads use ``decode_stored``: a stored row that cannot be shown (not
JSON, too deep) comes back as ``{"_unreadable": reason}`` instead of failing the read.
"""

from __future__ import annotations

import json
from typing import Any

from scs_server.errors import ErrorCode, ScsError, validation_error

MAX_DEPTH = 32
UNREADABLE = "_unreadable"
_CONTAINERS = (dict, list, tuple)


def json_depth(value: Any, limit: int) -> int:
    """The container nesting depth of ``value`` (a scalar is 0), or ``limit + 1`` once over it.

    Iterative, and stops at the first container deeper than ``limit``: a hostile value
    costs at most one pass over what is within the limit.
    """
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, _CONTAINERS):
            continue
        depth += 1
        if depth > limit:
            return limit + 1
        deepest = max(deepest, depth)
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth) for child in children if isinstance(child, _CONTAINERS))
    return deepest


def _may_be_deeper(text: str, max_depth: int) -> bool:
    """False when the JSON text has too few brackets to nest past ``max_depth`` (most do:
    they skip the walk)."""
    return text.count("[") + text.count("{") > max_depth


def _too_deep(field: str, max_depth: int) -> ScsError:
    return validation_error(
        f"{field} is nested more than {max_depth} levels deep; the limit is {max_depth}",
        f"flatten {field}: use at most {max_depth} levels of nested objects and lists",
        field=field,
        max_depth=max_depth,
    )


def check_json(
    value: Any, field: str, *, max_bytes: int, max_depth: int = MAX_DEPTH
) -> tuple[str, int]:
    """The compact JSON text of ``value`` and its UTF-8 size, or a typed refusal.

    Refused: more than ``max_depth`` nested containers, non-finite numbers, values that
    are not JSON, lone surrogates (``VALIDATION_001``) and more than ``max_bytes``
    bytes (``VALIDATION_002``). Each error names the field and the limit.
    """
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        size = len(text.encode("utf-8"))
    except RecursionError:  # nested past the encoder's own limit
        raise _too_deep(field, max_depth) from None
    except UnicodeEncodeError:
        raise validation_error(
            f"{field} is not valid Unicode (it contains a lone surrogate)",
            "send UTF-8 text; escape binary data (base64) first",
            field=field,
        ) from None
    except (TypeError, ValueError) as error:
        raise validation_error(
            f"{field} is not storable JSON: {str(error)[:200]}",
            "use strings, finite numbers, booleans, null, lists and objects",
            field=field,
        ) from None
    if _may_be_deeper(text, max_depth) and json_depth(value, max_depth) > max_depth:
        raise _too_deep(field, max_depth)
    if size > max_bytes:
        raise ScsError(
            ErrorCode.VALIDATION_TOO_LARGE,
            f"{field} is {size} bytes as JSON; the limit is {max_bytes} bytes",
            f"store less in {field}, or split it",
            field=field,
            size=size,
            max_bytes=max_bytes,
        )
    return text, size


def parse_json_text(text: str, field: str, *, max_depth: int = MAX_DEPTH) -> Any:
    """JSON text a client sent in place of a value (1.x clients send metadata as text)."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise _too_deep(field, max_depth) from None
    except ValueError:
        raise validation_error(
            f"{field} text is not valid JSON",
            'send a JSON object such as {"source": "planner"}, or its JSON text',
            field=field,
        ) from None
    if _may_be_deeper(text, max_depth) and json_depth(value, max_depth) > max_depth:
        raise _too_deep(field, max_depth)
    return value


def check_json_object(
    value: dict[str, Any] | str | None,
    field: str,
    *,
    max_bytes: int,
    max_depth: int = MAX_DEPTH,
) -> str | None:
    """A JSON object (or its JSON text) as compact text for storage; None and ``"null"`` stay None."""
    if value is None:
        return None
    if isinstance(value, str):
        value = parse_json_text(value, field, max_depth=max_depth)
        if value is None:
            return None
    if not isinstance(value, dict):
        raise validation_error(
            f"{field} must be a JSON object or null, not {type(value).__name__}",
            'send an object such as {"source": "planner"}',
            field=field,
        )
    return check_json(value, field, max_bytes=max_bytes, max_depth=max_depth)[0]


def unreadable(reason: str) -> dict[str, str]:
    """The one form every read path shows a stored value in that it cannot show."""
    return {UNREADABLE: reason}


def decode_stored(text: str, field: str, *, max_depth: int = MAX_DEPTH) -> Any:
    """A stored JSON value for output; never raises (see ``unreadable``).

    Rows written before the limits, or by other programs, may be deeper than
    ``max_depth`` or not JSON at all: one such row must not fail the read of a whole
    session, so it is shown as ``{"_unreadable": "<field> exceeded depth 32"}``.
    """
    try:
        value = json.loads(text)
    except RecursionError:
        return unreadable(f"{field} exceeded depth {max_depth}")
    except ValueError:
        return unreadable(f"{field} is not valid JSON")
    if _may_be_deeper(text, max_depth) and json_depth(value, max_depth) > max_depth:
        return unreadable(f"{field} exceeded depth {max_depth}")
    if ("\\ud" in text or "\\uD" in text) and not _encodable(value):
        return unreadable(f"{field} holds a lone surrogate")
    return value


def _encodable(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
