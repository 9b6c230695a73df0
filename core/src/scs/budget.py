"""Response byte budgets: how many items of a page fit in a number of encoded bytes."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable


def encoded_size(item: Any) -> int:
    """Bytes of ``item`` as compact UTF-8 JSON (how a tool's answer is sent)."""
    text = json.dumps(item, ensure_ascii=False, separators=(",", ":"), default=str)
    return len(text.encode("utf-8", "surrogatepass"))


def fitting(items: Iterable[Any], budget: int) -> int:
    """How many leading ``items`` encode, as a JSON array, to at most ``budget`` bytes.

    Always at least one when there is one (a page must move a client forward, however
    big its first item), so a caller that cuts the page must report ``has_more``.
    """
    used = 2  # the brackets
    count = 0
    for item in items:
        used += encoded_size(item) + (1 if count else 0)
        if count and used > budget:
            break
        count += 1
    return count
