"""Placeholder translation: plugin SQL uses ``?``; libpq wants ``$1``, ``$2``...

``?`` is rewritten outside string literals, quoted identifiers, dollar-quoted bodies and
comments. Results are cached per SQL text (plugin SQL is a small set of constants).
"""

from __future__ import annotations

import re
from functools import lru_cache

_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")


@lru_cache(maxsize=2048)
def to_numbered(sql: str) -> bytes:
    """``sql`` with ``?`` placeholders rewritten for libpq (``$1``, ``$2``...), encoded."""
    if "?" not in sql:
        return sql.encode()
    out: list[str] = []
    count = 0
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in "'\"":
            end = _quoted_end(sql, i, ch)
        elif ch == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end < 0 else end
        elif ch == "/" and sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            end = n if end < 0 else end + 2
        elif ch == "$" and (tag := _DOLLAR_TAG.match(sql, i)) is not None:
            close = sql.find(tag.group(0), tag.end())
            end = n if close < 0 else close + len(tag.group(0))
        elif ch == "?":
            count += 1
            out.append(f"${count}")
            i += 1
            continue
        else:
            end = i + 1
        out.append(sql[i:end])
        i = end
    return "".join(out).encode()


def _quoted_end(sql: str, start: int, quote: str) -> int:
    """The index after the literal opened at ``start`` (a doubled quote stays inside)."""
    i = start + 1
    while True:
        close = sql.find(quote, i)
        if close < 0:
            return len(sql)
        if sql.startswith(quote * 2, close):
            i = close + 2
            continue
        return close + 1
