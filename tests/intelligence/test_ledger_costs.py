"""The ledger's other feeds: each finished UTC day's AI cost from live-mode jobs (summed, then
rounded half up to cents), the backfill command, a month's infrastructure cost spread over its
days and replaced when edited (in admin too), and partner payouts recorded and settled."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db.models import Sum
from django.utils import timezone

from intelligence.models import InfraCost, LedgerEntry
from intelligence.services.ledger import ledger_payout_record, ledger_payout_settle, ledger_report
from intelligence.services.ledger_costs import (
    infra_cost_delete,
    infra_cost_save,
    infra_cost_spread,
    ledger_ai_cost_day_record,
    ledger_ai_cost_days,
)
from jobs.execution import job_run_next
from jobs.models import Job
from jobs.selectors import job_live_spend_since
from jobs.services import job_retry
from jobs.workflows import JobError, Workflow
from levqor.errors import AppError
from tests.factories import JobFactory, UserFactory
from tests.jobs.support import job_make_due, job_submit, workflow_registered

pytestmark = pytest.mark.django_db


def _job(finished_at, cost, **kwargs):
    return JobFactory(status=Job.Status.SUCCEEDED, finished_at=finished_at, actual_cost=Decimal(cost), **kwargs)


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


# --- AI cost ----------------------------------------------------------------------------------------------------

def test_a_days_ai_cost_is_its_live_jobs_summed_then_rounded_half_up_to_cents():
    day = timezone.now().date() - timedelta(days=2)
    owner = UserFactory()
    _job(_at(day, 0, 0), "0.004", owner=owner)       # first moment of the day: counted
    _job(_at(day, 23, 59), "0.001", owner=owner)     # 0.005 in all: half a cent, rounded up (per job: 0 + 0)
    _job(_at(day, 12), "9.000", owner=owner, livemode=False)      # test mode: not a cost
    _job(_at(day + timedelta(days=1), 0, 0), "5", owner=owner)   # the next day
    JobFactory(owner=owner, status=Job.Status.RUNNING, actual_cost=Decimal("3"))  # not finished

    entry, created = ledger_ai_cost_day_record(day=day)
    assert created
    assert (entry.kind, entry.amount_minor, entry.currency, entry.day, entry.source) == (
        "ai_cost", 1, "USD", day, f"jobs:ai_cost:{day.isoformat()}")
    assert entry.memo == "2 live-mode jobs ran"

    _job(_at(day, 13), "1.2345", owner=owner)  # arrives late: the recorded day stands (first record of a source)
    assert ledger_ai_cost_day_record(day=day) == (entry, False)
    assert LedgerEntry.objects.count() == 1


def test_cents_round_half_up_on_the_days_total():
    day = timezone.now().date() - timedelta(days=1)
    _job(_at(day, 10), "1.234999")
    _job(_at(day, 11), "0.000001")
    _job(_at(day, 12), "0.010000")  # 1.245000 in all: 1.25 half up, where banker's rounding would give 1.24
    entry, _ = ledger_ai_cost_day_record(day=day)
    assert entry.amount_minor == 125


def test_today_is_not_recorded_it_has_not_finished():
    with pytest.raises(ValueError, match="has not finished"):
        ledger_ai_cost_day_record(day=timezone.now().date())


def test_the_schedule_fills_each_missing_finished_day_once(clock):
    today = timezone.now().date()
    _job(_at(today - timedelta(days=3), 8), "0.50")
    _job(_at(today - timedelta(days=1), 8), "0.25")
    _job(timezone.now(), "7")  # today's: not recorded
    assert ledger_ai_cost_days(days=3) == 3
    assert ledger_ai_cost_days(days=3) == 0  # again: nothing new
    assert sorted(LedgerEntry.objects.values_list("day", "amount_minor")) == [
        (today - timedelta(days=3), 50), (today - timedelta(days=2), 0), (today - timedelta(days=1), 25)]

    clock.advance(24 * 3600)  # the next night: only the day that has just finished is new
    assert ledger_ai_cost_days(days=3) == 1
    assert LedgerEntry.objects.get(day=today).amount_minor == 700


def test_the_backfill_command_prints_each_day(capsys, settings):
    settings.STRIPE_SECRET_KEY = ""
    yesterday = timezone.now().date() - timedelta(days=1)
    _job(_at(yesterday, 9), "12.345")
    LedgerEntry.objects.create(day=yesterday - timedelta(days=1), kind="ai_cost", amount_minor=7, currency="USD",
                               source=f"jobs:ai_cost:{(yesterday - timedelta(days=1)).isoformat()}", memo="earlier run")
    call_command("ledger_backfill", "--days", "3")
    out = capsys.readouterr().out
    assert f"{yesterday}       12.35 USD  recorded (1 live-mode jobs ran)" in out
    assert f"{yesterday - timedelta(days=1)}        0.07 USD  already recorded (earlier run)" in out
    assert "AI cost: 2 day(s) recorded, 1 there already." in out
    assert "STRIPE_SECRET_KEY is not set; live Stripe money was not checked." in out
    call_command("ledger_backfill", "--days", "3")
    assert LedgerEntry.objects.count() == 3


def _spends(costs_and_outcomes):
    """A workflow whose each run spends the next amount, then fails for good or succeeds."""
    def handle(ctx, payload):
        cost, outcome = costs_and_outcomes.pop(0)
        ctx.actual_cost = Decimal(cost)
        if outcome == "fail":
            raise JobError("upstream_refused", "Refused after spending.")
        return {"ok": True}
    return Workflow(name="test.spends", description="", payload_schema={"type": "object"}, handler=handle,
                    estimate_cost=lambda payload: Decimal("0.05"), timeout_seconds=5, max_attempts=1)


def test_a_job_retried_days_later_counts_each_runs_cost_on_its_own_day_once(clock):
    day = timezone.now().date()
    with workflow_registered(_spends([("1.00", "fail"), ("0.50", "ok")])):
        job = job_submit(UserFactory(), "test.spends")
        job_run_next()
        clock.advance(24 * 3600)
        ledger_ai_cost_days(days=1)  # the night after: the failed run's 1.00 on its day
        clock.advance(24 * 3600)
        job.refresh_from_db()
        job_retry(job=job)  # two days later, the customer retries it: it runs again and succeeds
        job_make_due(job)
        job_run_next()
    job.refresh_from_db()
    assert (job.status, job.actual_cost) == ("succeeded", Decimal("1.50"))  # the job's cost: both runs
    assert job_live_spend_since(since=timezone.now() - timedelta(hours=24)) == Decimal("0.5")  # autoscale's 24 h
    clock.advance(24 * 3600)
    ledger_ai_cost_days(days=3)
    assert sorted(LedgerEntry.objects.filter(kind="ai_cost").values_list("day", "amount_minor")) == [
        (day, 100), (day + timedelta(days=1), 0), (day + timedelta(days=2), 50)]  # 1.50 in all, not 2.50


# --- infrastructure cost ----------------------------------------------------------------------------------------

def test_a_month_is_spread_over_its_days_adding_up_exactly():
    spread = infra_cost_spread(month=date(2026, 2, 1), amount_minor=10000)  # 28 days
    assert len(spread) == 28 and sum(a for _, a in spread) == 10000
    assert spread[0] == (date(2026, 2, 1), 358) and spread[-1] == (date(2026, 2, 28), 357)  # 10000 = 28*357 + 4


def test_entering_and_editing_a_month_replaces_its_entries():
    staff = UserFactory(is_staff=True)
    cost = infra_cost_save(infra_cost=InfraCost(), month=date(2026, 11, 17), currency="usd", amount_minor=30000,
                           note="hosting", entered_by=staff)
    assert (cost.month, cost.currency, cost.revision, cost.entered_by) == (date(2026, 11, 1), "USD", 1, staff)
    entries = LedgerEntry.objects.filter(kind="infra_cost")  # never evaluated itself: each use asks afresh
    assert entries.count() == 30 and set(entries.values_list("amount_minor", flat=True)) == {1000}
    assert entries.get(day=date(2026, 11, 5)).source == f"infra:{cost.pk}:r1:2026-11-05"

    infra_cost_save(infra_cost=cost, month=cost.month, currency="USD", amount_minor=31000, entered_by=staff)
    assert cost.revision == 2
    assert entries.count() == 30 and entries.aggregate(total=Sum("amount_minor"))["total"] == 31000
    assert not entries.filter(source__contains=":r1:").exists()

    with pytest.raises(AppError) as refused:  # a second bill for the same month and currency
        infra_cost_save(infra_cost=InfraCost(), month=date(2026, 11, 1), currency="USD", amount_minor=1)
    assert refused.value.details["errors"][0]["field"] == "month"

    infra_cost_delete(infra_cost=cost)
    assert not entries.exists() and not InfraCost.objects.exists()


def test_any_30_day_window_carries_its_share_of_the_months():
    infra_cost_save(infra_cost=InfraCost(), month=date(2026, 10, 1), currency="USD", amount_minor=31000)  # 31 days
    infra_cost_save(infra_cost=InfraCost(), month=date(2026, 11, 1), currency="USD", amount_minor=60000)  # 30 days
    # 17 Oct .. 15 Nov: 15 October days at 10.00 and 15 November days at 20.00.
    report = ledger_report(days=30, now=datetime(2026, 11, 15, 12, tzinfo=UTC))
    assert report["currencies"]["USD"]["infra_cost"] == 15 * 1000 + 15 * 2000


def test_the_admin_form_takes_major_units_and_says_what_is_wrong(operator):
    url = "/admin/intelligence/infracost/add/"
    form = operator.get(url)
    assert form.status_code == 200 and 'type="month"' in form.content.decode()
    created = operator.post(url, {"month": "2026-11", "currency": "usd", "amount": "1234.56", "note": "VMs"})
    assert created.status_code == 302, created.content.decode()
    cost = InfraCost.objects.get()
    assert (cost.amount_minor, cost.currency, cost.entered_by) == (123456, "USD", operator.user)
    assert LedgerEntry.objects.filter(kind="infra_cost").aggregate(total=Sum("amount_minor"))["total"] == 123456

    edit = operator.get(f"/admin/intelligence/infracost/{cost.pk}/change/").content.decode()
    assert 'value="2026-11"' in edit and 'value="1234.56"' in edit
    operator.post(f"/admin/intelligence/infracost/{cost.pk}/change/",
                  {"month": "2026-11", "currency": "USD", "amount": "1500", "note": "VMs"})
    cost.refresh_from_db()
    assert (cost.amount_minor, cost.revision) == (150000, 2)
    assert LedgerEntry.objects.filter(kind="infra_cost").aggregate(total=Sum("amount_minor"))["total"] == 150000

    for data, message in [
        ({"month": "11/2026", "currency": "USD", "amount": "1"}, "Enter the month as YYYY-MM, e.g. 2026-11."),
        ({"month": "2026-13", "currency": "USD", "amount": "1"}, "Enter the month as YYYY-MM, e.g. 2026-11."),
        ({"month": "2026-10", "currency": "US", "amount": "1"}, "Enter a 3-letter currency code, e.g. USD."),
        ({"month": "2026-10", "currency": "USD", "amount": "1.234"}, "USD amounts have 2 decimal places at most"),
        ({"month": "2026-10", "currency": "JPY", "amount": "1.5"}, "JPY amounts have 0 decimal places at most"),
        ({"month": "2026-10", "currency": "USD", "amount": "-1"}, "Ensure this value is greater than or equal to 0."),
        ({"month": "2026-11", "currency": "USD", "amount": "1"}, "already"),
    ]:
        page = operator.post(url, {**data, "note": ""})
        assert page.status_code == 200 and message in page.content.decode(), data
    assert InfraCost.objects.count() == 1

    operator.post(f"/admin/intelligence/infracost/{cost.pk}/delete/", {"post": "yes"})
    assert not LedgerEntry.objects.exists()


# --- payouts ----------------------------------------------------------------------------------------------------

def test_a_payout_is_recorded_once_pending_and_settled():
    entry, created = ledger_payout_record(order_ref="ord_1", amount_minor=1330, currency="usd", day=date(2026, 11, 20),
                                          pending=True)
    assert created and (entry.kind, entry.source, entry.currency, entry.pending) == ("payout", "payout:ord_1", "USD", True)
    assert ledger_payout_record(order_ref="ord_1", amount_minor=1330, currency="usd", day=date(2026, 11, 20),
                                pending=True) == (entry, False)
    ledger_payout_record(order_ref="ord_2", amount_minor=700, currency="usd", day=date(2026, 11, 21), pending=False)
    now = datetime(2026, 11, 25, tzinfo=UTC)
    assert ledger_report(now=now)["currencies"]["USD"]["payouts_pending"] == 1330

    settled = ledger_payout_settle(order_ref="ord_1")
    assert settled.pk == entry.pk and not settled.pending
    assert ledger_payout_settle(order_ref="ord_1").pending is False  # again: no change
    usd = ledger_report(now=now)["currencies"]["USD"]
    assert (usd["payouts"], usd["payouts_pending"]) == (2030, 0)

    with pytest.raises(AppError) as missing:
        ledger_payout_settle(order_ref="ord_unknown")
    assert missing.value.code == "not_found"
