"""Users rate approved partners 1 to 5: one rating per user per partner, changeable, the average
kept on the partner; the API answers the new average; not one's own partner, not one that is not
approved; two requests of one user at once leave one rating (PostgreSQL)."""

from decimal import Decimal

import pytest

from levqor.errors import AppError
from partners.models import Partner, PartnerRating
from partners.services.ratings import partner_rate, partner_rating_delete
from tests.api_asserts import assert_api_error, error_fields
from tests.concurrency import run_together
from tests.factories import UserFactory, api_key_for
from tests.partners.governance_support import partner_make

pytestmark = pytest.mark.django_db


def _url(partner) -> str:
    return f"/api/v1/partners/{partner.pk}/rating"


def test_ratings_keep_the_partners_average_and_count_and_a_user_changes_theirs():
    partner = partner_make()
    alice, bob = UserFactory(), UserFactory()
    partner_rate(partner=partner, user=alice, stars=5)
    rating = partner_rate(partner=partner, user=bob, stars=4)
    assert (rating.partner.rating_avg, rating.partner.rating_count) == (Decimal("4.50"), 2)

    partner_rate(partner=partner, user=bob, stars=1)  # changed, not added
    partner.refresh_from_db()
    assert PartnerRating.objects.filter(partner=partner).count() == 2
    assert (partner.rating_avg, partner.rating_count) == (Decimal("3.00"), 2)

    partner_rating_delete(partner=partner, user=alice)
    partner.refresh_from_db()
    assert (partner.rating_avg, partner.rating_count) == (Decimal("1.00"), 1)
    partner_rating_delete(partner=partner, user=bob)
    partner.refresh_from_db()
    assert (partner.rating_avg, partner.rating_count) == (None, 0)
    with pytest.raises(AppError) as refused:
        partner_rating_delete(partner=partner, user=bob)
    assert refused.value.code == "not_found"


def test_the_average_is_rounded_to_two_places():
    partner = partner_make()
    for stars in (5, 4, 4):
        partner_rate(partner=partner, user=UserFactory(), stars=stars)
    partner.refresh_from_db()
    assert partner.rating_avg == Decimal("4.33")


@pytest.mark.parametrize("stars", [0, 6, -1, "3", 3.5, True, None])
def test_stars_outside_1_to_5_are_refused_naming_stars(stars):
    partner = partner_make()
    with pytest.raises(AppError) as refused:
        partner_rate(partner=partner, user=UserFactory(), stars=stars)
    assert refused.value.code == "validation_failed"
    assert [e["field"] for e in refused.value.details["errors"]] == ["stars"]
    assert not PartnerRating.objects.exists()


@pytest.mark.parametrize("status", ["pending_approval", "suspended", "rejected"])
def test_only_approved_partners_can_be_rated(status):
    partner = partner_make(status=status)
    with pytest.raises(AppError) as refused:
        partner_rate(partner=partner, user=UserFactory(), stars=4)
    assert refused.value.code == "partner_not_approved"


def test_a_deleted_partner_cannot_be_rated():
    partner = partner_make()
    Partner.objects.filter(pk=partner.pk).update(deleted_at=partner.created_at)
    with pytest.raises(AppError) as refused:
        partner_rate(partner=partner, user=UserFactory(), stars=4)
    assert refused.value.code == "partner_not_approved"


def test_an_owner_cannot_rate_their_own_partner():
    partner = partner_make()
    with pytest.raises(AppError) as refused:
        partner_rate(partner=partner, user=partner.owner, stars=5)
    assert refused.value.code == "permission_denied"
    assert not PartnerRating.objects.exists()


# --- the API -------------------------------------------------------------------------------------


