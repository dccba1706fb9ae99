"""The registry's services: applying (validation field by field, the policy's default share and
approval rule, one partner per account, also under a race), changing and deleting a partner."""

from decimal import Decimal

import pytest

from levqor.errors import AppError, ErrorCode
from levqor.webhooks.events import webhook_audience_allowed
from levqor.webhooks.models import WebhookDelivery, WebhookEndpoint
from partners.models import Partner, PartnerReviewEvent
from partners.services.policy import policy_version_create
from partners.services.registry import partner_delete, partner_register, partner_update
from partners.services.status import partner_status_change
from partners.signals import partner_deleted
from tests.concurrency import run_together
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

GOOD = {"name": "Acme Automations", "email": "partners@acme.example", "webhook_url": "https://hooks.acme.example/levqor"}


def register(owner=None, **changes):
    return partner_register(owner=owner or UserFactory(), **{**GOOD, **changes})


def refused(**changes) -> AppError:
    with pytest.raises(AppError) as caught:
        register(**changes)
    return caught.value


def test_an_application_is_pending_with_the_policys_share_a_trail_row_and_a_partner_endpoint():
    owner = UserFactory()
    partner = register(owner, metadata={"website": "https://acme.example"})
    assert partner.status == "pending_approval" and partner.revenue_share == Decimal("0.700")
    assert partner.metadata == {"website": "https://acme.example"}
    event = PartnerReviewEvent.objects.get(partner=partner)
    assert (event.from_status, event.to_status, event.reason, event.actor) == ("", "pending_approval", "applied", owner)
    endpoint = WebhookEndpoint.objects.get(owner=owner)
    assert endpoint.audience == "partner" and endpoint.url == GOOD["webhook_url"] and endpoint.enabled
    # Every event a partner may receive: its own, and the marketplace's about its listings, orders and payouts.
    assert set(endpoint.event_types) == {"partner.verified", "partner.suspended", "review.due", "audit.completed",
                                         "listing.approved", "listing.rejected", "order.completed", "order.refunded",
                                         "payout.paid"}
    assert webhook_audience_allowed(owner, "partner") and not webhook_audience_allowed(UserFactory(), "partner")


@pytest.mark.parametrize("changes, field", [
    ({"name": ""}, "name"), ({"name": "   "}, "name"), ({"name": "x" * 201}, "name"), ({"name": 5}, "name"),
    ({"email": "not-an-email"}, "email"), ({"email": None}, "email"),
    ({"webhook_url": None}, "webhook_url"),
    ({"revenue_share": "abc"}, "revenue_share"), ({"revenue_share": True}, "revenue_share"),
    ({"revenue_share": float("nan")}, "revenue_share"), ({"revenue_share": 1.5}, "revenue_share"),
    ({"revenue_share": -0.1}, "revenue_share"), ({"revenue_share": 0.12345}, "revenue_share"),
    ({"revenue_share": [0.5]}, "revenue_share"), ({"revenue_share": "Infinity"}, "revenue_share"),
    ({"metadata": ["a"]}, "metadata"), ({"metadata": "text"}, "metadata"),
    ({"metadata": {"notes": "x" * 17_000}}, "metadata"),
])
def test_each_bad_field_is_refused_by_name(changes, field):
    error = refused(**changes)
    assert error.code == "validation_failed"
    assert [e["field"] for e in error.details["errors"]] == [field]
    assert not Partner.objects.exists()


def test_every_bad_field_is_named_at_once():
    error = refused(name="", email="nope", webhook_url="ftp://x.example/h", revenue_share="abc")
    assert error.code == "validation_failed"
    assert [e["field"] for e in error.details["errors"]] == ["email", "name", "revenue_share", "webhook_url"]


@pytest.mark.parametrize("url", ["ftp://hooks.acme.example/h", "https:///no-host", "hooks.acme.example/h", "http://[::1"])
def test_a_webhook_url_that_is_no_http_url_with_a_host_is_invalid_webhook_url(url):
    error = refused(webhook_url=url)
    assert error.code == "invalid_webhook_url" and error.details["field"] == "webhook_url"


def test_https_is_required_when_the_policy_and_production_require_it(settings):
    settings.WEBHOOK_HTTPS_ONLY = True
    error = refused(webhook_url="http://hooks.acme.example/h")
    assert error.code == "invalid_webhook_url" and "https" in error.message
    assert register(webhook_url="https://hooks.acme.example/h").pk


def test_a_webhook_url_reaching_a_private_address_is_refused(settings_outbound_strict):
    for url in ("https://127.0.0.1/h", "https://10.1.2.3/h", "https://169.254.169.254/latest/meta-data"):
        error = refused(webhook_url=url)
        assert error.code == "invalid_webhook_url" and error.details["field"] == "webhook_url"


@pytest.mark.parametrize("share, stored", [(0, "0.000"), (1, "1.000"), (0.55, "0.550"), ("0.25", "0.250")])
def test_a_revenue_share_in_range_is_kept(share, stored):
    assert register(revenue_share=share).revenue_share == Decimal(stored)


