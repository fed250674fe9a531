"""Charts drawn on the server as inline SVG: no script, no network asset, no build step.

:func:`bars` draws stacked bars (one bar per bucket, one segment per series),
:func:`lines` one polyline per series; both label their axes and give every
bar and point a ``<title>`` tooltip. Every label is escaped: model names and
other text from traces are hostile.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

__all__ = ["PALETTE", "Series", "bars", "color_for", "lines", "nice_max"]

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f")
OTHER_COLOR = "#bab0ac"
WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 72, 12, 10, 30


@dataclass(frozen=True)
class Series:
    """One named series: a value (or ``None``) per bucket, and its colour."""

    name: str
    values: Sequence[float | None]
    color: str
    dashed: bool = False


def color_for(index: int) -> str:
    """The palette's colour for the ``index``-th series (grey past the palette)."""
    return PALETTE[index] if index < len(PALETTE) else OTHER_COLOR


def nice_max(value: float) -> float:
    """A round axis maximum at or above ``value`` (1, 2, 2.5 or 5 times a power of ten)."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def _frame(labels: Sequence[str], top: float, fmt: Callable[[float], str], title: str) -> list[str]:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    out = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMidYMid meet">',
        f"<title>{escape(title)}</title>",
    ]
    for i in range(5):
        y = TOP + plot_h - plot_h * i / 4
        out.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        tick = escape(fmt(top * i / 4))
        out.append(f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{tick}</text>')
    n = max(len(labels), 1)
    every = max(1, math.ceil(n / 8))
    for i, label in enumerate(labels):
        if i % every == 0:
            x = LEFT + plot_w * (i + 0.5) / n
            out.append(f'<text class="axis" x="{x:.1f}" y="{HEIGHT - 8}" text-anchor="middle">{escape(label)}</text>')
    return out


def bars(
    labels: Sequence[str],
    series: Sequence[Series],
    fmt: Callable[[float], str],
    title: str,
    *,
    integer: bool = False,
) -> Markup:
    """Stacked bars: per bucket (``labels``), the series' values on top of one another.

    ``integer``: the values are counts, so the axis ticks are whole numbers.
    """
    totals = [sum(s.values[i] or 0.0 for s in series) for i in range(len(labels))]
    highest = max(totals, default=0.0)
    top = max(4.0, 4.0 * math.ceil(nice_max(highest) / 4)) if integer else nice_max(highest)
    out = _frame(labels, top, fmt, title)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n = max(len(labels), 1)
    slot = plot_w / n
    width = max(slot * 0.7, 1.0)
    for i, label in enumerate(labels):
        base = 0.0
        x = LEFT + slot * i + (slot - width) / 2
        for s in series:
            value = s.values[i] or 0.0
            if value <= 0:
                continue
            h = plot_h * value / top
            y = TOP + plot_h - plot_h * (base + value) / top
            tip = f"{label} · {s.name}: {fmt(value)}"
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{max(h, 0.5):.1f}" fill="{s.color}">'
                f"<title>{escape(tip)}</title></rect>"
            )
            base += value
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 - every interpolated text is escaped above


def lines(labels: Sequence[str], series: Sequence[Series], fmt: Callable[[float], str], title: str) -> Markup:
    """One line per series over the buckets (a gap where a bucket has no value), with a dot per point."""
    values = [v for s in series for v in s.values if v is not None]
    top = nice_max(max(values, default=0.0))
    out = _frame(labels, top, fmt, title)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n = max(len(labels), 1)
    for s in series:
        runs: list[list[str]] = [[]]
        for i, value in enumerate(s.values):
            if value is None:
                runs.append([])
                continue
            x = LEFT + plot_w * (i + 0.5) / n
            y = TOP + plot_h - plot_h * value / top
            runs[-1].append(f"{x:.1f},{y:.1f}")
            tip = f"{labels[i]} · {s.name}: {fmt(value)}"
            out.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{s.color}"><title>{escape(tip)}</title></circle>'
            )
        dash = ' stroke-dasharray="5 3"' if s.dashed else ""
        for run in runs:
            if len(run) > 1:
                out.append(
                    f'<polyline points="{" ".join(run)}" fill="none" stroke="{s.color}" stroke-width="1.8"{dash}/>'
                )
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 - every interpolated text is escaped above
