"""The two intake endpoints answer API-key clients on a fast path and everyone else through DRF:
both must give the same answers."""

import json

import pytest
from django.utils import timezone

from accounts.services.keys import api_key_create, api_key_revoke
from jobs.models import Job
from tests.api_asserts import ERROR_KEYS, assert_api_error
from tests.conftest import post_json
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

DEMO = {"workflow": "demo.flow", "payload": {"hello": "world"}}


def _through_drf(path: str) -> str:
    # ?format=json makes the request DRF's: the fast path leaves explicit formats to it.
    return path + "?format=json"


@pytest.mark.parametrize("path", ["/api/v1/intake", "/api/v1/jobs"])
@pytest.mark.parametrize(("body", "status", "error"), [
    (DEMO, None, None),
    ("{not json", 400, "invalid_json"),
    ({"workflow": "demo.flow"}, 400, "validation_failed"),
    ({"workflow": "nope", "payload": {}}, 400, "unknown_workflow"),
    ({**DEMO, "callback_url": "ftp://x"}, 400, "invalid_callback_url"),
])
def test_fast_path_and_drf_give_the_same_answer(api, path, body, status, error):
    data = body if isinstance(body, str) else json.dumps(body)
    fast = api.post(path, data=data, content_type="application/json")
    drf = api.post(_through_drf(path), data=data, content_type="application/json")
    assert fast.status_code == drf.status_code == (status or (202 if path.endswith("intake") else 201))
    assert fast["Content-Type"] == drf["Content-Type"] == "application/json"
    assert "Allow" in drf and "Allow" not in fast, "DRF's answer lists the allowed methods; the fast path's does not"
    fast_body, drf_body = fast.json(), drf.json()
    if error:
        assert fast_body["error"] == drf_body["error"] == error
        assert fast_body["details"] == drf_body["details"]
        assert fast_body["correlation_id"] and fast_body["correlation_id"] != drf_body["correlation_id"]
    else:
        assert set(fast_body) == set(drf_body)
        assert fast["Location"] == f"/api/v1/jobs/{fast_body.get('job_id') or fast_body['id']}"
        assert Job.objects.count() == 2


def test_a_correlation_id_sent_is_echoed_in_a_fast_error(api):
    response = api.post("/api/v1/intake", data="{", content_type="application/json", HTTP_X_REQUEST_ID="req-42")
    assert response["X-Request-ID"] == "req-42" and response.json()["correlation_id"] == "req-42"


def test_a_refused_key_gets_drfs_401_with_its_challenge(client_for):
    response = post_json(client_for("lvk_live_" + "0" * 32), "/api/v1/intake", DEMO)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_api_key"
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_a_browser_asking_for_html_gets_the_browsable_api(api):
    response = api.post("/api/v1/intake", data=json.dumps(DEMO), content_type="application/json",
                        HTTP_ACCEPT="text/html")
    assert response.status_code == 202
    assert response["Content-Type"].startswith("text/html")
    assert Job.objects.count() == 1


def test_a_format_the_api_does_not_speak_is_refused_in_the_error_shape(api):
    response = post_json(api, "/api/v1/intake", DEMO, HTTP_ACCEPT="application/xml")
    assert response.status_code == 406
    assert response.json()["error"] == "not_acceptable"
    assert Job.objects.count() == 0


def test_the_schema_still_describes_both_endpoints(client):
    paths = client.get("/public/openapi.json", HTTP_ACCEPT="application/json").json()["paths"]
    assert "post" in paths["/api/v1/intake"] and {"get", "post"} <= set(paths["/api/v1/jobs"])


# --- a key refused: the fast path and DRF check it with the same function, and answer alike -------