def test_the_default_share_follows_the_policy_in_force(operator):
    policy_version_create(actor=operator.user, reason="Better terms", revenue_share_default=Decimal("0.75"))
    assert register().revenue_share == Decimal("0.750")


def test_one_live_partner_per_account_and_a_new_one_after_deleting():
    owner = UserFactory()
    first = register(owner)
    error = refused(owner=owner)
    assert error.code == "partner_exists" and error.status == 409
    partner_delete(partner=first, actor=owner)
    assert register(owner).pk != first.pk


def test_two_applications_at_once_make_one_partner(transactional_db):
    """Both pass the first check; the partial unique index decides (PostgreSQL: a real race)."""
    owner = UserFactory()
    results, errors = run_together(lambda: register(owner))
    assert len(results) == 1 and [e.code for e in errors] == ["partner_exists"]
    assert Partner.objects.filter(owner=owner).count() == 1


def test_without_approval_required_an_application_is_approved_at_once(operator, django_capture_on_commit_callbacks):
    policy = policy_version_create(actor=operator.user, reason="Open program", approval_required=False)
    with django_capture_on_commit_callbacks(execute=False):
        partner = register()
    partner.refresh_from_db()
    assert partner.status == "approved" and partner.verified_at and partner.next_review_at
    trail = list(PartnerReviewEvent.objects.filter(partner=partner).order_by("at", "id")
                 .values_list("to_status", "actor", "reason"))
    assert trail == [("pending_approval", partner.owner_id, "applied"),
                     ("approved", None, f"Approval not required by policy v{policy.version}")]
    assert WebhookDelivery.objects.get(owner=partner.owner).event_type == "partner.verified"


def test_the_owner_changes_name_email_metadata_and_webhook_url_moves_the_endpoint():
    partner = register()
    endpoint = WebhookEndpoint.objects.get(owner=partner.owner)
    partner_update(partner=partner, actor=partner.owner, name="Acme Ltd", email="new@acme.example",
                   webhook_url="https://new.acme.example/hooks", metadata={"tier": "gold"})
    partner.refresh_from_db()
    endpoint.refresh_from_db()
    assert (partner.name, partner.email, partner.metadata) == ("Acme Ltd", "new@acme.example", {"tier": "gold"})
    assert partner.webhook_url == endpoint.url == "https://new.acme.example/hooks"
    assert WebhookEndpoint.objects.filter(owner=partner.owner).count() == 1


def test_the_owner_may_not_change_the_revenue_share_staff_may(operator):
    partner = register()
    with pytest.raises(AppError) as caught:
        partner_update(partner=partner, actor=partner.owner, revenue_share=0.9)
    assert caught.value.code == "permission_denied" and caught.value.details == {"field": "revenue_share"}
    partner_update(partner=partner, actor=operator.user, operator=True, revenue_share=0.8)
    partner.refresh_from_db()
    assert partner.revenue_share == Decimal("0.800")


def test_unknown_and_status_fields_are_refused_and_others_cannot_change_it():
    partner = register()
    with pytest.raises(AppError) as caught:
        partner_update(partner=partner, actor=partner.owner, status="approved", colour="red")
    assert caught.value.code == "validation_failed"
    assert [e["field"] for e in caught.value.details["errors"]] == ["colour", "status"]
    with pytest.raises(AppError) as caught:
        partner_update(partner=partner, actor=UserFactory(), name="Mine now")
    assert caught.value.code == "not_found"
    with pytest.raises(AppError) as caught:
        partner_update(partner=partner, actor=partner.owner, webhook_url="gopher://x")
    assert caught.value.code == "invalid_webhook_url"


def test_delete_is_soft_disables_the_endpoints_keeps_the_trail_and_tells_the_other_parts():
    partner = register()
    heard = []

    def receiver(sender, partner, actor, **kwargs):
        heard.append((partner.pk, actor))

    partner_deleted.connect(receiver)
    try:
        partner_delete(partner=partner, actor=partner.owner)
    finally:
        partner_deleted.disconnect(receiver)
    assert heard == [(partner.pk, partner.owner)]
    partner.refresh_from_db()
    assert partner.deleted_at is not None
    endpoint = WebhookEndpoint.objects.get(owner=partner.owner)
    assert not endpoint.enabled and endpoint.disabled_reason
    assert list(PartnerReviewEvent.objects.filter(partner=partner).order_by("at", "id")
                .values_list("to_status", flat=True)) == ["pending_approval", "deleted"]
    with pytest.raises(AppError) as caught:
        partner_delete(partner=partner, actor=partner.owner)
    assert caught.value.code == "not_found"


@pytest.mark.parametrize("action", [["approve"], {"approve": 1}, None, 1])
def test_a_review_action_that_is_not_text_is_validation_failed_not_a_crash(action):
    partner = register()
    with pytest.raises(AppError) as refusal:
        partner_status_change(partner=partner, action=action, actor=None, reason="Checked")
    assert refusal.value.code == ErrorCode.VALIDATION_FAILED and refusal.value.details["field"] == "action"
    partner.refresh_from_db()
    assert partner.status == "pending_approval"

