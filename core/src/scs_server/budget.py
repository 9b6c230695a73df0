"""Response byte budgets: how many items of a page fit in a number of encoded bytes."""

from __future__ import annotations

import json
from typing import Any

# built once: json.dumps builds an encoder per call when given options
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str)
# a character costs at most 6 bytes of JSON (a control character becomes \u00XX); a
# float at most 24 (its shortest repr, e.g. -1.7976931348623157e+308), null 4
_CHAR_BOUND = 6
_FLOAT_BOUND = 24


def encoded_size(item: Any) -> int:
    """Bytes of ``item`` as compact UTF-8 JSON (how a tool's answer is sent)."""
    return len(_ENCODER.encode(item).encode("utf-8", "surrogatepass"))


def size_bound(item: Any) -> int:
    """At least ``encoded_size(item)``, computed without encoding (a few lengths)."""
    if isinstance(item, str):
        return _CHAR_BOUND * len(item) + 2
    if isinstance(item, dict):
        return 2 + sum(size_bound(k) + size_bound(v) + 2 for k, v in item.items())
    if isinstance(item, list | tuple):
        return 2 + sum(size_bound(v) + 1 for v in item)
    if isinstance(item, int):  # bool too: len("True") == len("true")
        return len(repr(item))
    if item is None or isinstance(item, float):
        return _FLOAT_BOUND
    return encoded_size(item)  # anything else: measure it


def fitting(items: list[Any], budget: int) -> int:
    """How many leading ``items`` encode, as a JSON array, to at most ``budget`` bytes.

    Always at least one when there is one (a page must move a client forward, however
    big its first item), so a caller that cuts the page must report ``has_more``. A
    page whose bound fits (the usual case) is not encoded here at all.
    """
    if size_bound(items) <= budget:
        return len(items)
    used = 2  # the brackets
    count = 0
    for item in items:
        used += encoded_size(item) + (1 if count else 0)
        if count and used > budget:
            break
        count += 1
    return count
