"""POST referrals/track (old contract) and GET analytics, computed in SQL."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import DEFAULT_SCOPES, Referral, User
from tests.api_asserts import assert_api_error, error_fields
from tests.conftest import post_json
from tests.factories import UserFactory, api_key_for

pytestmark = pytest.mark.django_db


def test_track_records_a_referral_and_links_a_known_user(api):
    known = UserFactory(email="known@example.com")
    response = post_json(api, "/api/v1/referrals/track",
                         {"email": " Known@Example.com", "source": "twitter", "campaign": "spring", "medium": "social"})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["ok"] is True and set(body) == {"ok", "referral_id"}
    referral = Referral.objects.get(pk=body["referral_id"])
    assert (referral.email, referral.user_id, referral.source, referral.campaign, referral.medium) == (
        "known@example.com", known.pk, "twitter", "spring", "social")

    unknown = post_json(api, "/api/v1/referrals/track", {"email": "stranger@example.com"})
    assert unknown.status_code == 201
    referral = Referral.objects.get(pk=unknown.json()["referral_id"])
    assert referral.user is None and referral.source == "direct" and referral.campaign == ""


def test_track_validates_and_needs_users_write(api, client_for):
    body = assert_api_error(post_json(api, "/api/v1/referrals/track", {"email": "nope", "source": "x" * 101}),
                            400, "validation_failed")
    assert error_fields(body) == ["email", "source"]
    _, read_only = api_key_for(scopes=["users:read"])
    assert_api_error(post_json(client_for(read_only), "/api/v1/referrals/track", {"email": "a@example.com"}),
                     403, "insufficient_scope")
    assert not Referral.objects.exists()


def _referral(source, days_ago):
    Referral.objects.create(email=f"{source}{days_ago}@example.com", source=source,
                            created_at=timezone.now() - timedelta(days=days_ago, minutes=1))


def test_analytics_counts_users_and_referrals_in_sql(client_for, django_assert_max_num_queries):
    operator, raw = api_key_for(scopes=[*DEFAULT_SCOPES, "admin:read"])
    User.objects.filter(pk=operator.pk).update(created_at=timezone.now() - timedelta(days=40))
    UserFactory()  # today
    UserFactory(created_at=timezone.now() - timedelta(days=10))
    UserFactory(created_at=timezone.now() - timedelta(days=31))
    for source, days in [("twitter", 1), ("twitter", 2), ("twitter", 20), ("google", 3), ("google", 40),
                         ("newsletter", 10), ("direct", 29)]:
        _referral(source, days)
    client = client_for(raw)
    client.get("/api/v1/analytics")  # the key's first use is recorded once; count the steady state
    # 1 users aggregate + 1 referral totals + 1 grouped sources + the cached key (no query)
    with django_assert_max_num_queries(3):
        response = client.get("/api/v1/analytics")
    assert response.status_code == 200, response.json()
    assert response.json() == {
        "users": {"total": 4, "new_7d": 1, "new_30d": 2},
        "referrals": {"total_7d": 3, "total_30d": 6, "top_sources": [
            {"source": "twitter", "count": 3}, {"source": "direct", "count": 1}, {"source": "google", "count": 1},
            {"source": "newsletter", "count": 1}]},
    }


def test_analytics_is_for_operators_only(api):
    assert_api_error(api.get("/api/v1/analytics"), 403, "insufficient_scope")
    assert_api_error(APIClient().get("/api/v1/analytics"), 401, "not_authenticated")
    customer = APIClient()
    customer.force_login(UserFactory())
    assert_api_error(customer.get("/api/v1/analytics"), 403, "permission_denied")
    staff = APIClient()
    staff.force_login(UserFactory(is_staff=True))
    response = staff.get("/api/v1/analytics")
    assert response.status_code == 200 and response.json()["users"]["total"] == User.objects.count() == 3
