"""The HTTP edge on every kind of response: one error shape with the correlation id echoed, the
security headers (page or API CSP), HSTS over HTTPS, CORS for allowed origins only."""

import base64
import hashlib
import re

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

from levqor.security import STYLE_ATTRIBUTES
from tests.api_asserts import assert_api_error
from tests.levqor import crash_urls

REQUEST_ID = "edge-test-42"
API_CSP = "default-src 'none'; frame-ancestors 'none'"


def assert_security_headers(response, *, html=False):
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["Cross-Origin-Embedder-Policy"] == "require-corp"
    for feature in ("geolocation=()", "microphone=()", "camera=()", "payment=()"):
        assert feature in response["Permissions-Policy"]
    csp = response["Content-Security-Policy"]
    if html:
        directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
        assert directives["default-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
        assert directives["script-src"].startswith("'self'") and "'unsafe-inline'" not in csp
    else:
        assert sorted(csp.split("; ")) == sorted(API_CSP.split("; "))


def _big(client, key):
    return client.post("/api/v1/jobs", data="x" * (600 * 1024), content_type="application/json",
                       HTTP_X_API_KEY=key, HTTP_X_REQUEST_ID=REQUEST_ID)


# (name, how to ask, status, code)
KINDS = [
    ("unknown path", lambda c, k: c.get("/no/such/page", HTTP_X_REQUEST_ID=REQUEST_ID), 404, "not_found"),
    ("unknown API path", lambda c, k: c.get("/api/v1/nope", HTTP_X_API_KEY=k, HTTP_X_REQUEST_ID=REQUEST_ID), 404,
     "not_found"),
    ("wrong method", lambda c, k: c.delete("/api/v1/workflows", HTTP_X_API_KEY=k, HTTP_X_REQUEST_ID=REQUEST_ID), 405,
     "method_not_allowed"),
    ("malformed JSON", lambda c, k: c.post("/api/v1/jobs", data="{nope", content_type="application/json",
                                          HTTP_X_API_KEY=k, HTTP_X_REQUEST_ID=REQUEST_ID), 400, "invalid_json"),
    ("malformed JSON via DRF", lambda c, k: c.post("/api/v1/jobs?format=json", data="{nope", content_type="application/json",
                                                  HTTP_X_API_KEY=k, HTTP_ACCEPT="application/json; indent=2",
                                                  HTTP_X_REQUEST_ID=REQUEST_ID), 400, "invalid_json"),
    ("unsupported media type", lambda c, k: c.post("/api/v1/jobs", data="a=b", content_type="text/plain",
                                                  HTTP_X_API_KEY=k, HTTP_X_REQUEST_ID=REQUEST_ID), 415,
     "invalid_content_type"),
    ("body too large", _big, 413, "request_too_large"),
    ("no key", lambda c, k: c.get("/api/v1/jobs", HTTP_X_REQUEST_ID=REQUEST_ID), 401, "not_authenticated"),
    ("Django view raises", lambda c, k: c.get(crash_urls.PLAIN_PATH, HTTP_X_REQUEST_ID=REQUEST_ID), 500, "internal_error"),
    ("DRF view raises", lambda c, k: c.get(crash_urls.API_PATH, HTTP_X_REQUEST_ID=REQUEST_ID), 500, "internal_error"),
    ("CSRF refused", lambda c, k: Client(enforce_csrf_checks=True).post("/admin/login/", {"username": "a"},
                                                                       HTTP_X_REQUEST_ID=REQUEST_ID), 403,
     "csrf_failed"),
]


@pytest.mark.django_db
@pytest.mark.urls("tests.levqor.crash_urls")
@pytest.mark.parametrize("name, ask, status, code", KINDS, ids=[k[0] for k in KINDS])
def test_every_error_has_one_shape_and_every_header(key_pair, name, ask, status, code):
    _, raw = key_pair
    response = ask(Client(raise_request_exception=False), raw)
    body = assert_api_error(response, status, code)
    assert body["correlation_id"] == REQUEST_ID
    assert response["Content-Type"].startswith("application/json")
    assert "hunter2" not in response.content.decode() and "Traceback" not in response.content.decode()
    assert_security_headers(response)


def test_a_rate_limited_answer_has_the_headers_too(settings):
    settings.RATELIMIT_GLOBAL = 0
    response = Client().get("/api/v1/workflows", HTTP_X_REQUEST_ID=REQUEST_ID)
    assert_api_error(response, 429, "rate_limited")
    assert_security_headers(response)


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/health", "/public/openapi.json", "/api/v1/workflows"])
def test_successful_json_answers_have_the_api_policy(api, path):
    response = api.get(path)
    assert response.status_code == 200
    assert_security_headers(response)


def _check_page(response):
    """The page works under its CSP (_check_page_policy) and loads nothing from elsewhere."""
    page = _check_page_policy(response)
    assert not re.search(r'(?:src|href)="https?://', page), "a page must load nothing from elsewhere"


def _check_page_policy(response) -> str:
    """The page works under its CSP: every inline script/style carries the header's nonce, and
    every style attribute is one the policy allows by hash. Returns the page."""
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert_security_headers(response, html=True)
    page = response.content.decode()
    csp = response["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp)
    for tag in re.findall(r"<(?:script|style)(?![^>]*\bsrc=)[^>]*>", page):
        if 'type="application/json"' in tag:
            continue  # data, never run
        assert nonce and f'nonce="{nonce.group(1)}"' in tag, tag
    styles = set(re.findall(r'style="([^"]*)"', page))
    assert styles <= set(STYLE_ATTRIBUTES)
    # What the browser checks: the policy names each value's hash.
    allowed = dict(d.strip().split(" ", 1) for d in csp.split(";"))["style-src-attr"].split()
    for value in styles:
        assert "'unsafe-hashes'" in allowed
        assert f"'sha256-{base64.b64encode(hashlib.sha256(value.encode()).digest()).decode()}'" in allowed, value
    assert not re.search(r"\son[a-z]+=\"", page), "inline event handlers cannot run under the policy"
    return page


@pytest.mark.django_db
def test_admin_pages_work_under_the_page_policy(admin_client, key_pair):
    from accounts.models import ApiKey

    user, _ = key_pair
    key = ApiKey.objects.get(owner=user)
    for path in ["/admin/", "/admin/accounts/user/", f"/admin/accounts/user/{user.pk}/change/",
                 "/admin/accounts/apikey/", f"/admin/accounts/apikey/{key.pk}/change/", "/admin/jobs/job/"]:
        _check_page(admin_client.get(path))
    _check_page(Client().get("/admin/login/"))


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/jobs", "/api/v1/workflows"])
def test_the_browsable_api_works_under_the_page_policy(admin_client, path):
    response = admin_client.get(path, HTTP_ACCEPT="text/html")
    _check_page(response)
    assert "<style nonce=" in response.content.decode()  # its highlighting theme is allowed, by nonce


@pytest.mark.django_db
@pytest.mark.urls("tests.levqor.csp_urls")
def test_the_style_attributes_drf_writes_are_the_ones_the_page_policy_allows_by_hash():
    """DRF's pages with an extra-actions menu (browsable) and its admin page write style="..."
    attributes; each page works under the page policy (_check_page: every value allowed by its
    hash), and together they write exactly levqor.security.STYLE_ATTRIBUTES, so a DRF upgrade that
    changes one fails here instead of in a browser."""
    written = set()
    for path in ["/csp-test/things", "/csp-test/things?format=admin"]:
        page = _check_page_policy(Client().get(path, HTTP_ACCEPT="text/html"))
        # DRF writes its own links (extra actions, pages) as absolute URLs: they stay on this site.
        assert all(url.startswith("http://testserver/") for url in re.findall(r'(?:src|href)="(https?://[^"]*)"', page))
        written |= set(re.findall(r'style="([^"]*)"', page))
    assert written == set(STYLE_ATTRIBUTES)


def _directives(policy):
    return sorted(policy.split("; ")) if policy is not None else None


# (view, Content-Security-Policy, Content-Security-Policy-Report-Only) of a JSON answer.
PER_VIEW_POLICIES = [
    ("answer", API_CSP, None),
    ("exempt", None, None),  # @csp_exempt(): no policy at all
    ("own", "default-src 'self'", None),  # @csp(...): the view's whole policy
    ("report-only", API_CSP, "default-src 'none'; report-uri /csp-report"),  # @csp(..., REPORT_ONLY=True)
    ("update", API_CSP, None),  # @csp_update widens pages' policy, never a JSON answer's
]


@pytest.mark.urls("tests.levqor.csp_urls")
@pytest.mark.parametrize("view, enforced, report_only", PER_VIEW_POLICIES, ids=[v[0] for v in PER_VIEW_POLICIES])
def test_a_json_answer_has_the_api_policy_unless_its_view_chose_its_own(view, enforced, report_only):
    """django-csp's public decorators still reach the API's fast path (which writes the API policy
    without django-csp): it must step aside for exactly the responses they mark."""
    response = Client().get(f"/csp-test/{view}")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert _directives(response.get("Content-Security-Policy")) == _directives(enforced)
    assert _directives(response.get("Content-Security-Policy-Report-Only")) == _directives(report_only)


@pytest.mark.urls("tests.levqor.csp_urls")
def test_a_configured_report_only_policy_reaches_json_answers_too(settings):
    settings.CONTENT_SECURITY_POLICY_REPORT_ONLY = {"DIRECTIVES": {"default-src": ["'self'"]}}
    response = Client().get("/csp-test/answer")
    assert _directives(response["Content-Security-Policy"]) == _directives(API_CSP)
    assert response["Content-Security-Policy-Report-Only"] == "default-src 'self'"


@pytest.mark.urls("tests.levqor.csp_urls")
def test_a_page_views_csp_replace_changes_only_its_directive_of_the_page_policy():
    response = Client().get("/csp-test/page-replace")
    directives = dict(d.strip().split(" ", 1) for d in response["Content-Security-Policy"].split(";"))
    assert directives["img-src"] == "'self' https://img.example"
    assert directives["default-src"] == "'none'" and directives["script-src"].startswith("'self'")
    assert directives["style-src-attr"].startswith("'unsafe-hashes'")


@pytest.mark.django_db
def test_hsts_only_over_https_and_through_a_tls_proxy_only_when_told(settings):
    client = Client()
    assert "Strict-Transport-Security" not in client.get("/health")
    hsts = client.get("/health", secure=True)["Strict-Transport-Security"]
    assert hsts == "max-age=31536000; includeSubDomains; preload"
    # A client's own X-Forwarded-Proto means nothing unless we sit behind a TLS proxy.
    assert "Strict-Transport-Security" not in client.get("/health", HTTP_X_FORWARDED_PROTO="https")
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert client.get("/health", HTTP_X_FORWARDED_PROTO="https")["Strict-Transport-Security"] == hsts


@pytest.mark.django_db
def test_cors_preflight_is_answered_for_allowed_origins_only(settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
    client = Client()
    ask = {"HTTP_ACCESS_CONTROL_REQUEST_METHOD": "POST", "HTTP_ACCESS_CONTROL_REQUEST_HEADERS": "x-api-key, content-type"}
    allowed = client.options("/api/v1/jobs", HTTP_ORIGIN="https://app.example.com", **ask)
    assert allowed.status_code == 200
    assert allowed["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "x-api-key" in allowed["Access-Control-Allow-Headers"]
    assert "POST" in allowed["Access-Control-Allow-Methods"]
    other = client.options("/api/v1/jobs", HTTP_ORIGIN="https://evil.example.net", **ask)
    assert "Access-Control-Allow-Origin" not in other
    # A real request from an allowed origin can read the rate-limit and request-id headers.
    response = client.get("/api/v1/workflows", HTTP_ORIGIN="https://app.example.com")
    assert response["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "x-ratelimit-remaining" in response["Access-Control-Expose-Headers"]
    assert "Access-Control-Allow-Origin" not in client.get("/api/v1/workflows", HTTP_ORIGIN="https://evil.example.net")


@pytest.mark.django_db
def test_the_api_reference_loads_only_our_static_files_under_the_page_policy(client):
    response = client.get("/api/v1/docs")
    _check_page(response)  # nonce'd scripts and styles, COEP require-corp, nothing from elsewhere
    page = response.content.decode()
    scripts = re.findall(r'<script\b[^>]*\bsrc="([^"]+)"', page)
    assert scripts == ["/static/drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js", "/static/levqor/api_docs.js"]
    assert all(finders.find(src.removeprefix("/static/")) for src in scripts)
    assert not re.search(r'(?:src|href)="//', page)
    # Its policy names no host at all: keywords, the nonce, hashes, and data: images and blob: workers.
    csp = response["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    sources = {source for value in directives.values() for source in value.split()}
    assert all(source.startswith("'") or source in ("data:", "blob:") for source in sources), csp
    assert directives["worker-src"] == "blob:"
    assert directives["img-src"] == "'self' data:" and directives["connect-src"] == "'self'"
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
