"""Charts drawn on the server as inline SVG: line charts and stacked bars over evenly spaced
points in time, with incidents shaded and anomalies marked. No script and no style attribute
(the page policy allows neither): colours and hover come from classes in
static/intelligence/dashboard.css, geometry from presentation attributes.

Every point has an invisible column with a <title>, so hovering shows its time and values; an
incident is a shaded band over the plot with a strip in the lane above it, an anomaly a dashed
line with a triangle in that lane, each with a <title> saying what it was."""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html import escape

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 540, 230
LEFT, RIGHT, TOP, BOTTOM = 58, 12, 22, 26  # TOP holds the lane of incident strips and anomaly marks
LANE = (4, 16)


@dataclass(frozen=True)
class Series:
    label: str
    css: str  # a class in dashboard.css: its colour
    values: Sequence[float | None]


@dataclass(frozen=True)
class Mark:
    """Something that happened, drawn over a chart: an incident (a span) or an anomaly (a moment)."""

    kind: str  # "incident" or "anomaly"
    start: datetime
    end: datetime | None
    text: str


@dataclass
class Chart:
    key: str
    title: str
    unit: str
    legend: list[tuple[str, str]] = field(default_factory=list)
    svg: SafeString = mark_safe("")  # noqa: S308 (empty)
    empty: bool = True
    marked: frozenset[str] = frozenset()  # the kinds of Mark drawn on it ("incident", "anomaly")


def number(value: float | None, unit: str = "") -> str:
    """A reading as people read it: 0.42, 12.5, 380, 1.2k, 15k, 3.4M; "-" when there is none."""
    if value is None:
        return "-"
    magnitude = abs(value)
    if magnitude >= 1_000_000:
        text = _trim(f"{value / 1_000_000:.1f}") + "M"
    elif magnitude >= 10_000:
        text = f"{value / 1000:.0f}k"
    elif magnitude >= 1000:
        text = _trim(f"{value / 1000:.1f}") + "k"
    elif magnitude >= 100 or value == int(value):
        text = f"{value:.0f}"
    elif magnitude >= 10:
        text = _trim(f"{value:.1f}")
    else:
        text = _trim(f"{value:.2f}")
    return f"{text} {unit}" if unit else text


def _trim(text: str) -> str:
    return text.rstrip("0").rstrip(".") if "." in text else text


def _nice_scale(value: float) -> tuple[float, int]:
    """The top of the y axis, the smallest 1, 2, 2.5 or 5 x 10^k at or above value, and how many
    intervals divide it into round steps (0.2, 0.5, 0.5, 1 x 10^k)."""
    if value <= 0:
        return 1.0, 5
    power = 10 ** math.floor(math.log10(value))
    for factor, intervals in ((1, 5), (2, 4), (2.5, 5), (5, 5), (10, 5)):
        if value <= factor * power * (1 + 1e-9):
            return factor * power, intervals
    return 10 * power, 5


class _Frame:
    """Where a point, a value or a moment is drawn."""

    def __init__(self, buckets: Sequence[datetime], step: timedelta, highest: float):
        self.buckets, self.n, self.step = buckets, len(buckets), step
        self.y_max, self.intervals = _nice_scale(highest)
        self.start, self.end = buckets[0], buckets[-1] + step
        self.plot_w, self.plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
        self.col_w = self.plot_w / self.n

    def x(self, i: int) -> float:
        return round(LEFT + (i + 0.5) * self.col_w, 1)

    def y(self, value: float) -> float:
        return round(TOP + self.plot_h * (1 - min(value, self.y_max) / self.y_max), 1)

    def x_at(self, moment: datetime) -> float:
        span = (self.end - self.start).total_seconds()
        share = (moment - self.start).total_seconds() / span
        return round(LEFT + self.plot_w * min(1.0, max(0.0, share)), 1)


