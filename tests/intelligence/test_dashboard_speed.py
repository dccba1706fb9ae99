"""The operations dashboard over a week of rollups (10 series x 10,080 minutes, 100,800 rows,
each timed minute's histogram ~20 buckets, and the 1,680 hourly rows holding them): every range
in a fixed number of queries, and under half a second to render (asserted on SQLite, where the
budget was set; measured on PostgreSQL)."""

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from intelligence.models import MetricHour, MetricMinute
from intelligence.services.stabilize import stabilize_state
from tests.intelligence.metrics_data import rollups_save, week_of_rollups

pytestmark = pytest.mark.django_db

RENDER_BUDGET_SECONDS = 0.5
# Session, user, the rollups (metrics_rows: hours and minutes in one query), anomalies, incidents,
# open alerts and their count.
QUERIES = {"hour": 7, "day": 7, "week": 7}


def test_a_week_of_rollups_renders_in_pinned_queries_and_under_half_a_second(operator):
    end = timezone.now().replace(second=0, microsecond=0)
    rollups_save(week_of_rollups(end))
    hours = 168 + (end.minute != 0)  # a week that does not start on the hour touches 169 hours
    assert (MetricMinute.objects.count(), MetricHour.objects.count()) == (10 * 10_080, 10 * hours)
    operator.get("/admin/operations/")  # templates compiled

    timings = {}
    for range_name, queries in QUERIES.items():
        # Counted first, right after a warm render: the stabilize state (every admin page's banner
        # reads it) is cached for 5 s, so it is read just before, and a slow machine's timing loop
        # below cannot come in between. The statements are listed when the count is off.
        operator.get("/admin/operations/", {"range": range_name})
        stabilize_state()
        with CaptureQueriesContext(connection) as counted:
            response = operator.get("/admin/operations/", {"range": range_name})
        # The page's own statements: a re-read of stabilize mode's switch and event (their 5 s cache
        # entries can run out on a machine loaded by three runs at once) is the banner's, not the page's.
        own = [q["sql"] for q in counted.captured_queries
               if "waffle_switch" not in q["sql"] and "intelligence_stabilizeevent" not in q["sql"]]
        assert len(own) == queries, [sql[:160] for sql in own]
        assert response.status_code == 200 and response.content.count(b'<svg class="chart"') == 6
        seconds = []
        for _ in range(3):  # the best of three
            # The page's own cost: this thread's CPU time (the test client and SQLite run in it), which
            # other processes on the machine (the suites run side by side, xdist workers) do not inflate
            # as they do the wall clock.
            started = time.thread_time()
            operator.get("/admin/operations/", {"range": range_name})
            seconds.append(time.thread_time() - started)
        timings[range_name] = min(seconds)

    page = response.content.decode()  # the week: ~6 million requests (5 routes x 120 a minute)
    assert '<h2>Requests</h2><p class="ops-big">6M</p><p>600 per minute</p>' in page
    print(f"render CPU seconds on {connection.vendor}: {timings}")
    if connection.vendor == "sqlite":
        assert max(timings.values()) < RENDER_BUDGET_SECONDS, timings
