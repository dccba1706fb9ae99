"""Auto-suspend on the policy's thresholds, exactly at them: 5 users' reports (4 do not), an
average under 2.0 from at least 3 ratings (2.00 does not), a partner endpoint the engine disabled
after the consecutive failures; checked after each report and rating, on the engine's signal and
by the daily sweep; applied in stabilize mode too; told by email and by webhook."""

import importlib

import pytest
from django.apps import apps as django_apps
from django.core import mail
from waffle.models import Switch

from intelligence.services.automation import STABILIZE_SWITCH, stabilize_active
from levqor.webhooks.models import WebhookDelivery, WebhookEndpoint
from levqor.webhooks.signals import webhook_endpoint_disabled
from partners import tasks
from partners.models import Partner, PartnerRating, PartnerReviewEvent
from partners.services.governance import RATING_MIN_COUNT, partner_auto_suspend_check
from partners.services.policy import policy_version_create
from partners.services.ratings import partner_rate
from partners.services.reports import partner_report, partner_report_review
from partners.services.status import partner_status_change
from tests.factories import UserFactory
from tests.partners.governance_support import partner_make

pytestmark = pytest.mark.django_db
REASON = "They never delivered what they sold me."


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run what waits for the commit (the check after a rating or report) as a real commit would."""
    def run(action, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return action(**kwargs)
    return run


@pytest.fixture
def stabilize_on():
    """Stabilize mode on, as the intelligence app's switch turns it (tests/intelligence/test_stabilize.py)."""
    importlib.import_module("intelligence.migrations.0008_i9ops_known_flags").known_flags_create(django_apps, None)
    switch = Switch.objects.get(name=STABILIZE_SWITCH)
    switch.active = True
    switch.save()
    switch.flush()  # waffle forgets its cached value after the commit; the test's transaction never commits
    assert stabilize_active()


def _suspension(partner) -> PartnerReviewEvent | None:
    return PartnerReviewEvent.objects.filter(partner=partner, to_status="suspended").first()


def _status(partner) -> str:
    return Partner.objects.get(pk=partner.pk).status


def test_five_users_reports_suspend_four_do_not(committed, stabilize_on):
    partner = partner_make()
    endpoint = WebhookEndpoint.objects.create(owner=partner.owner, audience="partner", url="https://acme.test/h",
                                              event_types=["partner.suspended"])
    for _ in range(4):
        committed(partner_report, partner=partner, reporter=UserFactory(), reason=REASON)
    assert _status(partner) == "approved" and _suspension(partner) is None

    committed(partner_report, partner=partner, reporter=UserFactory(), reason=REASON)
    assert _status(partner) == "suspended"
    event = _suspension(partner)
    assert event.actor is None
    assert "suspend_user_reports" in event.reason and "5 users reported" in event.reason and "at 5" in event.reason
    # Told as every suspension is: email and the partner.suspended webhook.
    assert mail.outbox[-1].to == [partner.email] and "suspend_user_reports" in mail.outbox[-1].body
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.event_type == "partner.suspended" and "suspend_user_reports" in delivery.body


def test_reports_count_once_per_user_and_dismissed_ones_do_not_count(committed):
    partner = partner_make()
    repeat = UserFactory()
    first = committed(partner_report, partner=partner, reporter=repeat, reason=REASON)
    partner_report_review(report=first, actor=None, decision="upheld", note="Confirmed")
    committed(partner_report, partner=partner, reporter=repeat, reason="And once more, the same problem.")
    dismissed = committed(partner_report, partner=partner, reporter=UserFactory(), reason=REASON)
    partner_report_review(report=dismissed, actor=None, decision="dismissed", note="Not the partner's fault")
    for _ in range(3):
        committed(partner_report, partner=partner, reporter=UserFactory(), reason=REASON)
    # 1 repeated reporter (upheld + open) + 3 others = 4 users; the dismissed one does not count.
    assert _status(partner) == "approved"
    committed(partner_report, partner=partner, reporter=UserFactory(), reason=REASON)
    assert _status(partner) == "suspended"


def _ratings(partner, stars: list[int]) -> None:
    PartnerRating.objects.bulk_create(PartnerRating(partner=partner, user=user, stars=s)
                                      for user, s in zip(UserFactory.create_batch(len(stars)), stars, strict=True))


def test_an_average_of_exactly_2_does_not_suspend_1_99_does(committed, stabilize_on):
    partner = partner_make()
    _ratings(partner, [2] * 99)
    last = UserFactory()
    committed(partner_rate, partner=partner, user=last, stars=2)  # 200 / 100 = 2.00
    partner.refresh_from_db()
    assert (partner.rating_avg, partner.rating_count) == (2, 100)
    assert _status(partner) == "approved"

    committed(partner_rate, partner=partner, user=last, stars=1)  # 199 / 100 = 1.99
    assert _status(partner) == "suspended"
    reason = _suspension(partner).reason
    assert "suspend_rating_below" in reason and "1.99" in reason and "100 ratings" in reason and "below 2.00" in reason


def test_fewer_than_the_minimum_number_of_ratings_never_suspend(committed):
    partner = partner_make()
    for _ in range(RATING_MIN_COUNT - 1):
        committed(partner_rate, partner=partner, user=UserFactory(), stars=1)
    assert _status(partner) == "approved"
    committed(partner_rate, partner=partner, user=UserFactory(), stars=1)
    assert _status(partner) == "suspended"
    assert f"from {RATING_MIN_COUNT} ratings" in _suspension(partner).reason