def _same_refusal(fast, drf, status: int, code: str) -> dict:
    """Both answers are this refusal, word for word, with the same headers that matter; the fast
    path's really came from the fast path (DRF's lists the allowed methods, the fast path's not)."""
    assert "Allow" in drf and "Allow" not in fast
    fast_body = assert_api_error(fast, status, code, extra_keys=frozenset(fast.json()) - ERROR_KEYS)
    drf_body = assert_api_error(drf, status, code, extra_keys=frozenset(drf.json()) - ERROR_KEYS)
    assert fast_body.pop("correlation_id") != drf_body.pop("correlation_id")
    assert fast_body == drf_body
    for header in ("Content-Type", "WWW-Authenticate", "Retry-After"):
        assert fast.get(header) == drf.get(header), header
    assert Job.objects.count() == 0
    return fast_body


def _both(client, path):
    return post_json(client, path, DEMO), post_json(client, _through_drf(path), DEMO)


PATHS = pytest.mark.parametrize("path", ["/api/v1/intake", "/api/v1/jobs"])


@PATHS
@pytest.mark.parametrize("raw", ["lvk_live_" + "0" * 32, "too-short", "   "], ids=["unknown", "malformed", "blank"])
def test_a_bad_key_is_refused_alike(client_for, path, raw):
    body = _same_refusal(*_both(client_for(raw), path), 401, "invalid_api_key")
    assert body["message"] == "The API key is not valid, or was revoked or expired."


@PATHS
def test_a_revoked_key_is_refused_alike(client_for, path):
    created = api_key_create(owner=UserFactory())
    client = client_for(created.raw_key)
    assert post_json(client, path, DEMO).status_code in (201, 202)  # cached as usable first
    api_key_revoke(api_key=created.api_key)
    Job.objects.all().delete()
    _same_refusal(*_both(client, path), 401, "invalid_api_key")


@PATHS
def test_a_key_without_the_scope_is_refused_alike_and_counted_alike(client_for, path):
    client = client_for(api_key_create(owner=UserFactory(), scopes=["jobs:read"]).raw_key)
    fast = post_json(client, path, DEMO)
    assert client.get("/api/v1/usage").json()["calls_used"] == 1
    drf = post_json(client, _through_drf(path), DEMO)
    assert client.get("/api/v1/usage").json()["calls_used"] == 2
    body = _same_refusal(fast, drf, 403, "insufficient_scope")
    assert body["details"] == {"required_scope": "jobs:write", "key_scopes": ["jobs:read"]}


@PATHS
def test_quota_exceeded_is_refused_alike_and_not_counted(client_for, path, settings, monkeypatch):
    settings.API_MONTHLY_QUOTAS = {"sandbox": 1, "pro": 1, "enterprise": 1}
    frozen = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: frozen)  # one Retry-After for both answers
    client = client_for(api_key_create(owner=UserFactory()).raw_key)
    assert client.get("/api/v1/jobs").status_code == 200  # the month's one call
    body = _same_refusal(*_both(client, path), 429, "quota_exceeded")
    assert body["details"]["calls_limit"] == 1 and body["reset_at"] == body["details"]["reset_at"]
    assert client.get("/api/v1/usage").json()["calls_used"] == 1


@pytest.mark.parametrize("path", ["/api/v1/intake", "/api/v1/jobs"])
def test_an_http_callback_url_is_refused_at_intake_where_the_engine_requires_https(api, path, settings):
    """In production (WEBHOOK_HTTPS_ONLY) the engine would refuse an http callback at delivery and fail
    it unseen: both intake paths refuse it at once with a 400 that names https."""
    settings.WEBHOOK_HTTPS_ONLY = True
    body = json.dumps({**DEMO, "callback_url": "http://example.com/hook"})
    for answer in (api.post(path, data=body, content_type="application/json"),
                   api.post(_through_drf(path), data=body, content_type="application/json")):
        assert_api_error(answer, 400, "invalid_callback_url")
        assert "https" in answer.json()["message"] and answer.json()["details"]["field"] == "callback_url"
    assert not Job.objects.exists()
    https = json.dumps({**DEMO, "callback_url": "https://example.com/hook"})
    assert api.post(path, data=https, content_type="application/json").status_code in (201, 202)
    settings.WEBHOOK_HTTPS_ONLY = False  # outside production http stays accepted
    assert api.post(path, data=body, content_type="application/json").status_code in (201, 202)
