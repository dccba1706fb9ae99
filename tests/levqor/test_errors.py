"""Errors belong to the domain: services raise AppError with a code from the one registry
(ErrorCode); the web layer (levqor.http_errors) answers it in the one shape, the same way for
DRF views, middleware and plain views."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from levqor.errors import AppError, ErrorCode
from levqor.http_errors import api_exception_handler, error_response

ROOT = Path(__file__).resolve().parents[2]


def test_the_registry_gives_each_code_a_status_and_a_meaning():
    values = [code.value for code in ErrorCode]
    assert len(values) == len(set(values))
    for code in ErrorCode:
        assert code.value == code.value.lower() and " " not in code.value
        assert 400 <= code.status <= 599 and code.description


def test_an_app_error_takes_its_status_from_its_code_unless_told():
    assert AppError(ErrorCode.NOT_FOUND, "No such job.").status == 404
    assert AppError(ErrorCode.INVALID_CONTENT_TYPE, "old intake", status=400).status == 400
    with pytest.raises(ValueError):
        AppError("no_such_code", "codes outside the registry are refused")


def test_the_domain_error_module_loads_without_drf_or_django_http():
    # A fresh interpreter: what importing levqor.errors pulls in, and nothing else.
    code = ("import sys, levqor.errors; "
            "bad = [m for m in ('rest_framework', 'django.http') if m in sys.modules]; "
            "print(','.join(bad)); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)  # noqa: S603
    assert done.returncode == 0, done.stdout + done.stderr


SERVICE_MODULES = sorted(
    path for pattern in ("*/services.py", "*/services/*.py", "*/selectors.py", "*/intake.py", "*/login.py",
                         "*/personal_data.py", "levqor/errors.py")
    # Parts below ROOT only: the checkout's own directory may be called anything, "tests" too.
    for path in ROOT.glob(pattern) if not {".venv", "tests"} & set(path.relative_to(ROOT).parts))


@pytest.mark.parametrize("path", SERVICE_MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_services_do_not_import_drf(path):
    tree = ast.parse(path.read_text())
    imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    imported += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert not [name for name in imported if name.split(".")[0] == "rest_framework"]


def _quota_error():
    return AppError(ErrorCode.QUOTA_EXCEEDED, "All used.", details={"tier": "sandbox"}, retry_after=42,
                    legacy_fields={"reset_at": "2027-01-01T00:00:00Z"})


def test_drf_views_and_plain_responses_answer_an_app_error_the_same_way():
    class Refusing(APIView):
        authentication_classes = ()
        permission_classes = ()

        def get(self, request):
            raise _quota_error()

    via_drf = Refusing.as_view()(APIRequestFactory().get("/api/v1/x", HTTP_X_REQUEST_ID="req-1"))
    via_drf.render()
    plain = error_response(_quota_error())
    for response in (via_drf, plain):
        assert response.status_code == 429 and response["Retry-After"] == "42"
    drf_body, plain_body = json.loads(via_drf.content), json.loads(plain.content)
    assert drf_body["error"] == plain_body["error"] == "quota_exceeded"
    assert drf_body["details"] == plain_body["details"] == {"tier": "sandbox"}
    assert drf_body["reset_at"] == plain_body["reset_at"] == "2027-01-01T00:00:00Z"
    assert set(drf_body) == set(plain_body) == {"error", "message", "details", "correlation_id", "reset_at"}


def test_an_unexpected_exception_is_an_internal_error_without_its_text():
    response = api_exception_handler(RuntimeError("secret stack detail"), {})
    assert response.status_code == 500
    assert response.data["error"] == "internal_error" and "secret" not in str(response.data)


@pytest.mark.django_db
def test_the_openapi_schema_lists_every_code(client):
    schema = client.get("/public/openapi.json").json()
    listed = schema["components"]["schemas"]["Error"]["properties"]["error"]["enum"]
    assert listed == [code.value for code in ErrorCode]


def test_a_store_down_answer_is_a_503_with_retry_after():
    from levqor.http_errors import store_down_response

    response = store_down_response()
    assert response.status_code == 503 and response["Retry-After"] == "5"
