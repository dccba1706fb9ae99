"""Issue 9's recurring jobs as django-q2 schedules: each exists exactly once after migrate, as
declared, runnable and visible in admin; a tick runs once even when two schedulers look at the
same moment; and after downtime a schedule runs once, not once per missed tick."""

import pydoc
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.models import Schedule
from django_q.scheduler import scheduler

from levqor.schedules import schedules_declared
from tests.concurrency import run_together
from tests.intelligence.schedule_probe import probe_run, probe_runs, probe_table_create, probe_table_drop
from tests.jobs.support import tasks_drain
from tests.levqor.test_edge import _check_page

# Every recurring job of the intelligence app (issue 9 section 9), by name, with its cadence:
# the one list to extend when a part of the issue adds a schedule. The test below fails when the
# app declares one that is not listed here, or lists one it does not declare.
EXPECTED_SCHEDULES = {
    "intelligence.anomaly_scan": "every minute",
    "intelligence.slo_watchdog": "every 5 minutes",
    "intelligence.autotune": "every 60 minutes",
    "intelligence.alert_deliveries_sweep": "every 2 minutes",
    "intelligence.rollup": "every minute",
    "intelligence.metrics_purge": "daily at 03:30 UTC",
    "intelligence.ledger_ai_cost": "daily at 00:15 UTC",  # yesterday's AI cost from the jobs
    "intelligence.ledger_reconcile": "daily at 01:00 UTC",  # Stripe money the webhook processing missed
    "intelligence.autoscale": "every minute",  # issue 11 section 6: the profit-driven autoscale decision
    "intelligence.autoscale_purge": "daily at 03:40 UTC",  # decisions past AUTOSCALE_RETENTION_DAYS
    "intelligence.discounts": "daily at 00:30 UTC",  # issue 11 §4: the day's discount, expired codes ended
    "intelligence.pricing": "daily at 01:15 UTC",  # issue 11 §3: the first run of a month suggests the price
    "intelligence.retention_aggregate": "daily at 00:05 UTC",  # growth: DAU/WAU/MAU, paying users, cohorts
    "intelligence.growth_aggregate": "daily at 00:10 UTC",  # growth by source
    "intelligence.notion_sync_health": "every 360 minutes",  # issue 13 §3: a health row in Notion
    "intelligence.notion_sync_costs": "daily at 01:30 UTC",  # the ledger's days per currency, after the reconcile
    "intelligence.notion_sync_registry": "every 60 minutes",  # partners, catalog, audits
    "intelligence.integrity_check": "daily at 05:30 UTC",  # issue 13 §4: end to end, PDF evidence
    # Issue 13 at London time, kept there across DST (levqor.schedules.schedule_local).
    "intelligence.ops_summary_email": "daily at 09:00 Europe/London",  # yesterday in figures to OPS_EMAILS
    "intelligence.weekly_report_email": "Sundays at 09:00 Europe/London",  # part A: the weekly PDF report
    "intelligence.notion_sync_pulse": "Fridays at 14:00 Europe/London",  # part C: the weekly pulse in Notion
}
# The other apps' schedules (app label -> name -> cadence); each app declares its own.
OTHER_APP_SCHEDULES = {
    "webhooks": {"webhooks.deliveries_sweep": "every 2 minutes"},
    "partners": {
        "partners.audits_due": "daily at 05:00 UTC",  # each approved partner audited 90 days after its last audit
        "partners.review_cycle": "daily at 06:00 UTC",
        "partners.governance_sweep": "daily at 04:15 UTC",
    },
    "marketplace": {
        "marketplace.stripe_events_sweep": "every 5 minutes",  # Stripe events left `received` re-enqueued
        "marketplace.subscriptions_due_sweep": "every 15 minutes",  # period-end downgrades, grace expiries
        "marketplace.subscriptions_cancel_sweep": "every 15 minutes",  # erased accounts' subscriptions cancelled
        "marketplace.payouts_run": "daily at 03:00 UTC",  # partners' shares transferred after the hold
    },
}
PROBE = "tests.intelligence.schedule_probe.probe_run"


@pytest.fixture
def probe_table(transactional_db):
    """The probe's table, in a transactional test: django-q2's scheduler closes the connection
    (close_old_connections), which a test inside one transaction would not survive."""
    probe_table_create()
    yield
    probe_table_drop()


