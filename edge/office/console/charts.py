"""Charts for the console's reports: SVG written on the server (no JavaScript, no library, no CDN).

Made to be read at a glance by someone who is not young: large text, few lines, labelled axes, the value
written on each bar or point when there is room (and always in a tooltip, the ``<title>`` of each bar),
colours from the Okabe-Ito palette (distinguishable with the common colour-vision deficiencies) and a
legend in words. Each chart is one ``<svg role="img">`` whose ``<title>`` and ``<desc>`` are its text
alternative; the page shows the numbers in a table beside it.

    bar_chart(title, labels, series, x_label, y_label, ...)    grouped bars, one group per label
    line_chart(title, labels, series, x_label, y_label, ...)   lines through points; None leaves a gap

``series`` is a list of ``Series(name, values)`` (``values`` aligned with ``labels``). All text passed in
is escaped here; the result is ``Markup`` for the templates.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

# Okabe & Ito's colour-blind-safe hues (2008): blue, orange, bluish green, vermillion, reddish purple,
# sky blue, yellow; the light ones darkened so that every bar and line stands out from the white card at
# 3:1 or more (WCAG 1.4.11, non-text contrast): orange 2.2 -> 4.1, purple 3.1 -> 4.6, sky blue 2.3 -> 4.0,
# yellow 1.3 -> 4.1. The hues, which tell the series apart, stay.
PALETTE = ("#0072B2", "#B06E00", "#009E73", "#D55E00", "#B0558C", "#2E86C1", "#8C7E00")
CARD = "#ffffff"  # the chart's background (figure.chart in console.css)
FONT = ('"Noto Sans CJK SC", "Noto Sans SC", "WenQuanYi Micro Hei", "Microsoft YaHei", "PingFang SC", '
        'system-ui, sans-serif')
WIDTH, HEIGHT = 960, 440
TITLE_SIZE, TEXT_SIZE, VALUE_SIZE = 24, 18, 16
INK, GRID, AXIS = "#111111", "#d8d8d0", "#444444"
_ids = itertools.count(1)


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | int | None]
    colour: str | None = None


def number_text(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}".rstrip("0").rstrip(".")


def nice_ticks(top: float, count: int = 5, whole: bool = True) -> list[float]:
    """0 and round steps (1, 2, 2.5 or 5 times a power of ten) up to at least ``top``."""
    top = max(float(top), 1.0 if whole else 1e-9)
    rough = top / count
    power = 10 ** math.floor(math.log10(rough))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= rough)
    if whole:
        step = max(1.0, math.ceil(step))
    ticks, value = [0.0], 0.0
    while value < top - 1e-9:
        value += step
        ticks.append(round(value, 10))
    return ticks


def _text_width(text: str, size: float) -> float:
    """A generous guess at a label's width (CJK characters are square, Latin about half as wide)."""
    return sum(size if ord(ch) > 0x2E80 else size * 0.62 for ch in text)


