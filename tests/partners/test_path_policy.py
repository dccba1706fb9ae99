"""The governance policy's forbidden paths are refused to partner credentials, before any view runs,
however the path is written, valid signature or not."""

import pytest
from django.test import Client

from partners.paths import path_forbidden, path_normalised
from partners.services import policy
from partners.services.policy import policy_version_create
from tests.api_asserts import assert_api_error
from tests.partners.signed_support import credential_make, signed_request

pytestmark = pytest.mark.django_db

KEY_ID = {"HTTP_X_LEVQOR_KEY_ID": "lpk_" + "0" * 24}


@pytest.mark.parametrize("path, entry", [
    ("/auth/root", "/auth/root"),
    ("/internal/", "/internal/"),
    ("/admin/", "/admin/"),
    ("/ops/", "/ops/"),
])
def test_each_forbidden_path_is_refused_to_a_validly_signed_request(path, entry):
    credential, secret = credential_make()
    for variant in (path, path + "anything/below"):
        response = signed_request(None, "GET", variant, key_id=credential.key_id, secret=secret)
        body = assert_api_error(response, 403, "path_forbidden")
        assert body["details"] == {"forbidden_path": entry}


@pytest.mark.parametrize("path", [
    "/admin",  # without the trailing slash
    "/ADMIN/",  # case
    "/Admin/login/",
    "/%61dmin/",  # percent-encoded
    "/%2561dmin/",  # twice
    "/ops//uptime",  # doubled slash
    "/api/../admin/",  # dot segments
    "/./ops/uptime",
    "/ops",
    "/internal",
    "/auth/root/",
    "/AUTH/ROOT",
])
def test_a_forbidden_path_written_another_way_is_refused_too(path):
    response = Client().get(path, **KEY_ID)
    assert_api_error(response, 403, "path_forbidden")


def test_a_path_starting_with_two_slashes_is_refused():
    # The test client would read //admin/ as a host; a server hands it on as the path.
    assert_api_error(Client().get("/", PATH_INFO="//admin/", **KEY_ID), 403, "path_forbidden")


def test_the_raw_path_sent_is_checked_as_well_as_the_routed_one():
    response = Client().get("/api/v1/partner/me", RAW_URI="/%61dmin/x?y=1", **KEY_ID)
    assert_api_error(response, 403, "path_forbidden")


def test_without_a_partner_key_id_the_paths_are_not_this_rules_business(operator):
    assert operator.get("/admin/").status_code == 200  # staff in the admin, as ever
    assert Client().get("/ops/uptime").status_code != 403


def test_an_invalid_signature_on_a_forbidden_path_is_still_path_forbidden():
    response = Client().get("/admin/", HTTP_X_LEVQOR_KEY_ID="garbage", HTTP_X_LEVQOR_SIGNATURE="v1=00")
    assert_api_error(response, 403, "path_forbidden")


def test_a_partner_key_id_on_other_paths_passes_the_rule():
    credential, secret = credential_make()
    response = signed_request(None, "GET", "/api/v1/partner/me", key_id=credential.key_id, secret=secret)
    assert response.status_code == 200
    assert Client().get("/administrator-guide", **KEY_ID).status_code == 404  # not under /admin/


def test_a_new_policy_versions_paths_take_effect(operator):
    assert Client().get("/api/v1/workflows", **KEY_ID).status_code != 403
    policy_version_create(actor=operator.user, reason="Partners have no business with workflows",
                          forbidden_paths=["/api/v1/workflows", "/admin/"])
    policy.reset()  # other processes see it within the policy's 5 s cache
    assert_api_error(Client().get("/api/v1/workflows", **KEY_ID), 403, "path_forbidden")
    assert Client().get("/ops/uptime", **KEY_ID).status_code != 403  # dropped from the policy


@pytest.mark.parametrize("path, normal", [
    ("/%61dmin/", "/admin/"), ("/a//b/../c", "/a/c"), ("\\admin\\", "/admin/"), ("/", "/"), ("/A/B", "/a/b"),
])
def test_paths_are_normalised_before_matching(path, normal):
    assert path_normalised(path) == normal


def test_an_entry_without_a_slash_is_a_plain_prefix():
    assert path_forbidden("/auth/rootkit", ["/auth/root"]) == "/auth/root"
    assert path_forbidden("/administrator", ["/admin/"]) is None
