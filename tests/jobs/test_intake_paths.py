"""The two intake endpoints answer API-key clients on a fast path and everyone else through DRF:
both must give the same answers."""

import json

import pytest

from jobs.models import Job
from tests.conftest import post_json

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