class _Canvas:
    """Plot area, axes, legend and the SVG around them (shared by both kinds of chart)."""

    def __init__(self, title: str, labels: Sequence[str], series: Sequence[Series], x_label: str, y_label: str,
                 desc: str | None, value_text: Callable[[float], str], width: int, height: int,
                 top: float, whole: bool, label_from_end: bool = False):
        self.title, self.labels, self.series = title, list(labels), list(series)
        self.x_label, self.y_label, self.value_text = x_label, y_label, value_text
        self.width, self.height = width, height
        self.uid = f"chart{next(_ids)}"
        self.desc = desc if desc is not None else describe(self.labels, self.series, value_text)
        self.ticks = nice_ticks(top, whole=whole)
        tick_width = max(_text_width(value_text(t), TEXT_SIZE) for t in self.ticks)
        self.left = 30 + TEXT_SIZE + tick_width  # the rotated y label, then the tick labels
        self.right = width - max(20.0, max((_text_width(x, TEXT_SIZE) for x in self.labels), default=0) / 2 + 4)
        self.top = 20 + TITLE_SIZE + 16 + (TEXT_SIZE + 14) + VALUE_SIZE + 10  # title, legend, a top bar's value
        self.bottom = height - (16 + TEXT_SIZE * 2 + 18)  # the x tick labels, then the x label
        self.label_from_end = label_from_end
        self.parts: list[str] = []

    def y(self, value: float) -> float:
        return self.bottom - (self.bottom - self.top) * (value / self.ticks[-1])

    @property
    def slot(self) -> float:
        return (self.right - self.left) / max(1, len(self.labels))

    def x_centre(self, index: int) -> float:
        return self.left + self.slot * (index + 0.5)

    def colour(self, index: int) -> str:
        return self.series[index].colour or PALETTE[index % len(PALETTE)]

    def frame(self) -> None:
        add = self.parts.append
        add(f'<text class="chart-title" x="{self.left:.1f}" y="{20 + TITLE_SIZE:.1f}" font-size="{TITLE_SIZE}" '
            f'font-weight="700" fill="{INK}">{escape(self.title)}</text>')
        for tick in self.ticks:
            y = self.y(tick)
            add(f'<line x1="{self.left:.1f}" y1="{y:.1f}" x2="{self.right:.1f}" y2="{y:.1f}" '
                f'stroke="{GRID if tick else AXIS}" stroke-width="{1 if tick else 2}"/>')
            add(f'<text x="{self.left - 8:.1f}" y="{y + TEXT_SIZE * 0.35:.1f}" text-anchor="end" fill="{INK}">'
                f'{escape(self.value_text(tick))}</text>')
        add(f'<line x1="{self.left:.1f}" y1="{self.top:.1f}" x2="{self.left:.1f}" y2="{self.bottom:.1f}" '
            f'stroke="{AXIS}" stroke-width="2"/>')
        middle = (self.top + self.bottom) / 2
        across = 20 + TEXT_SIZE * 0.8
        add(f'<text class="axis-label" x="{across:.1f}" y="{middle:.1f}" text-anchor="middle" '
            f'transform="rotate(-90 {across:.1f} {middle:.1f})" fill="{INK}">{escape(self.y_label)}</text>')
        # x tick labels: every one when they fit, else every n-th from the first (or back from the last:
        # a chart of days always names the newest).
        widest = max((_text_width(label, TEXT_SIZE) for label in self.labels), default=0)
        every = max(1, math.ceil((widest + 10) / self.slot))
        for index, label in enumerate(self.labels):
            if (len(self.labels) - 1 - index if self.label_from_end else index) % every:
                continue
            add(f'<text x="{self.x_centre(index):.1f}" y="{self.bottom + 8 + TEXT_SIZE:.1f}" text-anchor="middle" '
                f'fill="{INK}">{escape(label)}</text>')
        add(f'<text class="axis-label" x="{(self.left + self.right) / 2:.1f}" y="{self.height - 14:.1f}" '
            f'text-anchor="middle" fill="{INK}">{escape(self.x_label)}</text>')
        x = self.left
        legend_y = 20 + TITLE_SIZE + 16 + TEXT_SIZE
        for index, one in enumerate(self.series):
            add(f'<rect x="{x:.1f}" y="{legend_y - TEXT_SIZE * 0.8:.1f}" width="{TEXT_SIZE}" height="{TEXT_SIZE}" '
                f'fill="{self.colour(index)}"/>')
            add(f'<text class="legend" x="{x + TEXT_SIZE + 6:.1f}" y="{legend_y:.1f}" fill="{INK}">'
                f'{escape(one.name)}</text>')
            x += TEXT_SIZE + 6 + _text_width(one.name, TEXT_SIZE) + 24

    def svg(self, kind: str) -> Markup:
        head = (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{kind}" viewBox="0 0 {self.width} '
                f'{self.height}" width="100%" role="img" aria-labelledby="{self.uid}-title {self.uid}-desc" '
                f'font-family="{escape(FONT)}" font-size="{TEXT_SIZE}">'
                f'<title id="{self.uid}-title">{escape(self.title)}</title>'
                f'<desc id="{self.uid}-desc">{escape(self.desc)}</desc>')
        return Markup(head + "".join(self.parts) + "</svg>")


def describe(labels: Sequence[str], series: Sequence[Series], value_text: Callable[[float], str],
             words: dict | None = None) -> str:
    """A sentence per series: its total and where it is highest (the chart's text alternative)."""
    words = {"total": "total", "highest": "highest", "no_data": "no data", **(words or {})}
    parts = []
    for one in series:
        known = [(v, labels[i]) for i, v in enumerate(one.values) if v is not None]
        if not known:
            parts.append(f"{one.name}: {words['no_data']}.")
            continue
        top, where = max(known, key=lambda k: k[0])
        parts.append(f"{one.name}: {words['total']} {value_text(sum(v for v, _ in known))}, "
                     f"{words['highest']} {value_text(top)} ({where}).")
    return " ".join(parts)


