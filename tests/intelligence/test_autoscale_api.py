"""GET /ops/autoscale and its autoscaler-shaped twins (/ops/autoscale/metrics for KEDA's metrics-api
scaler, /ops/autoscale/prometheus): operators only, in the error shape otherwise; the latest decision,
or one taken at once before the first; constant query counts."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from intelligence.models import AutoscaleDecision
from tests.api_asserts import assert_api_error
from tests.factories import UserFactory, api_key_for

pytestmark = pytest.mark.django_db

ENDPOINTS = ["/ops/autoscale", "/ops/autoscale/metrics", "/ops/autoscale/prometheus"]


@pytest.fixture
def ops_key():
    _, raw = api_key_for(scopes=["admin:read"])
    return raw


def _decision(*, minutes_ago=1, action="scale_up", desired=3, previous=2):
    at = timezone.now() - timedelta(minutes=minutes_ago)
    return AutoscaleDecision.objects.create(
        at=at, minute=at.replace(second=0, microsecond=0), action=action, desired_workers=desired,
        previous_workers=previous, reason="Under pressure (p95 180 ms over 150): one more worker, 2 -> 3.",
        metrics={"p95_ms": 180.0, "queue_depth": 4, "workers": previous, "profit_margin_pct": 42.5,
                 "profit_frozen": False, "spend_24h": "3.500000", "spend_frozen": True})


@pytest.mark.parametrize("url", ENDPOINTS)
def test_operators_only_in_the_error_shape(url, client_for):
    _decision()
    assert_api_error(Client().get(url), 401, "not_authenticated")
    _, customer = api_key_for()  # a customer's key: no admin:read
    assert_api_error(client_for(customer).get(url), 403, "insufficient_scope")
    member = Client()
    member.force_login(UserFactory())
    assert_api_error(member.get(url), 403, "permission_denied")
    assert not AutoscaleDecision.objects.exclude(action="scale_up").exists()  # nobody refused took a decision


def test_the_decision_for_an_operator_key(client_for, ops_key):
    decision = _decision()
    response = client_for(ops_key).get("/ops/autoscale")
    assert response.status_code == 200
    assert response.json() == {
        "action": "scale_up", "desired_workers": 3, "previous_workers": 2,
        "reason": "Under pressure (p95 180 ms over 150): one more worker, 2 -> 3.", "held_by": "",
        "metrics": decision.metrics, "at": decision.at.isoformat().replace("+00:00", "Z"), "stale": False}


def test_staff_in_a_browser_and_bearer_keys_too(operator, client_for, ops_key):
    _decision()
    assert operator.get("/ops/autoscale").json()["desired_workers"] == 3
    assert client_for(ops_key, header="Authorization").get("/ops/autoscale/metrics").json() == {"desired_workers": 3}


def test_the_latest_decision_wins_and_an_old_one_is_stale(client_for, ops_key):
    _decision(minutes_ago=30, desired=2)
    _decision(minutes_ago=10, desired=4, action="scale_up")
    body = client_for(ops_key).get("/ops/autoscale").json()
    assert (body["desired_workers"], body["stale"]) == (4, True)  # the schedule has not decided for 10 minutes


def test_before_the_first_decision_one_is_taken_at_once(client_for, ops_key):
    body = client_for(ops_key).get("/ops/autoscale").json()
    assert (body["action"], body["desired_workers"], body["held_by"]) == ("hold", 1, "flag_off")
    assert body["metrics"]["profit_frozen"] is False and body["stale"] is False
    assert AutoscaleDecision.objects.count() == 1
    assert client_for(ops_key).get("/ops/autoscale/metrics").json() == {"desired_workers": 1}
    assert AutoscaleDecision.objects.count() == 1


def test_the_keda_shape(client_for, ops_key):
    """KEDA's metrics-api scaler: valueLocation "desired_workers", the key in X-Api-Key."""
    _decision(desired=2)
    response = client_for(ops_key).get("/ops/autoscale/metrics")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert response.json() == {"desired_workers": 2}


def test_the_prometheus_text(client_for, ops_key):
    decision = _decision(desired=4)
    client = client_for(ops_key)
    for accept in ("text/plain", "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
                   "application/json"):
        response = client.get("/ops/autoscale/prometheus", HTTP_ACCEPT=accept)
        assert response.status_code == 200, accept
        assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    text = response.content.decode()
    samples = dict(re.findall(r"^([a-z_]+(?:\{[^}]*\})?) (\S+)$", text, flags=re.M))
    assert samples == {"levqor_autoscale_desired_workers": "4",
                       "levqor_autoscale_decision_timestamp_seconds": f"{decision.at.timestamp():.3f}",
                       'levqor_autoscale_frozen{cause="profit"}': "0", 'levqor_autoscale_frozen{cause="spend"}': "1"}
    assert "# TYPE levqor_autoscale_desired_workers gauge" in text
    assert_api_error(Client().get("/ops/autoscale/prometheus", HTTP_ACCEPT="text/plain"), 401, "not_authenticated")


@pytest.mark.parametrize("url", ENDPOINTS)
def test_query_counts_are_pinned(url, client_for, ops_key, django_assert_max_num_queries):
    _decision()
    client = client_for(ops_key)
    client.get(url)  # the key's lookup cached, as on a warm server
    with django_assert_max_num_queries(1):  # the latest decision (the key cached, its last_used_at written at most once a minute)
        assert client.get(url).status_code == 200
