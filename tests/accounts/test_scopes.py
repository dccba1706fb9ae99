"""Scopes: a key outside its scopes gets 403 insufficient_scope on every endpoint family, the
intake fast path included; a signed-in operator is not limited by scopes."""

import json

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from accounts.models import User
from jobs.models import Job
from tests.api_asserts import assert_api_error
from tests.conftest import post_json
from tests.factories import ApiKeyFactory, UserFactory
from tests.jobs.support import job_submit

pytestmark = pytest.mark.django_db

DEMO = {"workflow": "demo.flow", "payload": {"hello": "world"}}
ALL_BUT = {scope: [s for s in ("jobs:read", "jobs:write", "users:read", "users:write") if s != scope]
           for scope in ("jobs:read", "jobs:write")}


def _endpoints(job_id):
    return [
        ("get", "/api/v1/jobs", "jobs:read"),
        ("get", f"/api/v1/jobs/{job_id}", "jobs:read"),
        ("get", f"/api/v1/status/{job_id}", "jobs:read"),
        ("get", "/api/v1/workflows", "jobs:read"),
        ("get", "/api/v1/webhooks/secret", "jobs:read"),
        ("post", "/api/v1/jobs", "jobs:write"),
        ("post", "/api/v1/intake", "jobs:write"),
        ("post", f"/api/v1/jobs/{job_id}/cancel", "jobs:write"),
        ("post", f"/api/v1/jobs/{job_id}/retry", "jobs:write"),
    ]


def _call(client, method, path):
    if method == "get":
        return client.get(path)
    return post_json(client, path, DEMO)


def test_each_endpoint_needs_its_scope_and_says_which(client_for):
    owner = UserFactory()
    job = job_submit(owner)
    for method, path, scope in _endpoints(job.pk):
        lacking = client_for(ApiKeyFactory(owner=owner, scopes=ALL_BUT[scope]).raw_key)
        body = assert_api_error(_call(lacking, method, path), 403, "insufficient_scope")
        assert body["details"]["required_scope"] == scope, (path, body)
        assert scope not in body["details"]["key_scopes"]

        holding = client_for(ApiKeyFactory(owner=owner, scopes=[scope]).raw_key)
        response = _call(holding, method, path)
        assert response.status_code != 403, (method, path, response.content)
        assert response.status_code < 500


@pytest.mark.parametrize("path", ["/api/v1/jobs", "/api/v1/intake"])
def test_the_intake_fast_path_refuses_a_read_only_key_as_drf_does(client_for, path):
    read_only = client_for(ApiKeyFactory(owner=UserFactory(), scopes=["jobs:read"]).raw_key)
    fast = post_json(read_only, path, DEMO)
    drf = post_json(read_only, path + "?format=json", DEMO)
    assert assert_api_error(fast, 403, "insufficient_scope")["details"] == \
        assert_api_error(drf, 403, "insufficient_scope")["details"]
    assert Job.objects.count() == 0
    # The same key still reads.
    assert read_only.get("/api/v1/jobs").status_code == 200


def test_a_method_a_view_does_not_have_is_405_not_a_scope_error(client_for):
    read_only = client_for(ApiKeyFactory(owner=UserFactory(), scopes=["jobs:read"]).raw_key)
    assert_api_error(read_only.get("/api/v1/intake"), 405, "method_not_allowed")


def test_a_signed_in_operator_is_not_limited_by_scopes():
    staff = User.objects.create_superuser("ops@example.com", "a-long-operator-password")
    browser = Client()
    browser.force_login(staff)
    assert browser.get("/api/v1/jobs", HTTP_ACCEPT="application/json").status_code == 200
    response = browser.post("/api/v1/jobs", data=json.dumps(DEMO), content_type="application/json",
                            HTTP_ACCEPT="application/json")
    assert response.status_code == 201, response.content
    assert Job.objects.get().owner == staff


def _api_views(resolver=None, prefix=""):
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            yield from _api_views(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern) and (prefix + str(entry.pattern)).startswith("api/v1/"):
            view_class = getattr(entry.callback, "cls", None) or getattr(entry.callback, "view_class", None)
            if view_class is not None and hasattr(view_class, "permission_classes"):
                yield prefix + str(entry.pattern), view_class


def test_every_api_view_declares_the_scope_of_each_of_its_methods():
    views = list(_api_views())
    assert len(views) >= 10, views
    for path, view_class in views:
        if path.startswith(("api/v1/schema", "api/v1/docs")):
            continue  # the schema and its docs are public
        declared = getattr(view_class, "required_scopes", None)
        assert declared is not None, f"{path} ({view_class.__name__}) declares no required_scopes"
        for method in ("get", "post", "put", "patch", "delete"):
            if hasattr(view_class, method) and not isinstance(declared, str):
                assert method.upper() in declared, f"{path} declares no scope for {method.upper()}"


def test_a_view_that_declares_nothing_refuses_keys(rf):
    from rest_framework.response import Response
    from rest_framework.views import APIView

    class Undeclared(APIView):
        def get(self, request):
            return Response({"ok": True})

    raw = ApiKeyFactory(owner=UserFactory()).raw_key
    response = Undeclared.as_view()(rf.get("/x", HTTP_X_API_KEY=raw))
    assert response.status_code == 403 and response.data["error"] == "insufficient_scope"
