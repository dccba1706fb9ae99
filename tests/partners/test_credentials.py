"""Partner credentials: made for approved partners only, a few live at once, the secret encrypted
at rest and shown once (API answer, page), rotated with an overlap, revoked by the owner, by
staff in the admin (with a confirmation) and with the partner's deletion."""

import json
import re

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from levqor.crypto import secret_decrypt
from levqor.errors import AppError
from partners.models import PartnerCredential
from partners.services.credentials import MAX_LIVE_CREDENTIALS, credential_create, credential_rotate
from partners.signals import partner_deleted
from tests.api_asserts import assert_api_error
from tests.factories import ApiKeyFactory, UserFactory
from tests.partners.signed_support import ME, credential_make, partner_make, signed_request

pytestmark = pytest.mark.django_db

COLLECTION = "/api/v1/partners/me/credentials"
SECRET = re.compile(r"^lps_[A-Za-z0-9_-]{43}$")


def _raw_columns(credential) -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret, previous_secret FROM partners_partnercredential WHERE id = %s",
                       [credential.pk])
        return cursor.fetchone()


# --- the service ---------------------------------------------------------------------------------


def test_a_credential_has_a_key_id_and_a_secret_of_the_documented_shapes():
    credential, secret = credential_make()
    assert re.fullmatch(r"lpk_[0-9a-f]{24}", credential.key_id)
    assert SECRET.fullmatch(secret)


def test_the_secret_is_encrypted_at_rest():
    credential, secret = credential_make()
    stored, previous = _raw_columns(credential)
    assert secret not in stored and stored.startswith("gAAAA")  # a Fernet token
    assert secret_decrypt(stored) == secret
    assert previous == ""
    rotated = credential_rotate(credential=credential, overlap_seconds=60)
    stored, previous = _raw_columns(credential)
    assert rotated.secret not in stored and secret not in previous
    assert secret_decrypt(previous) == secret and secret_decrypt(stored) == rotated.secret


@pytest.mark.parametrize("status", ["pending_approval", "rejected", "suspended"])
def test_only_an_approved_partner_gets_credentials(status):
    partner = partner_make(status=status)
    with pytest.raises(AppError) as refused:
        credential_create(partner=partner, name="x")
    assert refused.value.code == "partner_not_approved"
    assert not PartnerCredential.objects.exists()


def test_live_credentials_are_bounded_and_a_revoked_one_frees_a_place(api):
    partner = partner_make(owner=api.user)
    for n in range(MAX_LIVE_CREDENTIALS):
        credential_create(partner=partner, name=f"c{n}")
    response = api.post(COLLECTION, {"name": "one too many"}, format="json")
    body = assert_api_error(response, 409, "credential_limit_reached")
    assert body["details"] == {"limit": MAX_LIVE_CREDENTIALS, "live": MAX_LIVE_CREDENTIALS}
    key_id = PartnerCredential.objects.filter(partner=partner).first().key_id
    assert api.delete(f"{COLLECTION}/{key_id}").status_code == 200
    assert api.post(COLLECTION, {"name": "now it fits"}, format="json").status_code == 201


def test_deleting_the_partner_revokes_its_credentials():
    credential, secret = credential_make()
    other, other_secret = credential_make()
    partner_deleted.send(sender=type(credential.partner), partner=credential.partner, actor=None)
    credential.refresh_from_db()
    assert credential.revoked_at is not None and _raw_columns(credential) == ("", "")
    assert_api_error(signed_request(None, "GET", ME, key_id=credential.key_id, secret=secret), 401, "signature_invalid")
    assert signed_request(None, "GET", ME, key_id=other.key_id, secret=other_secret).status_code == 200


# --- the owner's API -----------------------------------------------------------------------------


