"""Placeholder translation: plugin SQL uses ``?``; psycopg's cursor wants ``%s``, libpq
``$1``, ``$2``...

``?`` is rewritten outside string literals, quoted identifiers, dollar-quoted bodies and
comments. For psycopg every ``%`` becomes ``%%``, inside literals too: psycopg scans the
whole text for ``%`` and knows nothing of SQL quoting. Results are cached per SQL text
(plugin SQL is a small set of constants).
"""

from __future__ import annotations

import re
from functools import lru_cache

_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")


@lru_cache(maxsize=2048)
def to_pyformat(sql: str) -> str:
    """``sql`` with ``?`` placeholders rewritten for psycopg (``%s``, ``%%``)."""
    if "?" not in sql and "%" not in sql:
        return sql
    return _rewritten(sql, numbered=False)


@lru_cache(maxsize=2048)
def to_numbered(sql: str) -> bytes:
    """``sql`` with ``?`` placeholders rewritten for libpq (``$1``, ``$2``...), encoded."""
    return (_rewritten(sql, numbered=True) if "?" in sql else sql).encode()


def _rewritten(sql: str, *, numbered: bool) -> str:
    percent = "%" if numbered else "%%"
    count = 0
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in "'\"":
            end = _quoted_end(sql, i, ch)
            out.append(sql[i:end].replace("%", percent))
            i = end
        elif ch == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end < 0 else end
            out.append(sql[i:end].replace("%", percent))
            i = end
        elif ch == "/" and sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append(sql[i:end].replace("%", percent))
            i = end
        elif ch == "$" and (tag := _DOLLAR_TAG.match(sql, i)) is not None:
            close = sql.find(tag.group(0), tag.end())
            end = n if close < 0 else close + len(tag.group(0))
            out.append(sql[i:end].replace("%", percent))
            i = end
        elif ch == "?":
            count += 1
            out.append(f"${count}" if numbered else "%s")
            i += 1
        elif ch == "%":
            out.append(percent)
            i += 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


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
