"""Tiny inline SVG charts (no chart library): bars for rates, a polyline for p95."""

from __future__ import annotations

from scs_dashboard.html import Html, render

WIDTH = 300
HEIGHT = 60


def bars(values: list[float], label: str) -> Html:
    """One bar per value (oldest first), scaled to the largest."""
    top = max(values, default=0.0) or 1.0
    step = WIDTH / max(1, len(values))
    parts = []
    for i, value in enumerate(values):
        height = round(value / top * (HEIGHT - 2), 1)
        parts.append(
            f'<rect x="{round(i * step + 1, 1)}" y="{round(HEIGHT - height, 1)}" '
            f'width="{round(max(1.0, step - 2), 1)}" height="{height}"></rect>'
        )
    return render(
        '<svg class="chart bars" viewBox="0 0 $w $h" role="img" aria-label="$label">'
        "<title>$label</title>$parts</svg>",
        w=WIDTH,
        h=HEIGHT,
        label=label,
        parts=Html("".join(parts)),
    )


def line(values: list[float | None], label: str) -> Html:
    """A polyline through the known values (None: no point that minute)."""
    known = [v for v in values if v is not None]
    top = max(known, default=0.0) or 1.0
    step = WIDTH / max(1, len(values) - 1)
    xy = [
        (round(i * step, 1), round(HEIGHT - 3 - v / top * (HEIGHT - 6), 1))
        for i, v in enumerate(values)
        if v is not None
    ]
    dots = "".join(f'<circle cx="{x}" cy="{y}" r="2.5"></circle>' for x, y in xy)
    return render(
        '<svg class="chart line" viewBox="0 0 $w $h" role="img" aria-label="$label">'
        '<title>$label</title><polyline points="$points"></polyline>$dots</svg>',
        w=WIDTH,
        h=HEIGHT,
        label=label,
        points=" ".join(f"{x},{y}" for x, y in xy),
        dots=Html(dots),
    )
