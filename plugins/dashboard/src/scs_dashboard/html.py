"""Small escaped HTML templates: every value is escaped unless it is already ``Html``.

No template engine: pages are short, and one rule (``render`` escapes) keeps every
agent-supplied string (content, purpose, metadata, ids, memory keys) text.
"""

from __future__ import annotations

import html
import json
from string import Template
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable


class Html(str):
    """Markup that is already safe (built by ``render``/``join`` or a literal)."""

    __slots__ = ()


def esc(value: object) -> Html:
    """``value`` as HTML text (``Html`` stays as it is; None is empty)."""
    if isinstance(value, Html):
        return value
    if value is None:
        return Html("")
    return Html(html.escape(str(value), quote=True))


def render(template: str, **values: object) -> Html:
    """Fill ``$name`` placeholders of ``template`` with escaped values."""
    return Html(Template(template).substitute({k: esc(v) for k, v in values.items()}))


def join(parts: Iterable[Html]) -> Html:
    return Html("".join(esc(part) for part in parts))


def json_text(value: Any) -> str:
    """A stored JSON value shown as indented text (escaped when rendered)."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def table(headers: list[str], rows: Iterable[list[object]], empty: str = "Nothing here.") -> Html:
    """A plain table of escaped cells (``Html`` cells are kept)."""
    body = join(
        Html("<tr>" + join(render("<td>$c</td>", c=cell) for cell in row) + "</tr>") for row in rows
    )
    if not body:
        return render('<p class="empty">$e</p>', e=empty)
    head = join(render('<th scope="col">$h</th>', h=h) for h in headers)
    return Html(
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'
    )
