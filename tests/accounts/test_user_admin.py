"""The user's admin page is accounts' own; other apps add read-only sections to it through
accounts.admin's registry instead of replacing it."""

import pytest
from django.contrib import admin
from django.urls import reverse

from accounts.admin import UserAdmin, user_admin_section_register, user_admin_section_unregister
from accounts.models import ApiKey, User
from tests.factories import UserFactory, api_key_for

pytestmark = pytest.mark.django_db


@admin.display(description="Partner since")
def partner_since(user):
    return f"partner of {user.email} since 2026"


@pytest.fixture
def partner_section():
    user_admin_section_register("Partner", partner_since)
    yield
    user_admin_section_unregister("Partner")


def test_the_user_page_is_accounts_own_admin_with_the_consents_section():
    # compliance joined through the registry, it did not unregister and replace the page.
    assert type(admin.site.get_model_admin(User)) is UserAdmin


def test_a_registered_section_shows_on_the_users_page(operator, partner_section):
    user = UserFactory(email="partner@example.com")
    page = operator.get(reverse("admin:accounts_user_change", args=[user.pk])).content.decode()
    assert ">Partner</h2>" in page and "Partner since:" in page
    assert "partner of partner@example.com since 2026" in page
    assert ">Consents</h2>" in page  # compliance's section stays beside it
    add_page = operator.get(reverse("admin:accounts_user_add")).content.decode()
    assert ">Partner</h2>" not in add_page and ">Consents</h2>" not in add_page


def test_the_users_page_still_saves_with_sections(operator, partner_section):
    user, _ = api_key_for(UserFactory())
    response = operator.post(reverse("admin:accounts_user_change", args=[user.pk]), {
        "email": user.email, "name": "Renamed", "locale": user.locale, "currency": user.currency, "meta": "{}",
        "tier": user.tier, "is_active": "on", "api_keys-TOTAL_FORMS": "1", "api_keys-INITIAL_FORMS": "1",
        "api_keys-MIN_NUM_FORMS": "0", "api_keys-MAX_NUM_FORMS": "1000",
        "api_keys-0-id": str(ApiKey.objects.get(owner=user).pk), "api_keys-0-owner": str(user.pk),
    })
    assert response.status_code == 302, response.context["adminform"].form.errors
    user.refresh_from_db()
    assert user.name == "Renamed"


def test_a_section_title_is_taken_once(partner_section):
    with pytest.raises(ValueError):
        user_admin_section_register("Partner", partner_since)
    with pytest.raises(ValueError):
        user_admin_section_register("Empty")
