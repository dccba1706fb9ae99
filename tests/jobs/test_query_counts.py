"""Query counts of the hot endpoints, pinned (ARCHITECTURE.md section 7: O(1) queries).

Measured with real transactions (transactional db), so BEGIN/COMMIT are counted and the
enqueue that runs after commit is too. The first request with a key is "cold": it loads the
key (1 SELECT), records its use (1 UPDATE), starts the owner's monthly call counter from the
database (1 INSERT ... ON CONFLICT that also counts the call) and, the owner's first job of the
day, creates the day's spend row. After that the key comes from the cache, its use is not
written again within the minute, and the call is counted in the cache alone. Intake's queue
limit (jobs.backpressure) counts due jobs at most once a second per process: its clock is
stopped here (moved by the test that shows the refresh), so a slow run cannot add a count.
"""

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jobs import backpressure
from tests.conftest import cache_clear_own, post_json
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db(transaction=True)

DEMO = {"workflow": "demo.flow", "payload": {"hello": "world"}}
TX = 2  # BEGIN + COMMIT of the intake transaction
ON_POSTGRES = connection.vendor == "postgresql"
ORM_BROKER = "orm" in settings.Q_CLUSTER
# The run token: none through the database on the Redis broker; with the ORM broker (embedded
# mode) one INSERT, in the intake's transaction on SQLite, after the commit on PostgreSQL.
ENQUEUE = 1 if ORM_BROKER else 0
# SELECT the key + UPDATE its last_used_at + the month's usage row when the cache has no counter
# for the owner (which must be re-seeded from the database, so the cold path cannot avoid it).
KEY_COLD = 3
ORM_INTAKE = TX + 1 + 2 + ENQUEUE  # reserve spend (1 UPDATE), INSERT job, INSERT event
# PostgreSQL: reserve + job + event are one statement (SQLite: the same three in one transaction);
# the ORM path only runs when the fast one reserved nothing (the owner's first job of the day).
INTAKE = 1 + ENQUEUE if ON_POSTGRES else ORM_INTAKE
FAST_RESERVED_NOTHING = 1 if ON_POSTGRES else 3  # the lone statement, or BEGIN + UPDATE + COMMIT
FIRST_OF_DAY = 2  # the day's spend row: INSERT ... ON CONFLICT DO NOTHING, then the UPDATE again
# Intake's queue limit: the due jobs counted (one bounded COUNT) at most once a second per process,
# with the limit (runtime setting queue_max) read then: its row too when no cache holds it yet.
BACKPRESSURE_REFRESH = 1
BACKPRESSURE_COLD = BACKPRESSURE_REFRESH + 1
# The owner's first call of the day marks them active for the growth funnel: one INSERT ... ON
# CONFLICT DO NOTHING (intelligence.services.growth); later calls that day cost nothing more.
ACTIVE_FIRST_OF_DAY = 1
COLD_INTAKE = KEY_COLD + BACKPRESSURE_COLD + FAST_RESERVED_NOTHING + ORM_INTAKE + FIRST_OF_DAY + ACTIVE_FIRST_OF_DAY


@pytest.fixture(autouse=True)
def backpressure_clock(monkeypatch):
    """The backpressure's clock (seconds), stopped until the test moves it."""
    now = [1000.0]
    monkeypatch.setattr(backpressure, "_monotonic", lambda: now[0])
    return now


def test_intake_cold_then_steady(api, django_assert_num_queries):
    with django_assert_num_queries(COLD_INTAKE):
        assert post_json(api, "/api/v1/intake", DEMO).status_code == 202
    for _ in range(3):
        with django_assert_num_queries(INTAKE):
            assert post_json(api, "/api/v1/intake", DEMO).status_code == 202


def test_intake_steady_in_another_process_the_same_day_adds_no_active_mark(api, django_assert_num_queries):
    """The growth funnel's active mark: another process (its memo empty) asks the shared cache,
    which says the owner was marked today, so the intake's steady count stays as it is."""
    from intelligence.services import growth

    post_json(api, "/api/v1/intake", DEMO)
    post_json(api, "/api/v1/intake", DEMO)
    growth.reset()
    with django_assert_num_queries(INTAKE):
        assert post_json(api, "/api/v1/intake", DEMO).status_code == 202