def _axes(frame: _Frame, unit: str, tick_every: timedelta, tick_format: str) -> list[str]:
    parts = []
    for k in range(frame.intervals + 1):
        value = frame.y_max * k / frame.intervals
        y = frame.y(value)
        parts.append(format_html('<line class="grid" x1="{}" y1="{}" x2="{}" y2="{}"/>',
                                 LEFT, y, WIDTH - RIGHT, y))
        parts.append(format_html('<text class="tick" x="{}" y="{}" text-anchor="end">{}</text>',
                                 LEFT - 6, round(y + 4, 1), number(value)))
    parts.append(format_html('<text class="tick unit" x="{}" y="{}" text-anchor="end">{}</text>', LEFT - 6, TOP - 8, unit))
    every = tick_every.total_seconds()
    for i, bucket in enumerate(frame.buckets):
        if bucket.timestamp() % every == 0:
            x = round(LEFT + i * frame.col_w, 1)
            parts.append(format_html('<line class="xtick" x1="{}" y1="{}" x2="{}" y2="{}"/>',
                                     x, HEIGHT - BOTTOM, x, HEIGHT - BOTTOM + 4))
            parts.append(format_html('<text class="tick" x="{}" y="{}" text-anchor="middle">{}</text>',
                                     x, HEIGHT - BOTTOM + 16, bucket.strftime(tick_format)))
    parts.append(format_html('<line class="axis" x1="{}" y1="{}" x2="{}" y2="{}"/>',
                             LEFT, HEIGHT - BOTTOM, WIDTH - RIGHT, HEIGHT - BOTTOM))
    return parts


def _marks(frame: _Frame, marks: Sequence[Mark]) -> tuple[list[str], list[str]]:
    """(what goes under the lines, what goes on top: the lane with its titles)."""
    under, lane = [], []
    for mark in marks:
        x0 = frame.x_at(mark.start)
        if mark.kind == "incident":
            x1 = frame.x_at(mark.end) if mark.end else WIDTH - RIGHT
            width = round(max(x1 - x0, 2.0), 1)
            under.append(format_html('<rect class="band-incident" x="{}" y="{}" width="{}" height="{}"/>',
                                     x0, TOP, width, frame.plot_h))
            lane.append(format_html('<rect class="mark-incident" x="{}" y="{}" width="{}" height="{}">'
                                    '<title>{}</title></rect>', x0, LANE[0] + 3, width, LANE[1] - LANE[0] - 6, mark.text))
        else:
            under.append(format_html('<line class="line-anomaly" x1="{}" y1="{}" x2="{}" y2="{}"/>',
                                     x0, TOP, x0, HEIGHT - BOTTOM))
            lane.append(format_html('<polygon class="mark-anomaly" points="{},{} {},{} {},{}">'
                                    '<title>{}</title></polygon>',
                                    round(x0 - 5, 1), LANE[0], round(x0 + 5, 1), LANE[0], x0, LANE[1], mark.text))
    return under, lane


def _columns(frame: _Frame, hover: Callable[[int], str]) -> list[str]:
    # The hot loop of a chart (one per point): plain f-strings, the only text escaped.
    width = round(frame.col_w, 2)
    return [f'<rect class="col" x="{round(LEFT + i * frame.col_w, 2)}" y="{TOP}" width="{width}" '
            f'height="{frame.plot_h}"><title>{escape(hover(i))}</title></rect>' for i in range(frame.n)]


def _svg(key: str, title: str, description: str, parts: list[str]) -> SafeString:
    head = format_html('<svg class="chart" id="chart-{0}" viewBox="0 0 {1} {2}" role="img" '
                       'aria-labelledby="chart-{0}-title chart-{0}-desc" preserveAspectRatio="xMidYMid meet">'
                       '<title id="chart-{0}-title">{3}</title><desc id="chart-{0}-desc">{4}</desc>',
                       key, WIDTH, HEIGHT, title, description)
    # Every part is built by format_html, or from numbers and escape()d text.
    return mark_safe(head + "".join(parts) + "</svg>")  # noqa: S308


def _hover_text(moment: datetime, step: timedelta, lines: list[str]) -> str:
    if step >= timedelta(days=1):
        when = f"{moment:%a %d %b %Y} (UTC day)" if step == timedelta(days=1) else f"from {moment:%a %d %b %Y} UTC"
    else:
        when = f"{moment:%a %d %b %H:%M}-{moment + step:%H:%M} UTC"
    return "\n".join([when, *lines])


def _empty_text(frame: _Frame) -> str:
    return format_html('<text class="empty" x="{}" y="{}" text-anchor="middle">No data in this range</text>',
                       round(LEFT + frame.plot_w / 2), round(TOP + frame.plot_h / 2))


