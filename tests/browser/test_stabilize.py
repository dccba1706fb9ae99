"""Stabilize mode turned on in the admin, in a real browser: the form with its reason, then the
banner on every admin page, all under the admin's Content-Security-Policy (a violation fails)."""

import importlib

import pytest
from django.apps import apps as django_apps

pytestmark = pytest.mark.browser


def test_an_operator_turns_stabilize_on_and_every_admin_page_shows_the_banner(page, screenshot):
    from accounts.models import User

    # The switch migrate made, again where a transactional test's flush emptied the table.
    importlib.import_module("intelligence.migrations.0008_i9ops_known_flags").known_flags_create(django_apps, None)
    User.objects.create_superuser("ops@example.com", "a long test password")
    page.goto("/admin/login/?next=/admin/intelligence/stabilizeevent/stabilize/")
    page.fill("input[name=username]", "ops@example.com")
    page.fill("input[name=password]", "a long test password")
    page.click("input[type=submit]")
    page.wait_for_url("**/stabilize/")
    assert "Stabilize mode is off" in page.text_content("#stabilize-state")
    assert not page.is_visible("#stabilize-banner")

    page.fill("textarea[name=reason]", "payment provider incident")
    page.click("#stabilize-form input[type=submit]")
    page.wait_for_selector("#stabilize-banner")
    assert "Stabilize mode is on" in page.text_content("#stabilize-state")
    screenshot("stabilize-page")

    page.goto("/admin/")
    banner = page.text_content("#stabilize-banner")
    assert "payment provider incident" in banner and "ops@example.com" in banner and " UTC" in banner
    screenshot("admin-index-with-banner")
