"""The daily ops summary: the previous London day in figures from real rows (jobs, request
rollups, incidents, alerts, ledger, users), emailed with a text and an HTML part to OPS_EMAILS,
nothing sent when OPS_EMAILS is empty, and the ops_summary command."""

import logging
from datetime import UTC, date, datetime, timedelta
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command

from intelligence import tasks
from intelligence.models import Alert, Incident, LedgerEntry, MetricHour
from intelligence.services.ledger import ledger_entry_record
from intelligence.services.ops_summary import ops_summary_build, ops_summary_day, ops_summary_send
from jobs.models import Job
from tests.factories import JobFactory, UserFactory
from tests.intelligence.metrics_data import hours_of
from tests.intelligence.rollups import read_as, request_minute

pytestmark = pytest.mark.django_db

DAY = date(2026, 7, 14)  # BST: the London day is 2026-07-13 23:00 .. 2026-07-14 23:00 UTC
INSIDE = datetime(2026, 7, 13, 23, 30, tzinfo=UTC)  # 00:30 London on the 14th
BEFORE = datetime(2026, 7, 13, 22, 30, tzinfo=UTC)  # 23:30 London on the 13th
AFTER = datetime(2026, 7, 14, 23, 10, tzinfo=UTC)  # 00:10 London on the 15th


def _jobs():
    owner = UserFactory(created_at=BEFORE - timedelta(days=30))
    made = []
    for n, (workflow, status) in enumerate([("a.flow", "succeeded")] * 3 + [("a.flow", "failed")]
                                           + [("b.flow", "failed")] * 2 + [(f"w{i}.flow", "queued") for i in range(5)]):
        made.append(JobFactory.build(owner=owner, workflow=workflow, status=status,
                                     created_at=INSIDE + timedelta(minutes=n), finished_at=None))
    for job in made:
        if job.status != "queued":
            job.finished_at = job.created_at + timedelta(minutes=1)
    made.append(JobFactory.build(owner=owner, workflow="a.flow", status="succeeded", created_at=BEFORE,
                                 finished_at=BEFORE))  # the day before: not counted
    made.append(JobFactory.build(owner=owner, workflow="c.flow", status="failed", created_at=BEFORE,
                                 finished_at=INSIDE))  # created before, failed in the day
    Job.objects.bulk_create(made)


def _rows():
    _jobs()
    minutes = [request_minute(datetime(2026, 7, 14, 10, 0, tzinfo=UTC), [200] * 98, errors=2),
               request_minute(INSIDE.replace(minute=31), [200, 200]),
               request_minute(BEFORE, [5000] * 50, errors=50)]  # the day before: not counted
    MetricHour.objects.bulk_create(hours_of(minutes))  # as the rollup keeps them: a day reads the hours
    Incident.objects.create(opened_at=INSIDE, title="p99 over target", status=Incident.Status.RESOLVED,
                            resolved_at=INSIDE + timedelta(hours=1))
    Incident.objects.create(opened_at=BEFORE, title="still open", status=Incident.Status.OPEN)
    for severity, at in [("critical", INSIDE), ("warning", INSIDE), ("warning", INSIDE), ("info", AFTER)]:
        Alert.objects.create(source="test", severity=severity, title="t", dedup_key=f"{severity}{at}", first_seen=at,
                             last_seen=at)
    for n, (kind, amount, currency, day) in enumerate([
            (LedgerEntry.Kind.REVENUE, 5000, "GBP", DAY), (LedgerEntry.Kind.REFUND, 1000, "GBP", DAY),
            (LedgerEntry.Kind.STRIPE_FEE, 150, "GBP", DAY), (LedgerEntry.Kind.REVENUE, 2000, "USD", DAY),
            (LedgerEntry.Kind.REVENUE, 9999, "GBP", DAY - timedelta(days=1))]):
        ledger_entry_record(day=day, kind=kind, amount_minor=amount, currency=currency, source=f"test:{n}")
    UserFactory(created_at=INSIDE)
    UserFactory(created_at=AFTER - timedelta(minutes=11))  # 23:59 London on the 14th
    UserFactory(created_at=AFTER)