def test_an_endpoint_the_engine_disabled_suspends_its_partner_in_stabilize_mode_too(stabilize_on):
    partner = partner_make()
    endpoint = WebhookEndpoint.objects.create(owner=partner.owner, audience="partner", url="https://acme.test/h",
                                              event_types=["partner.suspended"], enabled=False,
                                              consecutive_failures=10)
    # As the engine sends it, after the commit that disabled the endpoint.
    webhook_endpoint_disabled.send(sender=WebhookEndpoint, endpoint=endpoint, reason="10 consecutive failures")
    assert _status(partner) == "suspended"
    reason = _suspension(partner).reason
    assert "suspend_failed_webhooks" in reason and "https://acme.test/h" in reason
    assert "after 10 consecutive failed deliveries" in reason and "suspends at 10" in reason
    assert _suspension(partner).actor is None


def test_an_account_endpoint_or_an_owner_without_an_approved_partner_suspends_nothing():
    partner = partner_make()
    account_endpoint = WebhookEndpoint.objects.create(owner=partner.owner, audience="account",
                                                      url="https://acme.test/a", event_types=[], enabled=False,
                                                      consecutive_failures=10)
    webhook_endpoint_disabled.send(sender=WebhookEndpoint, endpoint=account_endpoint, reason="10 failures")
    assert _status(partner) == "approved"

    pending = partner_make(status="pending_approval")
    endpoint = WebhookEndpoint.objects.create(owner=pending.owner, audience="partner", url="https://p.test/h",
                                              event_types=[], enabled=False, consecutive_failures=10)
    webhook_endpoint_disabled.send(sender=WebhookEndpoint, endpoint=endpoint, reason="10 failures")
    assert _status(pending) == "pending_approval"
    lone = WebhookEndpoint.objects.create(owner=UserFactory(), audience="partner", url="https://l.test/h",
                                          event_types=[], enabled=False, consecutive_failures=10)
    webhook_endpoint_disabled.send(sender=WebhookEndpoint, endpoint=lone, reason="10 failures")


def test_the_daily_sweep_applies_a_new_policy_version(operator, stabilize_on):
    partner = partner_make()
    for _ in range(3):
        partner_report(partner=partner, reporter=UserFactory(), reason=REASON)  # no commit hook: nothing checked
    untouched = partner_make(name="Fine Co")
    assert tasks.governance_sweep() == {"checked": 2, "suspended": 0}

    policy_version_create(actor=operator.user, reason="Three reports are enough", suspend_user_reports=3)
    assert tasks.governance_sweep() == {"checked": 2, "suspended": 1}
    assert _status(partner) == "suspended" and _status(untouched) == "approved"
    assert "policy v2" in _suspension(partner).reason and "suspends at 3" in _suspension(partner).reason


def test_the_sweep_finds_a_disabled_endpoint_the_policy_counts(operator):
    partner = partner_make()
    WebhookEndpoint.objects.create(owner=partner.owner, audience="partner", url="https://acme.test/h", event_types=[],
                                   enabled=False, consecutive_failures=6, disabled_at=partner.verified_at)
    assert tasks.governance_sweep()["suspended"] == 0  # 6 < 10
    policy_version_create(actor=operator.user, reason="Fail faster", suspend_failed_webhooks=6)
    assert tasks.governance_sweep()["suspended"] == 1
    assert "after 6 consecutive failed deliveries" in _suspension(partner).reason


def test_a_reinstated_partner_is_not_suspended_again_for_what_staff_weighed(committed, operator):
    partner = partner_make()
    for _ in range(5):
        committed(partner_report, partner=partner, reporter=UserFactory(), reason=REASON)
    assert _status(partner) == "suspended"
    partner_status_change(partner=partner, action="reinstate", actor=operator.user, reason="Reports were a campaign")
    assert tasks.governance_sweep()["suspended"] == 0
    assert _status(partner) == "approved"
    # New reports count again, from the reinstatement on.
    for _ in range(4):
        committed(partner_report, partner=partner, reporter=UserFactory(), reason=REASON)
    assert _status(partner) == "approved"
    committed(partner_report, partner=partner, reporter=UserFactory(), reason=REASON)
    assert _status(partner) == "suspended"


def test_only_approved_partners_are_suspended_and_twice_is_once(committed):
    partner = partner_make()
    for _ in range(5):
        committed(partner_report, partner=partner, reporter=UserFactory(), reason=REASON)
    assert partner_auto_suspend_check(partner=partner) is None  # suspended already
    assert PartnerReviewEvent.objects.filter(partner=partner, to_status="suspended").count() == 1


def test_after_reinstatement_a_low_average_suspends_again_only_on_a_new_rating(committed, operator):
    partner = partner_make()
    for _ in range(3):
        committed(partner_rate, partner=partner, user=UserFactory(), stars=1)
    assert _status(partner) == "suspended"
    partner_status_change(partner=partner, action="reinstate", actor=operator.user, reason="Ratings were a campaign")
    assert tasks.governance_sweep()["suspended"] == 0  # staff weighed these ratings

    # A rating given after the reinstatement is new evidence; the average is still under 2.0.
    committed(partner_rate, partner=partner, user=UserFactory(), stars=4)
    assert _status(partner) == "suspended"
    assert "1.75 from 4 ratings" in _suspension(partner).reason
