"""A partner's input schema never makes Levqor fetch anything: the workflow's validator has an empty
referencing registry (no urlopen at intake: SSRF, file://, no timeout), a listing whose schema refers
outside itself or nests too deep is a 400 at creation, and a stored one that does is refused at
intake with a 400 (never a 500, never the fetched content)."""

import json

import pytest
from rest_framework.test import APIClient

from jobs.workflows import SchemaUnresolvable, Workflow
from marketplace.services.installs import listing_install
from tests.factories import api_key_for
from tests.marketplace.listings_support import listing_fields
from tests.marketplace.store_support import listing_make
from tests.partners.governance_support import partner_make

pytestmark = pytest.mark.django_db
V1 = "/api/v1/marketplace/listings"


def keyed(user):
    _, raw = api_key_for(user)
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_X_API_KEY=raw)
    return client


def create(schema):
    partner = partner_make()
    return keyed(partner.owner).post(V1, data=json.dumps(listing_fields(input_schema=schema)),
                                     content_type="application/json")


def intake_with(schema):
    listing = listing_make(input_schema=schema)
    user, raw = api_key_for()
    listing_install(user=user, listing=listing, livemode=True)
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_X_API_KEY=raw)
    return client.post("/api/v1/jobs", data=json.dumps({"workflow": listing.workflow_name, "payload": {"text": "x"}}),
                       content_type="application/json")


def test_intake_never_fetches_a_remote_ref_and_never_echoes_it(fake_server):
    fake_server.responses.append((200, {"type": "string", "enum": ["internal-secret-value"]}))
    response = intake_with({"type": "object", "properties": {"text": {"$ref": f"{fake_server.url}/latest/meta-data"}}})
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid_payload"
    assert "internal-secret-value" not in response.content.decode()
    assert fake_server.requests == []


def test_a_closed_port_ref_is_a_400_not_a_500(closed_port):
    response = intake_with({"type": "object", "properties": {"text": {"$ref": f"http://127.0.0.1:{closed_port}/x"}}})
    assert response.status_code == 400 and response.json()["error"] == "invalid_payload"


def test_a_file_ref_is_not_read(tmp_path):
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"type": "string", "enum": ["from-disk"]}))
    workflow = Workflow(name="t", description="", payload_schema={"type": "object", "properties": {
        "text": {"$ref": secret.as_uri()}}}, handler=lambda ctx, p: None, estimate_cost=lambda p: 0)
    with pytest.raises(SchemaUnresolvable):
        workflow.payload_errors({"text": "x"})


def test_local_refs_still_work():
    schema = {"type": "object", "$defs": {"t": {"type": "string", "maxLength": 3}},
              "properties": {"text": {"$ref": "#/$defs/t"}}}
    workflow = Workflow(name="t", description="", payload_schema=schema, handler=lambda ctx, p: None,
                        estimate_cost=lambda p: 0)
    assert workflow.payload_errors({"text": "abc"}) == []
    assert [e["field"] for e in workflow.payload_errors({"text": "abcd"})] == ["payload.text"]
    assert create(schema).status_code == 201


@pytest.mark.parametrize("schema, words", [
    ({"type": "object", "$ref": "https://example.com/x"}, "$ref must be a local reference"),
    ({"type": "object", "properties": {"a": {"$ref": "file:///etc/passwd"}}}, "/properties/a: $ref"),
    ({"type": "object", "properties": {"a": {"$dynamicRef": "http://127.0.0.1/x"}}}, "$dynamicRef"),
    ({"type": "object", "$id": "https://evil.test/s"}, "$id is not accepted"),
    ({"type": "object", "$schema": "http://json-schema.org/draft-04/schema#"}, "$schema must be"),
])
def test_a_schema_referring_outside_itself_is_a_400(schema, words):
    response = create(schema)
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["error"] == "validation_failed"
    assert [e["field"] for e in body["details"]["errors"]] == ["input_schema"]
    assert words in body["details"]["errors"][0]["message"]


def test_the_2020_12_meta_schema_and_data_that_looks_like_a_ref_pass():
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
              "properties": {"$ref": {"type": "string", "enum": ["https://example.com/x"]},
                             "b": {"const": {"$ref": "https://example.com/y"}}}}
    assert create(schema).status_code == 201


def test_a_deeply_nested_schema_is_a_clear_400_not_a_500():
    deep = {"type": "object"}
    cur = deep
    for _ in range(300):
        cur["properties"] = {"a": {"type": "object"}}
        cur = cur["properties"]["a"]
    response = create(deep)
    assert response.status_code == 400, response.content[:300]
    error = response.json()["details"]["errors"][0]
    assert error["field"] == "input_schema" and "Nested at most" in error["message"]


def test_a_schema_nested_within_the_limit_passes():
    ok = {"type": "object"}
    cur = ok
    for _ in range(20):
        cur["properties"] = {"a": {"type": "object"}}
        cur = cur["properties"]["a"]
    assert create(ok).status_code == 201


@pytest.mark.parametrize("keyword", ["not", "items", "properties"])
def test_a_schema_at_the_depth_limit_is_checked_without_recursing_too_far(keyword):
    from marketplace.services.listing_checks import SCHEMA_MAX_DEPTH

    schema = {"type": "object"}
    cur, depth = schema, 1
    while depth < SCHEMA_MAX_DEPTH - 1:
        child = {"type": "object"}
        if keyword == "properties":
            cur["properties"] = {"a": child}
            depth += 2
        else:
            cur[keyword] = child
            depth += 1
        cur = child
    assert create(schema).status_code == 201
