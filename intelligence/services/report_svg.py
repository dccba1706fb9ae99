"""Small charts for the PDF reports, drawn as inline SVG (weasyprint renders SVG itself; no script,
nothing fetched). Bars for counts per day, a line for an amount per day. Colours are presentation
attributes: a PDF has no page policy to respect (the admin's charts in intelligence/charts.py use
classes for that reason), and the report's CSS stays in its own template."""

from collections.abc import Sequence
from html import escape

from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 500, 150
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 12, 22
BAR = "#2f6fb3"
LINE = "#1b8a5a"
AXIS = "#888888"
TEXT = "#333333"


def _scale_top(peak: float) -> float:
    """A round top for the axis at or above the peak: 1, 2, 5, 10, 20, 50 ..."""
    if peak <= 0:
        return 1
    step = 1.0
    while True:
        for factor in (1, 2, 2.5, 5):
            if step * factor >= peak:
                return step * factor
        step *= 10


def _axis_label(value: float) -> str:
    return f"{value:.0f}" if value == int(value) else f"{value:.2f}".rstrip("0")


def _frame(top: float, labels: Sequence[str]) -> list[str]:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = [f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}" stroke="{AXIS}" '
             f'stroke-width="1"/>',
             f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="{AXIS}" stroke-width="1"/>']
    for fraction in (0, 0.5, 1):
        y = TOP + plot_h - fraction * plot_h
        parts.append(f'<text x="{LEFT - 4}" y="{y + 3:.1f}" font-size="9" text-anchor="end" fill="{TEXT}">'
                     f'{escape(_axis_label(top * fraction))}</text>')
    slot = plot_w / max(len(labels), 1)
    for i, label in enumerate(labels):
        x = LEFT + slot * (i + 0.5)
        parts.append(f'<text x="{x:.1f}" y="{HEIGHT - 8}" font-size="9" text-anchor="middle" fill="{TEXT}">'
                     f'{escape(label)}</text>')
    return parts


def _svg(parts: list[str], title: str) -> SafeString:
    body = "".join(parts)
    return mark_safe(  # noqa: S308 (every text in it is escaped above)
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img"><title>{escape(title)}</title>{body}</svg>')


def svg_bars(*, values: Sequence[int | float], labels: Sequence[str], title: str) -> SafeString:
    """One bar per value (e.g. signups per day), its value written above it."""
    top = _scale_top(max(values, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(values), 1)
    parts = _frame(top, labels)
    for i, value in enumerate(values):
        h = plot_h * value / top
        x = LEFT + slot * i + slot * 0.15
        y = TOP + plot_h - h
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}" fill="{BAR}"/>')
        parts.append(f'<text x="{x + slot * 0.35:.1f}" y="{y - 2:.1f}" font-size="9" text-anchor="middle" '
                     f'fill="{TEXT}">{escape(_axis_label(value))}</text>')
    return _svg(parts, title)


def svg_line(*, values: Sequence[float], labels: Sequence[str], title: str) -> SafeString:
    """A line through one value per label (e.g. revenue per day in major units), with a dot on each."""
    top = _scale_top(max(values, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(values), 1)
    points = [(LEFT + slot * (i + 0.5), TOP + plot_h - plot_h * value / top) for i, value in enumerate(values)]
    parts = _frame(top, labels)
    if points:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{LINE}" stroke-width="2"/>')
        parts.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{LINE}"/>' for x, y in points)
    return _svg(parts, title)
