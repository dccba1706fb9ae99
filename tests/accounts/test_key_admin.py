"""The back-office shows a key's scopes, successor chain and last address, and the key audit
trail, which nobody can edit."""

import pytest
from django.urls import reverse

from accounts.models import ApiKey, ApiKeyEvent
from accounts.services.keys import api_key_rotate
from tests.factories import ApiKeyFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_key_pages_show_scopes_rotation_and_last_address(operator, client_for):
    created = ApiKeyFactory(owner=UserFactory(is_staff=True), scopes=["jobs:read", "admin:read"])
    client_for(created.raw_key).get("/api/v1/jobs", REMOTE_ADDR="198.51.100.4")
    successor = api_key_rotate(api_key=created, grace_seconds=60)
    page = operator.get(reverse("admin:accounts_apikey_changelist")).content.decode()
    assert "admin:read" in page and "198.51.100.4" in page
    detail = operator.get(reverse("admin:accounts_apikey_change", args=[successor.api_key.pk])).content.decode()
    assert created.prefix in detail  # rotated_from


def test_the_admin_refuses_admin_read_for_an_owner_who_is_not_staff(operator):
    owner = UserFactory()
    response = operator.post(reverse("admin:accounts_apikey_add"), {
        "owner": owner.pk, "name": "ops", "livemode": "on", "scopes": ["jobs:read", "admin:read"],
        "expires_at_0": "", "expires_at_1": ""})
    assert response.status_code == 200
    assert "Only Levqor staff may hold a key with the admin:read scope" in response.content.decode()
    assert not ApiKey.objects.filter(owner=owner).exists()


def test_an_admin_created_key_gets_the_ticked_scopes_and_an_audit_row(operator):
    owner = UserFactory()
    response = operator.post(reverse("admin:accounts_apikey_add"), {
        "owner": owner.pk, "name": "ops", "livemode": "on", "scopes": ["jobs:read"],
        "expires_at_0": "", "expires_at_1": ""}, REMOTE_ADDR="192.0.2.9")
    assert response.status_code == 302
    key = ApiKey.objects.get(owner=owner)
    assert key.scopes == ["jobs:read"]
    event = ApiKeyEvent.objects.get(api_key=key)
    assert (event.action, event.actor, event.ip, event.details["via"]) == ("created", operator.user, "192.0.2.9", "admin")
    refused = operator.post(reverse("admin:accounts_apikey_add"), {
        "owner": owner.pk, "name": "bad", "scopes": ["root"], "expires_at_0": "", "expires_at_1": ""})
    assert refused.status_code == 200 and "scopes" in refused.context["adminform"].form.errors


def test_the_audit_trail_is_read_only_and_filterable(operator):
    created = ApiKeyFactory(owner=UserFactory())
    api_key_rotate(api_key=created, grace_seconds=0)
    url = reverse("admin:accounts_apikeyevent_changelist")
    page = operator.get(url, {"action__exact": "rotated"})
    assert page.status_code == 200 and page.context["cl"].result_count == 1
    event = ApiKeyEvent.objects.get(action="rotated")
    change_url = reverse("admin:accounts_apikeyevent_change", args=[event.pk])
    assert operator.get(change_url).status_code == 200
    operator.post(change_url, {"action": "revoked", "ip": "10.0.0.1"})
    event.refresh_from_db()
    assert event.action == "rotated" and event.ip is None
    assert operator.get(reverse("admin:accounts_apikeyevent_add")).status_code == 403
    assert operator.post(reverse("admin:accounts_apikeyevent_delete", args=[event.pk]), {"post": "yes"}).status_code == 403
    assert ApiKeyEvent.objects.filter(pk=event.pk).exists()
