"""Partner audits against a real local receiving server: a receiver that verifies signatures passes,
one that accepts a wrong signature or does not answer fails; https, status, reports, rating, failed
deliveries and review findings; the audit.completed webhook; the quarterly task picks only due
partners; the admin lists audits and runs one on demand."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.messages.storage.fallback import FallbackStorage
from django.test import Client, RequestFactory
from django.utils import timezone

from levqor.webhooks.models import WebhookDelivery, WebhookEndpoint
from levqor.webhooks.signing import webhook_verify
from partners import tasks
from partners.models import Partner, PartnerAudit, PartnerReport
from partners.services.audits import Finding, audit_outcome, partner_audit_run, partner_audits_due
from partners.services.policy import policy_version_create
from tests.factories import UserFactory
from tests.jobs.support import tasks_drain
from tests.partners.audit_support import partner_approved, receiver_verifying
from tests.webhook_receiver import SlowReceiver

pytestmark = pytest.mark.django_db


def _finding(audit, check):
    found = [f for f in audit.findings if f["check"] == check]
    assert found, f"no {check} finding in {audit.findings}"
    return found[0] if len(found) == 1 else found


def _problems(audit):
    return {f["check"]: f["severity"] for f in audit.findings if not f["ok"]}


def _endpoint(partner):
    return WebhookEndpoint.objects.get(owner=partner.owner, audience="partner")


def test_a_receiver_that_verifies_signatures_passes_and_gets_audit_completed(fake_server, operator):
    partner = partner_approved(url=fake_server.url + "/hooks")
    endpoint = _endpoint(partner)
    receiver_verifying(fake_server, endpoint.secret)

    audit = partner_audit_run(partner=partner, trigger="manual", actor=operator.user)

    # Every check passes; the fake receiver is plain http, which outside production is only a warning.
    assert _problems(audit) == {"https": "warning"} and audit.outcome == "warn", audit.findings
    assert (audit.trigger, audit.requested_by, audit.policy_version) == ("manual", operator.user, 1)
    assert audit.started_at <= audit.finished_at
    assert {f["check"] for f in audit.findings} >= {"endpoint_answers", "endpoint_verifies_signatures", "https",
                                                    "status", "reports", "rating", "failed_deliveries",
                                                    "consecutive_failures", "review"}
    assert all(f["ok"] and f["severity"] == "info" for f in audit.findings if f["check"] != "https")
    # What the receiver got: the signed message, then the same bytes with a signature it cannot verify.
    good, bad = fake_server.requests
    assert good["body"] == bad["body"] and json.loads(good["body"])["type"] == "audit.ping"
    assert webhook_verify(secret=endpoint.secret, headers=good["headers"], body=good["body"])
    assert not webhook_verify(secret=endpoint.secret, headers=bad["headers"], body=bad["body"])
    assert good["headers"]["user-agent"] == "Levqor-Audit/1"
    # The test messages are not stored deliveries; the audit's result is one, to the partner's endpoint.
    [delivery] = WebhookDelivery.objects.filter(endpoint=endpoint, event_type="audit.completed")
    data = json.loads(delivery.body)["data"]
    assert data == {"partner_id": str(partner.pk), "audit_id": audit.pk, "outcome": "warn", "findings": audit.findings}
    assert delivery.source == f"partners.audit:{audit.pk}"
    assert not WebhookDelivery.objects.filter(event_type="audit.ping").exists()


def test_a_receiver_that_accepts_a_wrong_signature_does_not_verify_critical(fake_server):
    partner = partner_approved(url=fake_server.url + "/hooks")
    audit = partner_audit_run(partner=partner, trigger="manual")  # the fake answers 200 to everything
    assert audit.outcome == "fail"
    finding = _finding(audit, "endpoint_verifies_signatures")
    assert (finding["ok"], finding["severity"]) == (False, "critical")
    assert "does not verify signatures" in finding["detail"]
    assert len(fake_server.requests) == 2
    partner.refresh_from_db()
    assert partner.status == "approved"  # an audit records; it never suspends


def test_a_receiver_answering_500_fails_and_is_not_sent_the_wrong_signature(fake_server):
    partner = partner_approved(url=fake_server.url + "/hooks")
    fake_server.responses = [(500, {"error": "boom"})]
    audit = partner_audit_run(partner=partner, trigger="manual")
    assert audit.outcome == "fail"
    finding = _finding(audit, "endpoint_answers")
    assert finding["severity"] == "critical" and "answered HTTP 500" in finding["detail"]
    assert len(fake_server.requests) == 1
    assert "endpoint_verifies_signatures" not in {f["check"] for f in audit.findings}


def test_an_unreachable_endpoint_is_critical(closed_port):
    partner = partner_approved(url=f"http://127.0.0.1:{closed_port}/hooks")
    audit = partner_audit_run(partner=partner, trigger="scheduled")
    finding = _finding(audit, "endpoint_answers")
    assert audit.outcome == "fail" and finding["severity"] == "critical"
    assert "could not be reached" in finding["detail"]


def test_a_receiver_dripping_its_answer_is_cut_off_at_the_policy_s_timeout(operator):
    """The audit posts through the engine's webhook_post: the policy's timeout is a deadline on the
    whole exchange, so a receiver sending its headers a byte every 0.3 s does not hold the audit."""
    import time

    receiver = SlowReceiver("drip_headers")
    try:
        policy_version_create(actor=operator.user, reason="A tighter timeout", webhook_timeout_seconds=1)
        partner = partner_approved(url=receiver.url)
        started = time.monotonic()
        audit = partner_audit_run(partner=partner, trigger="manual")
        assert time.monotonic() - started < 1.8
    finally:
        receiver.close()
    finding = _finding(audit, "endpoint_answers")
    assert finding["severity"] == "critical" and "no answer within 1 s" in finding["detail"]


def test_a_receiver_that_refuses_with_a_5xx_instead_of_a_4xx_is_a_warning(fake_server):
    partner = partner_approved(url=fake_server.url + "/hooks")
    fake_server.responses = [(200, {}), (503, {})]
    audit = partner_audit_run(partner=partner, trigger="manual")
    assert _problems(audit) == {"https": "warning", "endpoint_verifies_signatures": "warning"}
    assert audit.outcome == "warn"


def test_an_endpoint_during_rotation_is_sent_both_signatures(fake_server):
    partner = partner_approved(url=fake_server.url + "/hooks")
    endpoint = _endpoint(partner)
    old = endpoint.secret
    endpoint.previous_secret, endpoint.previous_secret_expires_at = old, timezone.now() + timedelta(hours=1)
    endpoint.secret = "whsec_" + "QUJD" * 11
    endpoint.save()
    receiver_verifying(fake_server, old)  # a receiver that still knows only the previous secret
    audit = partner_audit_run(partner=partner, trigger="manual")
    assert _finding(audit, "endpoint_answers")["ok"] and _finding(audit, "endpoint_verifies_signatures")["ok"]
    assert len(fake_server.requests[0]["headers"]["webhook-signature"].split(" ")) == 2


def test_http_is_a_warning_outside_production_and_critical_when_https_is_required(fake_server, settings):
    partner = partner_approved(url=fake_server.url + "/hooks")
    receiver_verifying(fake_server, _endpoint(partner).secret)
    settings.WEBHOOK_HTTPS_ONLY = False
    audit = partner_audit_run(partner=partner, trigger="manual")
    https = _finding(audit, "https")
    assert https["severity"] == "warning" and "not https" in https["detail"] and audit.outcome == "warn"
    assert len(fake_server.requests) == 2

    settings.WEBHOOK_HTTPS_ONLY = True
    audit = partner_audit_run(partner=partner, trigger="manual")
    assert _finding(audit, "https")["severity"] == "critical" and audit.outcome == "fail"
    answers = _finding(audit, "endpoint_answers")
    assert answers["severity"] == "critical" and "https is required" in answers["detail"]
    assert len(fake_server.requests) == 2  # nothing sent to a plain-http URL when https is required


def test_https_endpoints_pass_the_https_check(settings):
    settings.WEBHOOK_HTTPS_ONLY = True
    partner = partner_approved(url=None)
    audit = partner_audit_run(partner=partner, trigger="manual")
    assert _finding(audit, "https")["ok"]
    # No endpoint: nothing to sign for, and the partner receives no events: a warning.
    assert _problems(audit) == {"endpoint_answers": "warning"} and audit.outcome == "warn"


def test_a_disabled_endpoint_is_reported_not_called(fake_server):
    partner = partner_approved(url=fake_server.url + "/hooks")
    WebhookEndpoint.objects.filter(owner=partner.owner).update(enabled=False, disabled_reason="10 failures")
    audit = partner_audit_run(partner=partner, trigger="manual")
    finding = _finding(audit, "endpoint_answers")
    assert finding["severity"] == "warning" and "10 failures" in finding["detail"]
    assert fake_server.requests == []


def test_the_outcome_is_fail_on_any_critical_warn_on_any_warning_else_pass():
    ok, warning, critical = (Finding("a", True, "info", ""), Finding("b", False, "warning", ""),
                             Finding("c", False, "critical", ""))
    assert audit_outcome([ok, ok]) == "pass"
    assert audit_outcome([ok, warning]) == "warn"
    assert audit_outcome([warning, critical, ok]) == "fail"


def _report(partner, status="open"):
    PartnerReport.objects.create(partner=partner, reporter=UserFactory(), reason="Spam", status=status)


def test_open_or_upheld_reports_against_the_policy_threshold(settings):
    partner = partner_approved(url=None)
    _report(partner)
    _report(partner, "dismissed")
    audit = partner_audit_run(partner=partner, trigger="manual")
    reports = _finding(audit, "reports")
    assert reports["severity"] == "warning" and reports["detail"].startswith("1 open or upheld report(s)")
    for status in ("open", "upheld", "upheld", "open"):
        _report(partner, status)
    audit = partner_audit_run(partner=partner, trigger="manual")
    reports = _finding(audit, "reports")
    assert reports["severity"] == "critical" and "5 open or upheld" in reports["detail"] and audit.outcome == "fail"
    # The threshold is the policy's: a new version with 6 makes it a warning again.
    policy_version_create(actor=None, reason="test", suspend_user_reports=6)
    audit = partner_audit_run(partner=partner, trigger="manual")
    assert _finding(audit, "reports")["severity"] == "warning" and audit.policy_version == 2


def test_the_audit_counts_reports_as_auto_suspend_does():
    """One per reporter, and only since the last approval: the audit's finding and the auto-suspend
    rule read the same number (partners.selectors.partner_reports_counted)."""
    partner = partner_approved(url=None)
    reporter = UserFactory()
    PartnerReport.objects.create(partner=partner, reporter=reporter, reason="Spam", status="upheld")
    PartnerReport.objects.create(partner=partner, reporter=reporter, reason="Spam again", status="open")
    PartnerReport.objects.create(partner=partner, reporter=UserFactory(), reason="Before approval", status="upheld",
                                 created_at=partner.verified_at - timedelta(days=1))
    audit = partner_audit_run(partner=partner, trigger="manual")
    assert _finding(audit, "reports")["detail"].startswith("1 open or upheld report(s)")


@pytest.mark.parametrize("avg, count, severity", [(None, 0, "info"), ("4.50", 3, "info"), ("2.80", 3, "warning"),
                                                  ("1.90", 3, "critical"), ("1.00", 2, "warning")])
def test_the_rating_against_the_policy_floor(avg, count, severity):
    """Critical where auto-suspend would act: below the floor from RATING_MIN_COUNT (3) ratings."""
    partner = partner_approved(url=None)
    Partner.objects.filter(pk=partner.pk).update(rating_avg=Decimal(avg) if avg else None, rating_count=count)
    audit = partner_audit_run(partner=partner, trigger="manual")
    assert _finding(audit, "rating")["severity"] == severity


def _failed_delivery(endpoint, *, days_ago=1, n=0):
    return WebhookDelivery.objects.create(owner=endpoint.owner, endpoint=endpoint, url=endpoint.url,
                                          event_type="partner.verified", body="{}", msg_id=f"msg_{days_ago}_{n}",
                                          status="failed", created_at=timezone.now() - timedelta(days=days_ago))


def test_failed_deliveries_of_the_last_30_days_and_the_failure_streak(fake_server):
    partner = partner_approved(url=fake_server.url + "/hooks")
    endpoint = _endpoint(partner)
    receiver_verifying(fake_server, endpoint.secret)
    for n in range(3):
        _failed_delivery(endpoint, n=n)
    _failed_delivery(endpoint, days_ago=31)  # outside the window
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(consecutive_failures=4)
    audit = partner_audit_run(partner=partner, trigger="manual")
    failed = _finding(audit, "failed_deliveries")
    assert failed["severity"] == "warning" and failed["detail"].startswith("3 failed")
    assert _finding(audit, "consecutive_failures")["severity"] == "warning"

    for n in range(3, 10):
        _failed_delivery(endpoint, n=n)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(consecutive_failures=10)
    audit = partner_audit_run(partner=partner, trigger="manual")
    assert _finding(audit, "failed_deliveries")["severity"] == "critical"
    assert _finding(audit, "consecutive_failures")["severity"] == "critical" and audit.outcome == "fail"


def test_status_and_review_findings(clock):
    partner = partner_approved(url=None)
    clock.advance(95 * 86400)  # the review fell due 5 days ago
    audit = partner_audit_run(partner=partner, trigger="manual")
    review = _finding(audit, "review")
    assert review["severity"] == "warning" and "overdue" in review["detail"]
    clock.advance(10 * 86400)
    assert _finding(partner_audit_run(partner=partner, trigger="manual"), "review")["severity"] == "critical"

    Partner.objects.filter(pk=partner.pk).update(status="suspended", status_reason="Too many reports")
    status = _finding(partner_audit_run(partner=partner, trigger="manual"), "status")
    assert status["severity"] == "warning" and "Too many reports" in status["detail"]
    Partner.objects.filter(pk=partner.pk).update(deleted_at=timezone.now())
    assert _finding(partner_audit_run(partner=partner, trigger="manual"), "status")["severity"] == "critical"


def test_audits_are_append_only_rows_with_their_policy_version():
    partner = partner_approved(url=None)
    first = partner_audit_run(partner=partner, trigger="scheduled")
    second = partner_audit_run(partner=partner, trigger="manual")
    assert list(PartnerAudit.objects.filter(partner=partner)) == [second, first]
    assert first.requested_by is None


def _approved_days_ago(name, days):
    partner = partner_approved(url=None, name=name)
    Partner.objects.filter(pk=partner.pk).update(verified_at=timezone.now() - timedelta(days=days))
    return partner


def _audited_days_ago(partner, days):
    moment = timezone.now() - timedelta(days=days)
    PartnerAudit.objects.create(partner=partner, trigger="scheduled", started_at=moment, finished_at=moment,
                                outcome="pass", findings=[], policy_version=1)


def test_the_quarterly_task_audits_only_the_partners_due_each_as_its_own_task():
    never = _approved_days_ago("Never", 91)  # approved 91 days ago, never audited: due
    stale = _approved_days_ago("Stale", 200)
    _audited_days_ago(stale, 95)  # last audit 95 days ago: due
    recent = _approved_days_ago("Recent", 200)
    _audited_days_ago(recent, 10)  # audited 10 days ago: not due
    _approved_days_ago("New", 10)  # approved 10 days ago: not due
    suspended = _approved_days_ago("Suspended", 200)
    Partner.objects.filter(pk=suspended.pk).update(status="suspended")  # only approved partners
    deleted = _approved_days_ago("Deleted", 200)
    Partner.objects.filter(pk=deleted.pk).update(deleted_at=timezone.now())

    assert partner_audits_due() == [stale.pk, never.pk]  # the longest-waiting first
    assert partner_audits_due(limit=1) == [stale.pk]  # bounded per run
    assert tasks.partner_audits_due() == 2
    ran = tasks_drain()
    assert sorted((func, args) for func, args, _ in ran) == sorted(
        ("partners.tasks.partner_audit_run", (str(pk), "scheduled")) for pk in (never.pk, stale.pk))
    assert set(PartnerAudit.objects.filter(trigger="scheduled", started_at__gte=timezone.now() - timedelta(minutes=5))
               .values_list("partner__name", flat=True)) == {"Never", "Stale"}
    # Audited now: the next run finds nobody due, and a task queued twice does not audit again.
    assert tasks.partner_audits_due() == 0
    assert tasks.partner_audit_run(str(never.pk), "scheduled") is None
    assert PartnerAudit.objects.filter(partner=never).count() == 1


# --- admin --------------------------------------------------------------------------------------------------

def test_the_admin_lists_audits_with_readable_findings_and_filters(operator):
    partner = partner_approved(url=None)
    audit = partner_audit_run(partner=partner, trigger="manual", actor=operator.user)
    page = operator.get("/admin/partners/partneraudit/?outcome__exact=warn&trigger__exact=manual")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Acme" in text and "endpoint_answers (warning)" in text
    assert operator.get("/admin/partners/partneraudit/?outcome__exact=pass").content.decode().count("Acme") == 0
    detail = operator.get(f"/admin/partners/partneraudit/{audit.pk}/change/").content.decode()
    assert '<table class="audit-findings">' in detail and "No partner webhook endpoint" in detail
    assert operator.get("/admin/partners/partneraudit/add/").status_code == 403  # append-only


def test_run_audit_now_from_admin_is_staff_only_and_a_post(fake_server, operator):
    partner = partner_approved(url=fake_server.url + "/hooks")
    receiver_verifying(fake_server, _endpoint(partner).secret)
    url = f"/admin/partners/partneraudit/run/{partner.pk}/"
    page = operator.get(url)
    assert page.status_code == 200 and 'id="audit-run-form"' in page.content.decode()
    assert not PartnerAudit.objects.exists() and fake_server.requests == []  # a GET runs nothing

    response = operator.post(url)
    audit = PartnerAudit.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/admin/partners/partneraudit/{audit.pk}/change/"
    assert (audit.trigger, audit.requested_by, audit.outcome) == ("manual", operator.user, "warn")  # http: a warning

    # CSRF: a POST without the token is refused.
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(operator.user)
    assert strict.post(url).status_code == 403
    # Not staff: sent to the admin's sign-in, nothing run.
    member = Client()
    member.force_login(UserFactory())
    assert member.post(url).status_code == 302 and PartnerAudit.objects.count() == 1


def test_the_admin_action_runs_audits_of_the_selected_partners(operator):
    from django.contrib import admin

    from partners.admin.audits import partner_audit_action

    first, second = partner_approved(url=None, name="One"), partner_approved(url=None, name="Two")
    request = RequestFactory().post("/admin/partners/partner/")
    request.user = operator.user
    request.session = {}
    request._messages = FallbackStorage(request)
    modeladmin = admin.site._registry[PartnerAudit]
    partner_audit_action(modeladmin, request, Partner.objects.filter(pk__in=[first.pk, second.pk]))
    audits = PartnerAudit.objects.filter(trigger="manual", requested_by=operator.user)
    assert set(audits.values_list("partner__name", flat=True)) == {"One", "Two"}
    assert len(list(request._messages)) == 2
