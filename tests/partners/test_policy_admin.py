"""The governance policy in admin: versions listed (the one in force marked, who, when, why), each
read-only; "add" is the only change, prefilled from the version in force, with a required reason,
saved through the service, with what it changes shown; the same checks in the form and the service."""

from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from levqor.errors import AppError
from partners.models import PolicyVersion
from partners.services.policy import policy_current, policy_version_create

pytestmark = pytest.mark.django_db
ADD = "admin:partners_policyversion_add"
LIST = "admin:partners_policyversion_changelist"


def _form(**changes) -> dict:
    """The add form as the admin prefills it from policy v1, with `changes`."""
    data = {"revenue_share_default": "0.700", "approval_required": "on", "review_interval_days": "90",
            "review_overdue_days": "14", "forbidden_paths": "/auth/root\n/internal/\n/admin/\n/ops/",
            "listing_price_min_minor": "0", "listing_price_max_minor": "99999", "https_required": "on",
            "webhook_timeout_seconds": "5", "suspend_failed_webhooks": "10", "suspend_user_reports": "5",
            "suspend_rating_below": "2.00", "reason": "Reviewed at the quarterly board"}
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def test_the_add_form_is_prefilled_from_the_version_in_force(operator):
    policy_version_create(actor=operator.user, reason="Slower reviews", review_interval_days=120,
                          forbidden_paths=["/internal/", "/ops/"])
    page = operator.get(reverse(ADD))
    assert page.status_code == 200
    form = page.context["adminform"].form
    assert form.initial["review_interval_days"] == 120
    assert form.initial["forbidden_paths"] == "/internal/\n/ops/"
    assert form.initial["suspend_rating_below"] == Decimal("2.00")
    assert 'name="reason"' in page.content.decode()


def test_adding_makes_the_next_version_through_the_service_and_shows_what_changed(operator):
    response = operator.post(reverse(ADD), _form(review_interval_days="60", suspend_user_reports="3",
                                                 forbidden_paths="/internal/\n/admin/"), follow=True)
    assert response.status_code == 200
    text = " ".join(str(m) for m in get_messages(response.wsgi_request))
    assert "policy v2 is in force" in text
    assert "review_interval_days: 90 &rarr; 60" in text and "suspend_user_reports: 5 &rarr; 3" in text
    assert "revenue_share_default" not in text  # unchanged rules are not listed

    v2 = policy_current()
    assert (v2.version, v2.review_interval_days, v2.suspend_user_reports) == (2, 60, 3)
    assert (v2.created_by, v2.reason, v2.forbidden_paths) == (operator.user, "Reviewed at the quarterly board",
                                                              ["/internal/", "/admin/"])
    v1 = PolicyVersion.objects.get(version=1)
    assert (v1.review_interval_days, v1.suspend_user_reports) == (90, 5)  # never edited in place

    detail = operator.get(reverse("admin:partners_policyversion_change", args=[v2.pk])).content.decode()
    assert "review_interval_days: 90 &rarr; 60" in detail


def test_a_version_that_changes_nothing_is_saved_with_a_warning(operator):
    response = operator.post(reverse(ADD), _form(reason="Confirmed unchanged"), follow=True)
    text = " ".join(str(m) for m in get_messages(response.wsgi_request))
    assert "changes no rule" in text and policy_current().version == 2


@pytest.mark.parametrize("changes, field, message", [
    ({"reason": ""}, "reason", "This field is required"),
    ({"listing_price_min_minor": "5000", "listing_price_max_minor": "100"}, "listing_price_max_minor",
     "below the lowest"),
    ({"revenue_share_default": "1.5"}, "revenue_share_default", "less than or equal to 1"),
    ({"revenue_share_default": "-0.1"}, "revenue_share_default", "greater than or equal to 0"),
    ({"forbidden_paths": "/internal/\ninternal/"}, "forbidden_paths", "starts with"),
    ({"forbidden_paths": "   "}, "forbidden_paths", "This field is required"),
    ({"webhook_timeout_seconds": "0"}, "webhook_timeout_seconds", "greater than or equal to 1"),
    ({"suspend_rating_below": "6"}, "suspend_rating_below", "less than or equal to 5"),
])
def test_invalid_rules_are_shown_on_the_form_and_nothing_is_saved(operator, changes, field, message):
    page = operator.post(reverse(ADD), _form(**changes))
    assert page.status_code == 200
    errors = page.context["adminform"].form.errors
    assert field in errors and message in " ".join(errors[field]), errors
    assert PolicyVersion.objects.count() == 1


def test_versions_are_listed_with_the_one_in_force_marked_and_are_read_only(operator):
    v2 = policy_version_create(actor=operator.user, reason="Stricter on reports", suspend_user_reports=3)
    page = operator.get(reverse(LIST))
    assert page.status_code == 200
    rows = {obj.version: obj for obj in page.context["cl"].result_list}
    admin_ = page.context["cl"].model_admin
    assert admin_.in_force(rows[2]) and not admin_.in_force(rows[1])
    html = page.content.decode()
    assert "Stricter on reports" in html and operator.user.email in html
    assert 'name="action"' not in html  # no bulk actions, bulk delete included

    change_url = reverse("admin:partners_policyversion_change", args=[v2.pk])
    detail = operator.get(change_url)
    assert detail.status_code == 200 and b'name="suspend_user_reports"' not in detail.content  # read-only
    assert operator.post(change_url, {"suspend_user_reports": "9"}).status_code == 403
    assert operator.post(reverse("admin:partners_policyversion_delete", args=[v2.pk]), {"post": "yes"}).status_code == 403
    assert PolicyVersion.objects.get(pk=v2.pk).suspend_user_reports == 3


@pytest.mark.parametrize("rules, field", [
    ({"listing_price_min_minor": 500, "listing_price_max_minor": 100}, "listing_price_max_minor"),
    ({"revenue_share_default": Decimal("1.2")}, "revenue_share_default"),
    ({"forbidden_paths": ["/internal/", ""]}, "forbidden_paths"),
    ({"forbidden_paths": ["ops/"]}, "forbidden_paths"),
    ({"forbidden_paths": []}, "forbidden_paths"),
    ({"forbidden_paths": "/ops/"}, "forbidden_paths"),
    ({"suspend_user_reports": 0}, "suspend_user_reports"),
])
def test_the_service_refuses_the_same_rules_naming_the_field(operator, rules, field):
    with pytest.raises(AppError) as refused:
        policy_version_create(actor=operator.user, reason="A change", **rules)
    assert refused.value.code == "validation_failed"
    assert field in [e["field"] for e in refused.value.details["errors"]]
    assert PolicyVersion.objects.count() == 1