def test_put_rates_and_answers_the_new_average_get_shows_mine_delete_withdraws_it(api, client_for):
    partner = partner_make()
    other_user, other_key = api_key_for()
    assert client_for(other_key).put(_url(partner), {"stars": 2}, format="json").status_code == 200

    assert_api_error(api.get(_url(partner)), 404, "not_found")  # not rated yet
    response = api.put(_url(partner), {"stars": 5}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["stars"] == 5
    assert body["partner"] == {"id": str(partner.pk), "rating_avg": 3.5, "rating_count": 2}

    response = api.put(_url(partner), {"stars": 4}, format="json")
    assert response.json()["partner"]["rating_avg"] == 3.0 and response.json()["partner"]["rating_count"] == 2
    assert api.get(_url(partner)).json()["stars"] == 4

    assert api.delete(_url(partner)).status_code == 204
    assert_api_error(api.get(_url(partner)), 404, "not_found")
    assert_api_error(api.delete(_url(partner)), 404, "not_found")
    partner.refresh_from_db()
    assert (partner.rating_avg, partner.rating_count) == (Decimal("2.00"), 1)


@pytest.mark.parametrize("body", [{"stars": 0}, {"stars": 6}, {"stars": "five"}, {"stars": True}, {}, {"stars": 3, "x": 1}])
def test_put_refuses_a_bad_body_naming_the_field(api, body):
    partner = partner_make()
    found = assert_api_error(api.put(_url(partner), body, format="json"), 400, "validation_failed")
    assert set(error_fields(found)) & {"stars", "x"}
    assert not PartnerRating.objects.exists()


@pytest.mark.parametrize("status", ["pending_approval", "suspended"])
def test_a_partner_that_is_not_approved_is_not_found(api, status):
    partner = partner_make(status=status)
    assert_api_error(api.put(_url(partner), {"stars": 4}, format="json"), 404, "not_found")
    assert_api_error(api.get(_url(partner)), 404, "not_found")


def test_an_unknown_or_deleted_partner_is_not_found(api):
    partner = partner_make()
    Partner.objects.filter(pk=partner.pk).update(deleted_at=partner.created_at)
    assert_api_error(api.put(_url(partner), {"stars": 4}, format="json"), 404, "not_found")
    assert_api_error(api.put("/api/v1/partners/00000000-0000-0000-0000-000000000000/rating", {"stars": 4},
                             format="json"), 404, "not_found")


def test_the_owner_is_refused(client_for):
    partner = partner_make()
    _, raw = api_key_for(partner.owner)
    assert_api_error(client_for(raw).put(_url(partner), {"stars": 5}, format="json"), 403, "permission_denied")


def test_writing_needs_partners_write_and_reading_partners_read(client_for):
    partner = partner_make()
    _, read_only = api_key_for(scopes=["partners:read"])
    _, write_only = api_key_for(scopes=["partners:write"])
    assert_api_error(client_for(read_only).put(_url(partner), {"stars": 4}, format="json"), 403, "insufficient_scope")
    assert client_for(write_only).put(_url(partner), {"stars": 4}, format="json").status_code == 200
    assert_api_error(client_for(write_only).get(_url(partner)), 403, "insufficient_scope")
    assert_api_error(client_for(read_only).delete(_url(partner)), 403, "insufficient_scope")


def test_without_credentials_it_is_401(client):
    partner = partner_make()
    response = client.put(_url(partner), data='{"stars": 4}', content_type="application/json")
    assert response.status_code == 401


# --- at the same time ----------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_ratings_of_one_user_at_once_leave_one_row_and_a_true_average():
    partner = partner_make()
    rater = UserFactory()
    partner_rate(partner=partner, user=UserFactory(), stars=1)
    for _ in range(5):
        values = iter([2, 5])

        def rate(values=values):
            return partner_rate(partner=Partner.objects.get(pk=partner.pk), user=rater, stars=next(values))

        results, errors = run_together(rate)
        assert not errors, errors
        [row] = PartnerRating.objects.filter(partner=partner, user=rater)
        partner.refresh_from_db()
        assert partner.rating_count == 2
        assert partner.rating_avg == Decimal(row.stars + 1) / 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_ratings_of_many_users_at_once_are_all_counted():
    partner = partner_make()
    raters = [UserFactory() for _ in range(4)]
    queue = iter(zip(raters, [1, 2, 4, 5], strict=True))

    def rate():
        user, stars = next(queue)
        return partner_rate(partner=Partner.objects.get(pk=partner.pk), user=user, stars=stars)

    results, errors = run_together(rate, threads=4)
    assert not errors, errors
    partner.refresh_from_db()
    assert (partner.rating_avg, partner.rating_count) == (Decimal("3.00"), 4)


def test_an_accounts_ratings_are_exported_and_erased_with_the_averages_following():
    from accounts.personal_data import personal_data_erase, personal_data_export

    partner, other = partner_make(), partner_make(name="Other Co")
    leaving, staying = UserFactory(), UserFactory()
    partner_rate(partner=partner, user=leaving, stars=1)
    partner_rate(partner=other, user=leaving, stars=2)
    partner_rate(partner=partner, user=staying, stars=5)
    exported = personal_data_export(user=leaving)["partner_ratings"]
    assert [(r["partner_name"], r["stars"]) for r in exported] == [("Acme Data", 1), ("Other Co", 2)]

    personal_data_erase(user=leaving, actor=None, ip=None)
    assert not PartnerRating.objects.filter(user=leaving).exists()
    partner.refresh_from_db()
    other.refresh_from_db()
    assert (partner.rating_avg, partner.rating_count) == (Decimal("5.00"), 1)
    assert (other.rating_avg, other.rating_count) == (None, 0)