def test_the_owner_creates_lists_rotates_and_revokes_through_the_api(api):
    partner = partner_make(owner=api.user)
    created = api.post(COLLECTION, {"name": "production"}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert SECRET.fullmatch(body["secret"]) and body["status"] == "active" and body["name"] == "production"
    assert created["Cache-Control"] == "no-store"
    key_id = body["key_id"]

    listed = api.get(COLLECTION).json()["results"]
    assert [c["key_id"] for c in listed] == [key_id]
    # Never again after the create's answer.
    assert body["secret"] not in json.dumps(listed) and all("secret" not in item for item in listed)
    assert "secret" not in api.get(f"{COLLECTION}/{key_id}").json()

    rotated = api.post(f"{COLLECTION}/{key_id}/rotate", {"overlap_seconds": 600}, format="json")
    assert rotated.status_code == 200, rotated.content
    assert rotated.json()["secret"] != body["secret"] and rotated.json()["previous_secret_expires_at"]
    for secret in (body["secret"], rotated.json()["secret"]):  # both verify during the overlap
        assert signed_request(None, "GET", ME, key_id=key_id, secret=secret).json()["partner_id"] == str(partner.pk)

    revoked = api.delete(f"{COLLECTION}/{key_id}")
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert revoked.json()["previous_secret_expires_at"] is None
    assert_api_error(api.post(f"{COLLECTION}/{key_id}/rotate", {}, format="json"), 409, "credential_revoked")


@pytest.mark.parametrize("overlap", [-1, 7 * 86400 + 1, "a day"])
def test_a_rotation_overlap_out_of_bounds_is_refused(api, overlap):
    partner = partner_make(owner=api.user)
    credential, _ = credential_make(partner)
    response = api.post(f"{COLLECTION}/{credential.key_id}/rotate", {"overlap_seconds": overlap}, format="json")
    body = assert_api_error(response, 400, "validation_failed")
    assert body["details"]["errors"][0]["field"] == "overlap_seconds"


def test_another_accounts_credential_is_not_found(api):
    partner_make(owner=api.user)
    theirs, _ = credential_make()
    for response in (api.get(f"{COLLECTION}/{theirs.key_id}"), api.delete(f"{COLLECTION}/{theirs.key_id}"),
                     api.post(f"{COLLECTION}/{theirs.key_id}/rotate", {}, format="json")):
        assert_api_error(response, 404, "not_found")
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_an_account_without_a_partner_is_told_so(api):
    assert_api_error(api.get(COLLECTION), 404, "not_found")


def test_a_pending_partner_is_told_why_no_credential_is_made(api):
    partner_make(owner=api.user, status="pending_approval")
    assert_api_error(api.post(COLLECTION, {}, format="json"), 403, "partner_not_approved")


def test_managing_credentials_needs_the_partners_scopes(client_for):
    owner = UserFactory()
    partner_make(owner=owner)
    reader = client_for(ApiKeyFactory(owner=owner, scopes=["partners:read"]).raw_key)
    assert reader.get(COLLECTION).status_code == 200
    assert_api_error(reader.post(COLLECTION, {}, format="json"), 403, "insufficient_scope")
    nothing = client_for(ApiKeyFactory(owner=owner, scopes=["jobs:read"]).raw_key)
    assert_api_error(nothing.get(COLLECTION), 403, "insufficient_scope")


def test_unknown_fields_are_refused(api):
    partner_make(owner=api.user)
    body = assert_api_error(api.post(COLLECTION, {"name": "x", "secret": "mine"}, format="json"), 400,
                            "validation_failed")
    assert body["details"]["errors"][0]["field"] == "secret"


# --- the page block ------------------------------------------------------------------------------


@pytest.fixture
def owner_browser(db):
    user = UserFactory(terms_accepted=True)
    client = Client()
    client.force_login(user)
    client.user = user
    return client


NEW_SECRET = re.compile(r'id="new-credential-secret"[^>]*>([^<]+)<')


def test_the_page_makes_a_credential_and_shows_its_secret_once(owner_browser):
    partner = partner_make(owner=owner_browser.user)
    response = owner_browser.post("/partners/credentials", {"name": "from the page"})
    assert response.status_code == 302 and response["Location"] == "/partners"
    page = owner_browser.get("/partners/credentials")
    assert page.status_code == 200 and page["Cache-Control"].startswith("max-age=0")
    secret = NEW_SECRET.search(page.content.decode()).group(1).strip()
    credential = PartnerCredential.objects.get(partner=partner)
    assert credential.name == "from the page" and credential.secret == secret
    assert signed_request(None, "GET", ME, key_id=credential.key_id, secret=secret).status_code == 200
    again = owner_browser.get("/partners/credentials").content.decode()
    assert secret not in again and credential.key_id in again


def test_the_page_rotates_and_revokes(owner_browser):
    partner = partner_make(owner=owner_browser.user)
    credential, old = credential_make(partner)
    response = owner_browser.post(f"/partners/credentials/{credential.key_id}/rotate", {"overlap_hours": "2"})
    assert response.status_code == 302 and response["Location"] == "/partners"
    page = owner_browser.get("/partners/credentials").content.decode()
    new = NEW_SECRET.search(page).group(1).strip()
    assert new != old and "keeps working for 2 hours" in page
    owner_browser.post(f"/partners/credentials/{credential.key_id}/revoke")
    credential.refresh_from_db()
    assert credential.revoked_at is not None
    assert 'data-status="revoked"' in owner_browser.get("/partners/credentials").content.decode()


def test_the_page_forms_need_csrf(owner_browser):
    partner_make(owner=owner_browser.user)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(owner_browser.user)
    assert strict.post("/partners/credentials", {"name": "x"}).status_code == 403
    assert not PartnerCredential.objects.exists()


def test_a_pending_partner_sees_why_no_credential_can_be_made(owner_browser):
    partner_make(owner=owner_browser.user, status="pending_approval")
    page = owner_browser.get("/partners/credentials").content.decode()
    assert "waiting for review" in page and 'id="create-credential-form"' not in page
    owner_browser.post("/partners/credentials", {"name": "x"})
    follow = owner_browser.get("/partners/credentials").content.decode()
    assert "Only an approved partner" in follow and not PartnerCredential.objects.exists()


def test_another_accounts_credential_cannot_be_touched_from_the_page(owner_browser):
    partner_make(owner=owner_browser.user)
    theirs, _ = credential_make()
    assert owner_browser.post(f"/partners/credentials/{theirs.key_id}/revoke").status_code == 404
    assert owner_browser.post(f"/partners/credentials/{theirs.key_id}/rotate", {"overlap_hours": 1}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None and theirs.rotated_at is None


def test_signed_out_people_are_sent_to_sign_in():
    response = Client().get("/partners/credentials")
    assert response.status_code == 302 and response["Location"].startswith("/login")


# --- the admin -----------------------------------------------------------------------------------


def test_the_admin_lists_credentials_without_secrets_and_revokes_after_confirming(operator):
    credential, secret = credential_make()
    changelist = reverse("admin:partners_partnercredential_changelist")
    page = operator.get(changelist).content.decode()
    assert credential.key_id in page and secret not in page
    detail = operator.get(reverse("admin:partners_partnercredential_change", args=[credential.pk])).content.decode()
    assert credential.key_id in detail and secret not in detail

    asked = operator.post(changelist, {"action": "revoke_credentials", "_selected_action": [credential.pk]})
    assert asked.status_code == 200 and "Yes, revoke them" in asked.content.decode()
    credential.refresh_from_db()
    assert credential.revoked_at is None  # not before the confirmation

    done = operator.post(changelist, {"action": "revoke_credentials", "_selected_action": [credential.pk],
                                      "confirmed": "yes"}, follow=True)
    assert "Revoked 1 credential(s)" in done.content.decode()
    credential.refresh_from_db()
    assert credential.revoked_at is not None
    assert_api_error(signed_request(None, "GET", ME, key_id=credential.key_id, secret=secret), 401, "signature_invalid")


@pytest.mark.urls("tests.partners.credential_admin_urls")
def test_the_inline_shows_a_partners_credentials_read_only_without_secrets(operator):
    credential, secret = credential_make()
    page = operator.get(f"/admin/partners/partner/{credential.partner_id}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert credential.key_id in html and "production" in html and secret not in html
    assert 'name="credentials-0-name"' not in html  # read-only: no form field for it


def test_an_account_without_a_partner_is_pointed_to_the_application(owner_browser):
    page = owner_browser.get("/partners/credentials").content.decode()
    assert "Apply to become a partner first" in page
    assert owner_browser.post("/partners/credentials", {"name": "x"}).status_code == 302
    assert not PartnerCredential.objects.exists()
