"""``metadata_filter``: exact match on top-level metadata keys (get_messages, search).

A filter is a JSON object of at most ``MAX_KEYS`` keys whose values are scalars
(string, number, boolean or null). A message matches when its metadata is an object
holding every key with an equal value: same JSON type (``true`` is not ``1``, ``"1"``
is not ``1``), numbers compared by value (``1`` equals ``1.0``). Public: the search
plugin applies the same rule in its index.
"""

from __future__ import annotations

import math
from typing import Any

from scs_server.errors import validation_error

MAX_KEYS = 8
MAX_KEY_CHARS = 128
MAX_VALUE_CHARS = 1_000
HINT = 'pass an object of top-level keys and scalar values, e.g. {"task": "T-42", "done": false}'


def check_metadata_filter(value: object) -> dict[str, Any] | None:
    """The filter, validated; None when there is none. Refusals are typed errors."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise validation_error(
            f"metadata_filter must be an object, not {type(value).__name__}", HINT
        )
    if not value:
        return None
    if len(value) > MAX_KEYS:
        raise validation_error(
            f"metadata_filter has {len(value)} keys; at most {MAX_KEYS} are allowed", HINT
        )
    for key, item in value.items():
        if not isinstance(key, str) or not key or len(key) > MAX_KEY_CHARS:
            raise validation_error(
                f"metadata_filter keys must be 1..{MAX_KEY_CHARS} characters", HINT
            )
        if isinstance(item, dict | list):
            raise validation_error(
                f"metadata_filter[{key!r}] is nested; only top-level scalar values match", HINT
            )
        if not (item is None or isinstance(item, str | int | float | bool)):
            raise validation_error(f"metadata_filter[{key!r}] is not a JSON scalar", HINT)
        if isinstance(item, float) and not math.isfinite(item):
            raise validation_error(f"metadata_filter[{key!r}] is not a finite number", HINT)
        if isinstance(item, str) and len(item) > MAX_VALUE_CHARS:
            raise validation_error(
                f"metadata_filter[{key!r}] is longer than {MAX_VALUE_CHARS} characters", HINT
            )
    return dict(value)


def canonical(value: object) -> str | None:
    """A scalar as a text that two equal values share (None for nested or odd values):
    a type letter, then the value (numbers by value: ``1`` and ``1.0`` give ``n1``)."""
    if isinstance(value, str):
        return "s" + value
    if value is None:
        return "z"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int):
        return f"n{value}"
    if isinstance(value, float) and math.isfinite(value):
        return f"n{int(value)}" if value.is_integer() else f"n{value!r}"
    return None


def matches(metadata: object, wanted: dict[str, Any]) -> bool:
    """Whether ``metadata`` (a decoded metadata value) holds every pair of ``wanted``."""
    if not isinstance(metadata, dict):
        return False
    for key, value in wanted.items():
        if key not in metadata or canonical(metadata[key]) != canonical(value):
            return False
    return True
