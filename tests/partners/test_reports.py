"""Users report approved partners with a reason (one open report each), staff review reports in
admin (uphold or dismiss with a required note, open ones first); the API takes reports and lists
them for operators."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from levqor.errors import AppError
from partners.models import Partner, PartnerRating, PartnerReport
from partners.services.reports import partner_report, partner_report_review
from tests.api_asserts import assert_api_error, error_fields
from tests.concurrency import run_together
from tests.factories import UserFactory, api_key_for
from tests.partners.governance_support import partner_make

pytestmark = pytest.mark.django_db
REASON = "They charged me twice and never answered."
CHANGELIST = "admin:partners_partnerreport_changelist"


def _url(partner) -> str:
    return f"/api/v1/partners/{partner.pk}/reports"


def test_a_report_is_open_until_reviewed_and_one_open_report_per_reporter():
    partner = partner_make()
    reporter = UserFactory()
    report = partner_report(partner=partner, reporter=reporter, reason=f"  {REASON}  ")
    assert (report.status, report.reason, report.reporter) == ("open", REASON, reporter)

    with pytest.raises(AppError) as refused:
        partner_report(partner=partner, reporter=reporter, reason="Another thing went wrong.")
    assert (refused.value.code, refused.value.status) == ("report_exists", 409)

    partner_report_review(report=report, actor=None, decision="dismissed", note="Refunded by the partner")
    again = partner_report(partner=partner, reporter=reporter, reason="It happened again this month.")
    assert again.status == "open" and PartnerReport.objects.filter(partner=partner).count() == 2


@pytest.mark.parametrize("reason", ["", "   ", "too short", "x" * 2001, None])
def test_a_reason_of_10_to_2000_characters_is_required(reason):
    with pytest.raises(AppError) as refused:
        partner_report(partner=partner_make(), reporter=UserFactory(), reason=reason)
    assert refused.value.code == "validation_failed"
    assert [e["field"] for e in refused.value.details["errors"]] == ["reason"]


def test_not_on_your_own_partner_nor_on_one_that_is_not_approved():
    partner = partner_make()
    with pytest.raises(AppError) as refused:
        partner_report(partner=partner, reporter=partner.owner, reason=REASON)
    assert refused.value.code == "permission_denied"
    with pytest.raises(AppError) as refused:
        partner_report(partner=partner_make(status="pending_approval"), reporter=UserFactory(), reason=REASON)
    assert refused.value.code == "partner_not_approved"
    assert not PartnerReport.objects.exists()


def test_a_review_needs_a_decision_and_a_note_and_happens_once(operator):
    report = partner_report(partner=partner_make(), reporter=UserFactory(), reason=REASON)
    for decision, note, field in [("upheld", " ", "note"), ("maybe", "why", "decision"), ("upheld", "x" * 501, "note")]:
        with pytest.raises(AppError) as refused:
            partner_report_review(report=report, actor=operator.user, decision=decision, note=note)
        assert [e["field"] for e in refused.value.details["errors"]] == [field]
    partner_report_review(report=report, actor=operator.user, decision="upheld", note="Confirmed with the bank")
    report.refresh_from_db()
    assert (report.status, report.reviewed_by, report.review_note) == ("upheld", operator.user, "Confirmed with the bank")
    assert report.reviewed_at is not None
    with pytest.raises(AppError) as refused:
        partner_report_review(report=report, actor=operator.user, decision="dismissed", note="Changed my mind")
    assert (refused.value.code, refused.value.status) == ("report_not_open", 409)


# --- the API -------------------------------------------------------------------------------------


def test_post_reports_and_a_second_open_report_is_409(api):
    partner = partner_make()
    response = api.post(_url(partner), {"reason": REASON}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["partner_id"], body["reason"], body["status"]) == (str(partner.pk), REASON, "open")
    assert set(body) == {"id", "partner_id", "reason", "status", "created_at"}
    assert_api_error(api.post(_url(partner), {"reason": REASON}, format="json"), 409, "report_exists")


@pytest.mark.parametrize("body", [{}, {"reason": "short"}, {"reason": "x" * 2001}, {"reason": REASON, "stars": 1}])
def test_post_refuses_a_bad_body_naming_the_field(api, body):
    found = assert_api_error(api.post(_url(partner_make()), body, format="json"), 400, "validation_failed")
    assert set(error_fields(found)) <= {"reason", "stars"} and error_fields(found)


def test_reporting_your_own_partner_is_403_and_a_partner_not_approved_is_404(client_for, api):
    partner = partner_make()
    _, owner_key = api_key_for(partner.owner)
    assert_api_error(client_for(owner_key).post(_url(partner), {"reason": REASON}, format="json"), 403,
                     "permission_denied")
    hidden = partner_make(status="suspended")
    assert_api_error(api.post(_url(hidden), {"reason": REASON}, format="json"), 404, "not_found")


def test_reports_are_listed_for_operators_only(api, client_for, operator):
    partner = partner_make()
    for _ in range(3):
        partner_report(partner=partner, reporter=UserFactory(), reason=REASON)
    assert_api_error(api.get(_url(partner)), 403, "insufficient_scope")  # an ordinary key: no admin:read

    staff_key_user, staff_key = api_key_for(scopes=["partners:read", "admin:read"])
    response = client_for(staff_key).get(_url(partner))
    assert response.status_code == 200, response.content
    assert [r["status"] for r in response.json()["results"]] == ["open"] * 3
    assert response.json()["results"][0]["reporter"].endswith("@example.com")

    response = operator.get(_url(partner), {"limit": 2})  # staff, signed in
    assert len(response.json()["results"]) == 2 and response.json()["next"]
    # Operators see reports of a partner that is no longer approved too.
    Partner.objects.filter(pk=partner.pk).update(status="suspended")
    assert operator.get(_url(partner)).status_code == 200


def test_writing_a_report_needs_partners_write(client_for):
    _, read_only = api_key_for(scopes=["partners:read"])
    assert_api_error(client_for(read_only).post(_url(partner_make()), {"reason": REASON}, format="json"), 403,
                     "insufficient_scope")


# --- admin ---------------------------------------------------------------------------------------


def test_admin_lists_open_reports_first_with_filters(operator):
    partner, other = partner_make(), partner_make(name="Other Co")
    old = partner_report(partner=partner, reporter=UserFactory(), reason="The oldest report, still open.")
    done = partner_report(partner=partner, reporter=UserFactory(), reason="A report decided already.")
    partner_report_review(report=done, actor=operator.user, decision="dismissed", note="No evidence")
    partner_report(partner=other, reporter=UserFactory(), reason="A report of the other partner.")

    page = operator.get(reverse(CHANGELIST))
    assert page.status_code == 200
    shown = [report.pk for report in page.context["cl"].result_list]
    assert shown[-1] == done.pk and old.pk in shown[:2]
    assert operator.get(reverse(CHANGELIST), {"status__exact": "open"}).context["cl"].result_count == 2
    assert operator.get(reverse(CHANGELIST), {"partner__id__exact": str(other.pk)}).context["cl"].result_count == 1

    detail = operator.get(reverse("admin:partners_partnerreport_change", args=[old.pk]))
    assert detail.status_code == 200 and "The oldest report, still open." in detail.content.decode()
    assert b'name="reason"' not in detail.content  # read-only
    assert operator.get(reverse("admin:partners_partnerreport_add")).status_code == 403
    assert operator.get(reverse("admin:partners_partnerreport_delete", args=[old.pk])).status_code == 403


@pytest.mark.parametrize("action, decision", [("uphold_reports", "upheld"), ("dismiss_reports", "dismissed")])
def test_admin_actions_ask_for_a_note_on_an_intermediate_page(operator, action, decision):
    partner = partner_make()
    reports = [partner_report(partner=partner, reporter=UserFactory(), reason=REASON) for _ in range(2)]
    partner_report_review(report=reports[1], actor=operator.user, decision="dismissed", note="Earlier decision")
    selected = {"action": action, "_selected_action": [r.pk for r in reports]}

    page = operator.post(reverse(CHANGELIST), selected)
    assert page.status_code == 200 and b'id="review-form"' in page.content  # the note is asked for
    assert PartnerReport.objects.get(pk=reports[0].pk).status == "open"

    page = operator.post(reverse(CHANGELIST), {**selected, "apply": "1", "note": "  "})
    assert page.status_code == 200 and b"This field is required" in page.content
    assert PartnerReport.objects.get(pk=reports[0].pk).status == "open"

    response = operator.post(reverse(CHANGELIST), {**selected, "apply": "1", "note": "Checked the invoices"},
                             follow=True)
    text = " ".join(str(m) for m in get_messages(response.wsgi_request))
    assert "1 report(s)" in text and "1 were reviewed already" in text
    first = PartnerReport.objects.get(pk=reports[0].pk)
    assert (first.status, first.review_note, first.reviewed_by) == (decision, "Checked the invoices", operator.user)
    assert PartnerReport.objects.get(pk=reports[1].pk).review_note == "Earlier decision"


def test_ratings_are_listed_read_only_in_admin(operator):
    from partners.services.ratings import partner_rate

    partner = partner_make()
    partner_rate(partner=partner, user=UserFactory(), stars=4)
    rating = PartnerRating.objects.get()
    page = operator.get(reverse("admin:partners_partnerrating_changelist"))
    assert page.status_code == 200 and page.context["cl"].result_count == 1
    assert operator.get(reverse("admin:partners_partnerrating_add")).status_code == 403
    change = operator.post(reverse("admin:partners_partnerrating_change", args=[rating.pk]), {"stars": 1})
    assert change.status_code == 403
    assert PartnerRating.objects.get().stars == 4


# --- at the same time ----------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_reports_of_one_user_at_once_leave_one_open_report():
    partner = partner_make()
    reporter = UserFactory()
    results, errors = run_together(lambda: partner_report(partner=Partner.objects.get(pk=partner.pk),
                                                          reporter=reporter, reason=REASON))
    assert len(results) == 1 and [e.code for e in errors] == ["report_exists"]
    assert PartnerReport.objects.filter(partner=partner, reporter=reporter, status="open").count() == 1


def test_an_accounts_reports_are_exported_and_unlinked_on_erasure():
    from accounts.personal_data import personal_data_erase, personal_data_export

    partner = partner_make()
    leaving = UserFactory()
    report = partner_report(partner=partner, reporter=leaving, reason=REASON)
    exported = personal_data_export(user=leaving)["partner_reports"]
    assert [(r["partner_name"], r["reason"], r["status"]) for r in exported] == [("Acme Data", REASON, "open")]

    personal_data_erase(user=leaving, actor=None, ip=None)
    report.refresh_from_db()
    assert report.reporter is None and report.reason == REASON  # the record of the partner stays, naming nobody
    assert personal_data_export(user=leaving)["partner_reports"] == []