@pytest.mark.django_db
def test_every_schedule_of_the_intelligence_app_exists_once_after_migrate():
    declared = schedules_declared("intelligence")
    assert {name: spec.cadence for name, spec in declared.items()} == EXPECTED_SCHEDULES
    call_command("migrate", verbosity=0)
    call_command("migrate", verbosity=0)  # idempotent: still one each
    for name, spec in declared.items():
        [schedule] = Schedule.objects.filter(name=name)
        assert schedule.func == spec.func and schedule.repeats == -1, name
        assert callable(pydoc.locate(spec.func)), f"{name}: {spec.func} is not a function the workers can find"
    strays = set(Schedule.objects.filter(name__startswith="intelligence.").values_list("name", flat=True)) - set(declared)
    assert not strays, f"schedules named intelligence.* that the app does not declare: {strays}"


@pytest.mark.django_db
def test_the_other_apps_schedules_exist_once_after_migrate():
    for label, expected in OTHER_APP_SCHEDULES.items():
        declared = schedules_declared(label)
        assert {name: spec.cadence for name, spec in declared.items()} == expected
        call_command("migrate", verbosity=0)
        call_command("migrate", verbosity=0)  # idempotent: still one each
        for name, spec in declared.items():
            [schedule] = Schedule.objects.filter(name=name)
            assert schedule.func == spec.func and schedule.repeats == -1, name
            assert callable(pydoc.locate(spec.func)), f"{name}: {spec.func} is not a function the workers can find"
        strays = set(Schedule.objects.filter(name__startswith=f"{label}.").values_list("name", flat=True)) - set(declared)
        assert not strays, f"schedules named {label}.* that the app does not declare: {strays}"


@pytest.mark.django_db
def test_the_schedules_are_listed_in_admin(operator):
    call_command("migrate", verbosity=0)
    response = operator.get("/admin/django_q/schedule/")
    _check_page(response)
    page = response.content.decode()
    others = [name for names in OTHER_APP_SCHEDULES.values() for name in names]
    # (The jobs reaper is no longer a schedule: it runs in each qcluster's main process, jobs/cluster.py.)
    for name in [*EXPECTED_SCHEDULES, *others]:
        assert name in page, name


def _probe_schedule(name: str, *, due_since: timedelta, minutes: int = 1) -> Schedule:
    return Schedule.objects.create(name=name, func=PROBE, kwargs=repr({"schedule": name}), intended_date_kwarg="tick",
                                   schedule_type=Schedule.MINUTES, minutes=minutes, repeats=-1,
                                   next_run=timezone.now() - due_since)


def test_after_downtime_a_schedule_runs_once_then_waits_for_its_next_tick(probe_table):
    assert settings.Q_CLUSTER["catch_up"] is False
    Schedule.objects.all().delete()  # only the probe is due
    overdue = _probe_schedule("probe.overdue", due_since=timedelta(days=3, seconds=20), minutes=5)
    missed_at = overdue.next_run

    scheduler(broker=get_broker())  # as the cluster's guard does, every ~30 s
    assert [func for func, *_ in tasks_drain()] == [PROBE]
    assert [(s, t) for s, t, _ in probe_runs()] == [("probe.overdue", missed_at.isoformat())]
    overdue.refresh_from_db()
    now = timezone.now()
    assert now < overdue.next_run <= now + timedelta(minutes=5)
    assert (overdue.next_run - missed_at) % timedelta(minutes=5) == timedelta(0)  # still on its 5-minute beat

    scheduler(broker=get_broker())  # looked at again before the next tick: nothing runs
    assert tasks_drain() == [] and len(probe_runs()) == 1


def test_two_schedulers_at_the_same_moment_run_each_tick_once(probe_table):
    """Two threads, each with its own database connection, run django-q2's scheduler at once over
    the same twenty due schedules (PostgreSQL: SELECT ... FOR UPDATE, the second waits and then
    finds next_run moved; SQLite: the IMMEDIATE transaction serialises them)."""
    Schedule.objects.all().delete()
    for n in range(20):
        _probe_schedule(f"probe.{n}", due_since=timedelta(seconds=5))
    _, errors = run_together(lambda: scheduler(broker=get_broker()), timeout=60)
    assert not errors
    ran = tasks_drain()
    runs = probe_runs()
    assert len(ran) == 20 and len(runs) == 20
    assert sorted(s for s, _, _ in runs) == sorted(f"probe.{n}" for n in range(20))


def test_the_probe_writes_a_row_per_run(probe_table):
    probe_run(schedule="x", tick="t")
    assert [(s, t) for s, t, _ in probe_runs()] == [("x", "t")]
