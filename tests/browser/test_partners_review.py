"""The partner review flow in a real browser: a signed-in user applies on /partners, an operator
approves from the admin review queue with a reason, and the user sees the decision and its reason.
Screenshots at each step; any console error or CSP violation fails the test."""

import pytest
from playwright.sync_api import expect

from partners.models import Partner
from tests.browser.test_pages import answer_banner, sign_in_as
from tests.factories import UserFactory

pytestmark = pytest.mark.browser

OPERATOR_PASSWORD = "a long operator password"


def test_a_user_applies_an_operator_approves_with_a_reason_and_the_user_sees_it(page, screenshot, live_server):
    from accounts.models import User

    user = UserFactory(terms_accepted=True)
    sign_in_as(page.context, live_server, user)
    page.goto("/partners")
    answer_banner(page)
    page.fill("#id_name", "Acme Automations")
    page.fill("#id_email", "partners@acme.example")
    page.fill("#id_webhook_url", "https://hooks.acme.example/levqor")
    page.fill("#id_metadata", '{"website": "https://acme.example"}')
    screenshot("1-apply-form")
    page.click("#partner-apply")
    expect(page.locator("#partner-status-label")).to_have_text("pending approval")
    screenshot("2-applied-pending")
    partner = Partner.objects.get(owner=user)

    # The operator, in the same browser after the user's session is gone.
    page.context.clear_cookies()
    User.objects.create_superuser("ops@example.com", OPERATOR_PASSWORD)
    page.goto("/admin/login/?next=/admin/partners/partner/")
    page.fill("input[name=username]", "ops@example.com")
    page.fill("input[name=password]", OPERATOR_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/partners/partner/**")
    expect(page.locator("#result_list")).to_contain_text("Acme Automations")
    screenshot("3-review-queue")
    page.check(f"input.action-select[value='{partner.pk}']")
    page.select_option("select[name=action]", "approve")
    page.click("button[name=index]")
    page.wait_for_url("**/review/approve/**")
    expect(page.locator("#review-partners")).to_contain_text("Acme Automations")
    page.fill("textarea[name=reason]", "Company and webhook verified")
    screenshot("4-reason-page")
    page.click("#review-submit")
    expect(page.locator(".messagelist")).to_contain_text("Approved 1 partner")

    # The user again: the decision and its reason, never the reviewer.
    page.context.clear_cookies()
    sign_in_as(page.context, live_server, user)
    page.goto("/partners")
    answer_banner(page)  # the cookies went with the operator's session: the banner asks again
    expect(page.locator("#partner-status-label")).to_have_text("approved")
    expect(page.locator("#partner-status-reason")).to_have_text("Company and webhook verified")
    expect(page.locator("#partner-trail")).to_contain_text("pending approval → approved")
    assert "ops@example.com" not in page.content()
    screenshot("5-approved")