def bar_chart(title: str, labels: Sequence[str], series: Sequence[Series], *, x_label: str, y_label: str,
              desc: str | None = None, value_text: Callable[[float], str] = number_text, whole: bool = True,
              label_from_end: bool = False, width: int = WIDTH, height: int = HEIGHT) -> Markup:
    """Grouped bars: for each label, one bar per series, the value above it when it fits."""
    top = max((v for s in series for v in s.values if v is not None), default=0)
    canvas = _Canvas(title, labels, series, x_label, y_label, desc, value_text, width, height, top, whole,
                     label_from_end)
    canvas.frame()
    add = canvas.parts.append
    group = canvas.slot * 0.8
    bar = group / max(1, len(series))
    for index, label in enumerate(canvas.labels):
        start = canvas.x_centre(index) - group / 2
        for number, one in enumerate(series):
            value = one.values[index] if index < len(one.values) else None
            if value is None:
                continue
            x, y = start + bar * number, canvas.y(value)
            text = value_text(value)
            add(f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{max(bar - 1, 1):.1f}" '
                f'height="{canvas.bottom - y:.1f}" fill="{canvas.colour(number)}">'
                f'<title>{escape(label)} · {escape(one.name)}: {escape(text)}</title></rect>')
            if value and _text_width(text, VALUE_SIZE) <= bar + 2:
                add(f'<text class="value" x="{x + bar / 2:.1f}" y="{y - 5:.1f}" text-anchor="middle" '
                    f'font-size="{VALUE_SIZE}" fill="{INK}">{escape(text)}</text>')
    return canvas.svg("bar")


def line_chart(title: str, labels: Sequence[str], series: Sequence[Series], *, x_label: str, y_label: str,
               desc: str | None = None, value_text: Callable[[float], str] = number_text, whole: bool = True,
               reference: tuple[float, str] | None = None, label_from_end: bool = False, width: int = WIDTH,
               height: int = HEIGHT) -> Markup:
    """Lines through the points (a ``None`` value: no point, a gap in the line); ``reference``: a dashed
    horizontal line with its label (e.g. the car park's capacity)."""
    top = max([v for s in series for v in s.values if v is not None] + ([reference[0]] if reference else []),
              default=0)
    canvas = _Canvas(title, labels, series, x_label, y_label, desc, value_text, width, height, top, whole,
                     label_from_end)
    canvas.frame()
    add = canvas.parts.append
    if reference is not None:
        y = canvas.y(reference[0])
        add(f'<line class="reference" x1="{canvas.left:.1f}" y1="{y:.1f}" x2="{canvas.right:.1f}" y2="{y:.1f}" '
            f'stroke="{AXIS}" stroke-width="2" stroke-dasharray="10 6"/>')
        add(f'<text x="{canvas.right - 4:.1f}" y="{y - 6:.1f}" text-anchor="end" fill="{INK}">'
            f'{escape(reference[1])}</text>')
    room = canvas.slot >= _text_width(value_text(top), VALUE_SIZE) + 4
    for number, one in enumerate(series):
        colour = canvas.colour(number)
        runs, run = [], []
        for index, value in enumerate(one.values):
            if value is None:
                if run:
                    runs.append(run)
                run = []
            else:
                run.append((canvas.x_centre(index), canvas.y(value)))
        if run:
            runs.append(run)
        for points in runs:
            path = " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(points))
            add(f'<path class="line" d="{path}" fill="none" stroke="{colour}" stroke-width="4" '
                f'stroke-linejoin="round"/>')
        for index, value in enumerate(one.values):
            if value is None:
                continue
            x, y = canvas.x_centre(index), canvas.y(value)
            text = value_text(value)
            add(f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="6" fill="{colour}" stroke="#fff" '
                f'stroke-width="2"><title>{escape(canvas.labels[index])} · {escape(one.name)}: {escape(text)}'
                f'</title></circle>')
            if room:
                add(f'<text class="value" x="{x:.1f}" y="{y - 12:.1f}" text-anchor="middle" font-size="{VALUE_SIZE}" '
                    f'fill="{INK}">{escape(text)}</text>')
    return canvas.svg("line")