def test_intake_counts_due_jobs_at_most_once_a_second(api, backpressure_clock):
    post_json(api, "/api/v1/intake", DEMO)  # cold: counted, and the limit read
    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            assert post_json(api, "/api/v1/intake", DEMO).status_code == 202
    assert len(queries) == 3 * INTAKE, [q["sql"][:160] for q in queries]
    assert not [q for q in queries if "COUNT(" in q["sql"]]
    backpressure_clock[0] += backpressure.REFRESH_SECONDS
    with CaptureQueriesContext(connection) as queries:
        assert post_json(api, "/api/v1/jobs", DEMO).status_code == 201
    assert len([q for q in queries if "COUNT(" in q["sql"]]) == 1
    # + the COUNT, and queue_max's row if its cache entry (1 s without Redis, in real time) has gone.
    assert INTAKE + BACKPRESSURE_REFRESH <= len(queries) <= INTAKE + BACKPRESSURE_COLD
    with CaptureQueriesContext(connection) as queries:
        assert post_json(api, "/api/v1/intake", DEMO).status_code == 202
    assert len(queries) == INTAKE


def test_jobs_post_steady(api, django_assert_num_queries):
    post_json(api, "/api/v1/jobs", DEMO)
    with django_assert_num_queries(INTAKE):
        assert post_json(api, "/api/v1/jobs", DEMO).status_code == 201


def test_idempotent_intake_and_its_replay(api, django_assert_num_queries):
    post_json(api, "/api/v1/jobs", DEMO)
    # + the key's lookup (SELECT) and its record (one INSERT holding the answer), in a transaction.
    with django_assert_num_queries(ORM_INTAKE + 2):
        assert post_json(api, "/api/v1/jobs", DEMO, HTTP_IDEMPOTENCY_KEY="k").status_code == 201
    with django_assert_num_queries(1):
        assert post_json(api, "/api/v1/jobs", DEMO, HTTP_IDEMPOTENCY_KEY="k")["Idempotent-Replayed"] == "true"


def test_a_refused_intake_writes_nothing(api, django_assert_num_queries):
    post_json(api, "/api/v1/jobs", DEMO)
    with django_assert_num_queries(0):
        assert post_json(api, "/api/v1/jobs", {"workflow": "demo.flow"}).status_code == 400


def test_legacy_status_cold_and_steady_without_the_payload(api, django_assert_num_queries):
    job_id = post_json(api, "/api/v1/intake", {"workflow": "demo.flow", "payload": {"blob": "x" * 100_000}}).json()[
        "job_id"]
    _fresh_process()  # as if this were another web process meeting the key for the first time
    # A process with an empty cache also tries the owner's active mark again (the row exists: it adds nothing).
    with django_assert_num_queries(KEY_COLD + ACTIVE_FIRST_OF_DAY + 1):
        assert api.get(f"/api/v1/status/{job_id}").status_code == 200
    with CaptureQueriesContext(connection) as queries:
        assert api.get(f"/api/v1/status/{job_id}").json()["status"] == "queued"
    assert len(queries) == 1
    # A status poll does not drag the job's (here 100 KB) payload out of the database.
    assert '"payload"' not in queries[0]["sql"]


def _fresh_process():
    from accounts.services import key_auth
    from intelligence.services import growth

    cache_clear_own()
    key_auth.reset()
    growth.reset()


def test_job_list_is_one_query_whatever_its_length(api, django_assert_num_queries):
    JobFactory.create_batch(1, owner=api.user)
    api.get("/api/v1/jobs")  # warms the key
    with django_assert_num_queries(1):
        assert len(api.get("/api/v1/jobs").json()["results"]) == 1
    JobFactory.create_batch(29, owner=api.user)
    with django_assert_num_queries(1):
        assert len(api.get("/api/v1/jobs").json()["results"]) == 30
    with django_assert_num_queries(1):
        page = api.get("/api/v1/jobs?limit=10&status=queued&workflow=demo.flow").json()
    with django_assert_num_queries(1):
        assert len(api.get(page["next"]).json()["results"]) == 10


def test_job_detail_is_two_queries_whatever_its_history(api, django_assert_num_queries):
    job_id = post_json(api, "/api/v1/jobs", DEMO).json()["id"]
    with django_assert_num_queries(2):  # the job, its events
        assert len(api.get(f"/api/v1/jobs/{job_id}").json()["events"]) == 1
    api.post(f"/api/v1/jobs/{job_id}/cancel")
    api.post(f"/api/v1/jobs/{job_id}/retry")
    with django_assert_num_queries(2):
        assert len(api.get(f"/api/v1/jobs/{job_id}").json()["events"]) == 3