def _lines(frame: _Frame, series: Sequence[Series]) -> list[str]:
    """Each series as polylines (a gap where a point has no value; a lone point as a dot)."""
    parts = []
    for s in series:
        segment: list[str] = []
        segments = []
        for i, value in enumerate([*s.values, None]):
            if value is None:
                if segment:
                    segments.append(segment)
                segment = []
            else:
                segment.append(f"{frame.x(i)},{frame.y(value)}")
        for points in segments:
            if len(points) == 1:
                x, y = points[0].split(",")
                parts.append(format_html('<circle class="dot {}" cx="{}" cy="{}" r="2.5"/>', s.css, x, y))
            else:
                parts.append(format_html('<polyline class="line {}" points="{}"/>', s.css, " ".join(points)))
    return parts


def line_chart(*, key: str, title: str, unit: str, buckets: Sequence[datetime], step: timedelta,
               series: Sequence[Series], marks: Sequence[Mark] = (), tick_every: timedelta, tick_format: str,
               y_floor: float = 0.0) -> Chart:
    """Lines over the points (a gap where a point has no value); y from 0 to a round number above
    the highest value (at least y_floor)."""
    values = [v for s in series for v in s.values if v is not None]
    frame = _Frame(buckets, step, max([*values, y_floor]))
    under, lane = _marks(frame, marks)
    parts = [*_axes(frame, unit, tick_every, tick_format), *under, *_lines(frame, series)]
    if not values:
        parts.append(_empty_text(frame))

    def hover(i):
        return _hover_text(buckets[i], step, [f"{s.label}: {number(s.values[i], unit)}" for s in series])

    parts += _columns(frame, hover) + lane
    description = "; ".join(f"{s.label}: highest {number(max((v for v in s.values if v is not None), default=None), unit)}"
                            for s in series)
    return Chart(key=key, title=title, unit=unit, legend=[(s.label, s.css) for s in series],
                 svg=_svg(key, title, description, parts), empty=not values, marked=frozenset(m.kind for m in marks))


def stacked_bar_chart(*, key: str, title: str, unit: str, buckets: Sequence[datetime], step: timedelta,
                      series: Sequence[Series], marks: Sequence[Mark] = (), tick_every: timedelta,
                      tick_format: str, lines: Sequence[Series] = ()) -> Chart:
    """Bars per point, the series stacked bottom to top in the order given; `lines` drawn over
    them on the same scale (revenue over stacked costs)."""
    totals = [sum(s.values[i] or 0 for s in series) for i in range(len(buckets))]
    line_values = [v for s in lines for v in s.values if v is not None]
    frame = _Frame(buckets, step, max([*totals, *line_values], default=0))
    under, lane = _marks(frame, marks)
    parts = [*_axes(frame, unit, tick_every, tick_format), *under]
    bar_w = max(frame.col_w * 0.8, 1.0)
    classes = [escape(s.css) for s in series]
    for i in range(len(buckets)):
        base = 0.0
        for s, css in zip(series, classes, strict=True):
            value = s.values[i] or 0
            if value <= 0:
                continue
            y_top, y_base = frame.y(base + value), frame.y(base)
            parts.append(f'<rect class="bar {css}" x="{round(frame.x(i) - bar_w / 2, 1)}" y="{y_top}" '
                         f'width="{round(bar_w, 2)}" height="{round(max(y_base - y_top, 0.5), 1)}"/>')
            base += value
    parts += _lines(frame, lines)
    empty = not any(totals) and not any(line_values)
    if empty:
        parts.append(_empty_text(frame))

    def hover(i):
        return _hover_text(buckets[i], step, [f"{s.label}: {number(s.values[i] or 0)}" for s in [*lines, *series]])

    parts += _columns(frame, hover) + lane
    description = "; ".join(f"{s.label}: {number(sum(v or 0 for v in s.values))} in all" for s in [*lines, *series])
    return Chart(key=key, title=title, unit=unit, legend=[(s.label, s.css) for s in [*lines, *series]],
                 svg=_svg(key, title, description, parts), empty=empty, marked=frozenset(m.kind for m in marks))

