"""The served OpenAPI schema: JSON at the old path, key auth described, every API operation
documenting the one error shape."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(client):
    response = client.get("/public/openapi.json")
    assert response.status_code == 200
    assert "json" in response["Content-Type"]
    return response.json()


def test_the_schema_describes_key_authentication(schema):
    schemes = schema["components"]["securitySchemes"]
    assert schemes["ApiKeyHeader"] == {**schemes["ApiKeyHeader"], "type": "apiKey", "in": "header", "name": "X-Api-Key"}
    assert schemes["ApiKeyBearer"]["scheme"] == "bearer"


def test_every_api_operation_documents_the_error_shape(schema):
    error = schema["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"error", "message", "details", "correlation_id"}
    for path, operations in schema["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method, operation in operations.items():
            for code in ("401", "404", "429", "500"):
                assert operation["responses"][code]["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/Error"}, (method, path, code)
            if method == "post":
                assert {"400", "413", "415"} <= set(operation["responses"]), (method, path)


def test_the_job_list_is_described_as_the_page_it_is(schema):
    page = schema["paths"]["/api/v1/jobs"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    ref = page["$ref"].rsplit("/", 1)[-1]
    assert set(schema["components"]["schemas"][ref]["properties"]) == {"next", "previous", "results"}
    assert schema["paths"]["/api/v1/jobs/{job_id}/retry"]["post"]["responses"].get("202")


def test_the_job_list_documents_a_bad_cursor_as_400(schema):
    operation = schema["paths"]["/api/v1/jobs"]["get"]
    assert "cursor" in {p["name"] for p in operation["parameters"] if p["in"] == "query"}
    refused = operation["responses"]["400"]
    assert refused["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


def test_the_schema_generates_without_warnings_and_validates(tmp_path):
    from django.core.management import call_command

    # --fail-on-warn: a collision or an undescribable view is an error here, not a log line.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))
    assert (tmp_path / "schema.yml").read_text().startswith("openapi:")
