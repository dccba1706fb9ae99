"""A fresh install ships the terms in force (2025-11-14, the old service's version) as a data
migration: the gate asks new users to accept them, the old API accepts them, /terms shows them.
Later versions are published in the admin."""

import importlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from compliance.models import TermsAcceptance, TermsVersion
from compliance.selectors import terms_current
from compliance.services import terms_accept
from tests.conftest import post_json
from tests.factories import UserFactory, api_key_for

migration = importlib.import_module("compliance.migrations.0002_terms_2025_11_14")


@pytest.mark.django_db
def test_after_migrate_the_2025_11_14_terms_are_published_and_in_force():
    shipped = TermsVersion.objects.get(version="2025-11-14")
    assert shipped.published_at <= timezone.now() and shipped.text.startswith("Levqor terms of service")
    assert terms_current().id == shipped.pk


@pytest.mark.django_db
def test_a_new_signed_in_user_is_sent_to_accept_them():
    client = Client()
    client.force_login(UserFactory())
    answer = client.get("/dashboard")
    assert answer.status_code == 302 and answer["Location"] == "/legal/accept-terms?returnTo=%2Fdashboard"
    page = client.get(answer["Location"]).content.decode()
    assert "version <strong>2025-11-14</strong>" in page and 'id="accept-terms"' in page


@pytest.mark.django_db
@pytest.mark.parametrize("body", [{"version": "2025-11-14"}, {}], ids=["named", "current"])
def test_the_old_accept_terms_endpoint_accepts_them(client_for, body):
    user, raw = api_key_for()
    answer = post_json(client_for(raw), f"/api/v1/users/{user.pk}/accept-terms", body)
    assert answer.status_code == 200, answer.content
    assert answer.json()["terms_version"] == "2025-11-14"
    assert TermsAcceptance.objects.get(user=user).version.version == "2025-11-14"


@pytest.mark.django_db
def test_the_terms_page_shows_the_version_in_force():
    page = Client().get("/terms").content.decode()
    assert "Version <strong>2025-11-14</strong>, in force since 14 November 2025" in page
    assert "1. The service." in page
    TermsVersion.objects.create(version="2026-02-01", text="Newer words.", published_at=timezone.now())
    page = Client().get("/terms").content.decode()
    assert "Version <strong>2026-02-01</strong>" in page and "Newer words." in page and "1. The service." not in page


@pytest.mark.django_db
def test_without_published_terms_the_terms_page_says_so():
    TermsVersion.objects.all().delete()
    page = Client().get("/terms").content.decode()
    assert "No terms of service are published yet." in page and "2025-11-14" not in page


@pytest.mark.django_db
def test_shipping_again_keeps_a_row_of_that_version_as_it_is():
    TermsVersion.objects.filter(version="2025-11-14").update(text="As edited in the admin.")
    migration.terms_publish(apps, None)
    assert list(TermsVersion.objects.values_list("version", "text")) == [("2025-11-14", "As edited in the admin.")]


@pytest.mark.django_db
def test_unshipping_keeps_a_version_someone_accepted():
    acceptance = terms_accept(user=UserFactory(), ip=None)
    migration.terms_unpublish(apps, None)
    assert TermsVersion.objects.filter(pk=acceptance.version_id).exists()
    TermsAcceptance.objects.all().delete()
    migration.terms_unpublish(apps, None)
    assert not TermsVersion.objects.exists()


@pytest.mark.django_db(transaction=True)  # the schema editor migrate opens refuses to run in a test transaction
def test_the_migration_reverses_and_applies_again():
    call_command("migrate", "compliance", "0001", verbosity=0)
    assert not TermsVersion.objects.filter(version="2025-11-14").exists()
    call_command("migrate", "compliance", verbosity=0)
    shipped = TermsVersion.objects.get(version="2025-11-14")
    assert shipped.published_at == migration.PUBLISHED_AT and shipped.published_at < timezone.now() - timedelta(days=1)
