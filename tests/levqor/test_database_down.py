"""The database out of reach (`make chaos`: PostgreSQL restarted with `pg_ctl restart -m fast`)
answers 503 service_unavailable with Retry-After, like Redis out of reach, never a 500: on the
intake fast path (a plain view), in a DRF view and in a middleware. Before the fix each of the
~90 intakes made while PostgreSQL restarted was a 500 internal_error."""

import pytest
from django.db import InterfaceError, OperationalError
from rest_framework.test import APIClient

from jobs import selectors, services
from tests.conftest import post_json

pytestmark = pytest.mark.django_db

SHUTTING_DOWN = OperationalError('connection to server at "10.0.0.2", port 5432 failed: FATAL:  '
                                 "the database system is shutting down")


def _no_raise(client: APIClient) -> APIClient:
    client.raise_request_exception = False  # answer as gunicorn would, not raise into the test
    return client


def _assert_unavailable(response):
    assert response.status_code == 503, response.content
    assert response.json()["error"] == "service_unavailable"
    assert int(response["Retry-After"]) > 0


@pytest.mark.parametrize("path", ["/api/v1/intake", "/api/v1/jobs"])
@pytest.mark.parametrize("error", [SHUTTING_DOWN, InterfaceError("connection already closed")],
                         ids=["operational", "interface"])
def test_intake_with_the_database_out_of_reach_is_a_503(api, monkeypatch, path, error):
    def job_create(**kwargs):
        raise error

    monkeypatch.setattr(services, "job_create", job_create)
    response = post_json(_no_raise(api), path, {"workflow": "demo.flow", "payload": {}},
                         HTTP_IDEMPOTENCY_KEY="k-1")
    _assert_unavailable(response)


def test_a_drf_view_with_the_database_out_of_reach_is_a_503(api, monkeypatch):
    def job_list_for(*args, **kwargs):
        raise SHUTTING_DOWN

    monkeypatch.setattr(selectors, "job_list_for", job_list_for)
    _assert_unavailable(_no_raise(api).get("/api/v1/jobs"))


def test_a_middleware_with_the_database_out_of_reach_is_a_503(api, monkeypatch):
    from levqor.ratelimit import RateLimitMiddleware

    def boom(self, request):
        raise SHUTTING_DOWN

    monkeypatch.setattr(RateLimitMiddleware, "__call__", boom)
    _assert_unavailable(_no_raise(api).get("/api/v1/jobs"))


def test_a_bug_is_still_a_500(api, monkeypatch):
    def job_create(**kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(services, "job_create", job_create)
    response = post_json(_no_raise(api), "/api/v1/intake", {"workflow": "demo.flow", "payload": {}})
    assert response.status_code == 500
    assert response.json()["error"] == "internal_error"


def _sqlite_error(sql: str) -> OperationalError:

    from django.db import connection

    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
    except OperationalError as exc:
        return exc
    raise AssertionError(f"{sql!r} did not fail")


@pytest.mark.parametrize("sql", ["SELEC 1", "SELECT * FROM no_such_table"])
def test_our_own_sql_error_is_still_a_500_not_a_retry_later(api, monkeypatch, sql):
    """An OperationalError that is our fault (SQLite's syntax error, a missing table or migration)
    must not tell clients to retry: it is a bug, logged as one."""
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("SQLite's OperationalError for our own mistakes")
    error = _sqlite_error(sql)

    def job_create(**kwargs):
        raise error

    monkeypatch.setattr(services, "job_create", job_create)
    response = post_json(_no_raise(api), "/api/v1/intake", {"workflow": "demo.flow", "payload": {}})
    assert response.status_code == 500
    assert response.json()["error"] == "internal_error"


def test_postgres_errors_are_told_apart_by_their_sqlstate():
    from levqor.store import database_down

    class PgError(Exception):
        def __init__(self, sqlstate):
            super().__init__("x")
            self.sqlstate = sqlstate

    def wrapped(sqlstate):
        exc = OperationalError("x")
        exc.__cause__ = PgError(sqlstate)
        return exc

    assert database_down(wrapped("08006"))  # connection failure
    assert database_down(wrapped("57P01"))  # terminated by an administrator (fast restart)
    assert database_down(wrapped("57P03"))  # cannot connect now (starting up)
    assert not database_down(wrapped("57014"))  # a statement timeout: ours to fix
    assert not database_down(wrapped("53300"))  # too many connections... is a capacity problem, still ours
    assert database_down(InterfaceError("connection already closed"))
    assert not database_down(RuntimeError("a bug"))