def test_the_summary_counts_the_london_day_from_real_rows():
    _rows()
    s = ops_summary_build(day=DAY)
    assert (s["since"], s["until"]) == ("2026-07-13T23:00:00+00:00", "2026-07-14T23:00:00+00:00")
    assert (s["jobs"]["created"], s["jobs"]["succeeded"], s["jobs"]["failed"]) == (11, 3, 4)
    assert len(s["jobs"]["by_workflow"]) == 5
    assert s["jobs"]["by_workflow"][:2] == [{"workflow": "a.flow", "created": 4, "succeeded": 3, "failed": 1},
                                            {"workflow": "b.flow", "created": 2, "succeeded": 0, "failed": 2}]
    assert s["requests"] == {"count": 100, "errors": 2, "error_rate_pct": 2.0, "p95_ms": round(read_as(200), 1)}
    assert s["incidents"] == {"opened": 1, "resolved": 1, "open_now": 1}
    assert s["alerts"] == {"raised": 3, "by_severity": {"critical": 1, "warning": 2}, "resolved": 0}
    assert s["money"]["GBP"]["revenue"] == 5000 and s["money"]["GBP"]["refunds"] == 1000
    assert s["money"]["GBP"]["stripe_fees"] == 150 and s["money"]["GBP"]["net"] == 5000 - 1150
    assert s["money"]["USD"]["revenue"] == 2000
    assert s["users"]["signups"] == 2


def test_the_day_the_clocks_go_back_has_25_hours_and_yesterday_is_londons():
    s = ops_summary_build(day=date(2026, 10, 25))
    assert (s["since"], s["until"]) == ("2026-10-24T23:00:00+00:00", "2026-10-26T00:00:00+00:00")
    assert ops_summary_day(now=datetime(2026, 7, 14, 23, 30, tzinfo=UTC)) == date(2026, 7, 14)  # 00:30 on the 15th
    assert ops_summary_day(now=datetime(2026, 7, 15, 8, 0, tzinfo=UTC)) == DAY


def test_it_is_emailed_to_ops_with_text_and_html_parts(settings):
    settings.OPS_EMAILS = ["ops@example.com", "cto@example.com"]
    _rows()
    assert ops_summary_send(now=datetime(2026, 7, 15, 8, 0, 5, tzinfo=UTC)) == settings.OPS_EMAILS
    [message] = mail.outbox
    assert message.to == settings.OPS_EMAILS and message.subject == "Levqor ops summary for 2026-07-14"
    assert "Jobs: 11 created, 3 succeeded, 4 failed" in message.body
    assert "a.flow: 4 created, 3 succeeded, 1 failed" in message.body
    assert "GBP: revenue 50.00 GBP, refunds 10.00 GBP" in message.body
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    assert "<td>a.flow</td>" in html and "50.00 GBP" in html and "2.0 %" in html


def test_nothing_is_sent_when_ops_emails_is_not_configured(settings, caplog):
    settings.OPS_EMAILS = []
    with caplog.at_level(logging.INFO, logger="intelligence.services.ops_summary"):
        assert ops_summary_send() == []
        assert tasks.ops_summary_email() == []
    assert mail.outbox == []
    assert "not configured" in caplog.text


def test_the_task_sends_yesterdays_summary(settings):
    settings.OPS_EMAILS = ["ops@example.com"]
    assert tasks.ops_summary_email() == ["ops@example.com"]
    assert mail.outbox[0].subject.startswith("Levqor ops summary for ")


def test_the_command_prints_it_and_sends_it_only_when_asked(settings):
    settings.OPS_EMAILS = ["ops@example.com"]
    _rows()
    out = StringIO()
    call_command("ops_summary", "--day", "2026-07-14", stdout=out)
    assert "Ops summary for 2026-07-14 (Europe/London)." in out.getvalue()
    assert "Jobs: 11 created" in out.getvalue() and mail.outbox == []
    call_command("ops_summary", "--day", "2026-07-14", "--send", stdout=out)
    assert "Sent to 1 address." in out.getvalue()
    assert [m.subject for m in mail.outbox] == ["Levqor ops summary for 2026-07-14"]
    settings.OPS_EMAILS = []
    call_command("ops_summary", "--send", stdout=out)
    assert "Not sent: OPS_EMAILS is not configured." in out.getvalue()
