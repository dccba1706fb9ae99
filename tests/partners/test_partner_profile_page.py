"""The public page of an approved partner: name and rating for everyone; for a signed-in user,
forms to rate (showing their rating) and to report, Post/Redirect/Get, CSRF, errors shown."""

import pytest
from django.test import Client

from partners.models import Partner, PartnerRating, PartnerReport
from partners.services.ratings import partner_rate
from tests.factories import UserFactory
from tests.partners.governance_support import partner_make

pytestmark = pytest.mark.django_db
REASON = "The partner's export lost half of my records."


def _page(partner) -> str:
    return f"/partners/{partner.pk}"


def _signed_in(user=None) -> Client:
    client = Client()
    client.user = user or UserFactory(terms_accepted=True)
    client.force_login(client.user)
    return client


def test_anyone_sees_the_name_and_rating_and_is_asked_to_sign_in(client):
    partner = partner_make(name="Acme <Data>")
    for stars in (5, 4):
        partner_rate(partner=partner, user=UserFactory(), stars=stars)
    page = client.get(_page(partner))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Acme &lt;Data&gt;" in html and "<Data>" not in html  # escaped
    assert "Rated <strong>4.50</strong> of 5 by 2 users" in html
    assert f"/login?returnTo=/partners/{partner.pk}" in html
    assert 'id="rating-form"' not in html and 'id="report-form"' not in html


def test_a_partner_that_is_not_approved_or_is_deleted_has_no_page(client):
    for status in ("pending_approval", "suspended", "rejected"):
        assert client.get(_page(partner_make(status=status))).status_code == 404
    deleted = partner_make()
    Partner.objects.filter(pk=deleted.pk).update(deleted_at=deleted.created_at)
    assert client.get(_page(deleted)).status_code == 404


def test_rating_posts_redirects_and_shows_my_rating_which_i_can_change():
    partner = partner_make()
    browser = _signed_in()
    html = browser.get(_page(partner)).content.decode()
    assert 'id="rating-form"' in html and "You have not rated it yet." in html and "Not rated yet." in html

    response = browser.post(f"{_page(partner)}/rating", {"stars": "4"})
    assert response.status_code == 302 and response["Location"] == _page(partner)
    html = browser.get(_page(partner)).content.decode()
    assert "Thank you: your rating is 4 of 5." in html
    assert "You rated it 4 of 5." in html and 'value="4" checked' in html
    assert "Rated <strong>4.00</strong> of 5 by 1 user." in html

    browser.post(f"{_page(partner)}/rating", {"stars": "2"})
    assert PartnerRating.objects.get(partner=partner, user=browser.user).stars == 2


@pytest.mark.parametrize("stars", ["", "0", "6", "many"])
def test_a_bad_rating_is_shown_as_an_error(stars):
    partner = partner_make()
    page = _signed_in().post(f"{_page(partner)}/rating", {"stars": stars})
    assert page.status_code == 400
    assert "Choose 1 to 5 stars." in page.content.decode()
    assert not PartnerRating.objects.exists()


def test_reporting_posts_redirects_and_a_second_open_report_is_refused_with_a_message():
    partner = partner_make()
    browser = _signed_in()
    response = browser.post(f"{_page(partner)}/report", {"reason": REASON})
    assert response.status_code == 302 and response["Location"] == _page(partner)
    assert "your report was sent" in browser.get(_page(partner)).content.decode()
    assert PartnerReport.objects.get().reason == REASON

    page = browser.post(f"{_page(partner)}/report", {"reason": "And another problem since then."})
    assert page.status_code == 409
    assert "You already have an open report on this partner" in page.content.decode()
    assert PartnerReport.objects.count() == 1


def test_a_short_reason_is_shown_as_an_error_and_kept_in_the_form():
    partner = partner_make()
    page = _signed_in().post(f"{_page(partner)}/report", {"reason": "bad"})
    assert page.status_code == 400
    html = page.content.decode()
    assert "at least 10 characters" in html and ">bad</textarea>" in html
    assert not PartnerReport.objects.exists()


def test_the_owner_sees_no_forms_and_cannot_post():
    partner = partner_make()
    owner = _signed_in(partner.owner)
    html = owner.get(_page(partner)).content.decode()
    assert "This is your partner" in html and 'id="rating-form"' not in html
    page = owner.post(f"{_page(partner)}/rating", {"stars": "5"})
    assert page.status_code == 403 and not PartnerRating.objects.exists()


def test_signed_out_posts_go_to_sign_in_and_posts_need_the_csrf_token(client):
    partner = partner_make()
    response = client.post(f"{_page(partner)}/rating", {"stars": "5"})
    assert response.status_code == 302 and response["Location"].startswith("/login")

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(UserFactory(terms_accepted=True))
    assert strict.post(f"{_page(partner)}/rating", {"stars": "5"}).status_code == 403
    assert strict.post(f"{_page(partner)}/report", {"reason": REASON}).status_code == 403
    assert not PartnerRating.objects.exists() and not PartnerReport.objects.exists()
    assert _signed_in().get(f"{_page(partner)}/rating").status_code == 405  # forms post; a GET changes nothing
