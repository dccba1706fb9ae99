"""Server-drawn SVG charts (intelligence.charts): gaps stay gaps, bars stack, axes end on round
numbers, marks land where they happened, and every text is escaped (no markup from data)."""

import re
from datetime import UTC, datetime, timedelta

from intelligence.charts import LEFT, RIGHT, WIDTH, Mark, Series, line_chart, number, stacked_bar_chart

START = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
STEP = timedelta(minutes=1)
BUCKETS = [START + STEP * i for i in range(10)]
AXIS = {"buckets": BUCKETS, "step": STEP, "tick_every": timedelta(minutes=5), "tick_format": "%H:%M"}


def test_numbers_read_as_people_read_them():
    assert [number(v) for v in (None, 0, 0.4242, 12.34, 380.2, 1000, 1250, 15_400, 6_048_000)] == [
        "-", "0", "0.42", "12.3", "380", "1k", "1.2k", "15k", "6M"]
    assert number(12.5, "ms") == "12.5 ms"


def test_a_line_breaks_where_a_point_has_no_value_and_a_lone_point_is_a_dot():
    chart = line_chart(key="t", title="T", unit="ms", series=[
        Series("p95", "s-p95", [1, 2, None, 4, 5, 6, None, 8, None, None])], **AXIS)
    assert chart.svg.count("<polyline") == 2 and chart.svg.count("<circle") == 1
    assert not chart.empty and chart.legend == [("p95", "s-p95")]


def test_the_y_axis_ends_on_a_round_number_above_the_highest_value():
    chart = line_chart(key="t", title="T", unit="", series=[Series("a", "s-a", [0, 3700, *[None] * 8])], **AXIS)
    ticks = re.findall(r'<text class="tick" x="\d+" y="[\d.]+" text-anchor="end">([^<]*)</text>', str(chart.svg))
    assert ticks == ["0", "1k", "2k", "3k", "4k", "5k"]


def test_bars_stack_in_order_and_an_empty_chart_says_so():
    chart = stacked_bar_chart(key="jobs", title="Jobs", unit="jobs", series=[
        Series("ok", "s-ok", [3] * 10), Series("failed", "s-failed", [1] + [0] * 9)], **AXIS)
    assert chart.svg.count('class="bar s-ok"') == 10 and chart.svg.count('class="bar s-failed"') == 1
    empty = stacked_bar_chart(key="jobs", title="Jobs", unit="jobs", series=[Series("ok", "s-ok", [0] * 10)], **AXIS)
    assert empty.empty and "No data in this range" in empty.svg


def test_marks_are_placed_in_time_and_their_text_is_escaped():
    marks = [Mark("incident", START + timedelta(minutes=5), None, "Incident: <script>alert(1)</script>"),
             Mark("anomaly", START - timedelta(hours=1), None, 'Anomaly: "quoted" & more')]
    chart = line_chart(key="t", title="T <b>", unit="ms", marks=marks,
                       series=[Series("a<b>", "s-a", [1] * 10)], **AXIS)
    svg = str(chart.svg)
    assert "<script>" not in svg and "<b>" not in svg
    assert "Incident: &lt;script&gt;alert(1)&lt;/script&gt;" in svg and "a&lt;b&gt;: 1 ms" in svg
    band = re.search(r'<rect class="band-incident" x="([\d.]+)" y="\d+" width="([\d.]+)"', svg)
    middle, right = LEFT + (WIDTH - LEFT - RIGHT) / 2, WIDTH - RIGHT
    assert float(band.group(1)) == round(middle, 1)                     # half way through the ten minutes
    assert float(band.group(1)) + float(band.group(2)) == right        # still open: to the end
    assert re.search(rf'<line class="line-anomaly" x1="{LEFT}\.0"', svg)  # before the range: at its start
    assert chart.marked == {"incident", "anomaly"}


def test_every_point_has_a_hover_title_with_its_time_and_values():
    chart = line_chart(key="t", title="T", unit="ms", series=[Series("p95", "s-p95", [7.5] * 10)], **AXIS)
    titles = re.findall(r'<rect class="col"[^>]*><title>([^<]*)</title>', str(chart.svg))
    assert len(titles) == 10 and titles[3] == "Thu 26 Nov 12:03-12:04 UTC\np95: 7.5 ms"
