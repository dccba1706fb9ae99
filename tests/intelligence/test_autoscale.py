"""Profit-driven autoscale (original-behaviour.md §4): the decision as a table of cases in the
reference's order, its inputs read from real rows (request rollups, queued jobs, ledger entries,
jobs' costs), and the minute-by-minute run: scale down only after two quiet samples, the worker
range, stabilize mode held through the automation guard, the flag off, one decision a minute, purge."""

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from waffle.models import Flag, Switch

from intelligence import tasks
from intelligence.models import AutoscaleDecision, HeldAction, LedgerEntry
from intelligence.services.automation import STABILIZE_SWITCH
from intelligence.services.autoscale import (
    AutoscaleInputs,
    autoscale_decide,
    autoscale_inputs,
    autoscale_purge,
    autoscale_run,
    profit_frozen,
    sample_quiet,
)
from intelligence.services.ledger import ledger_entry_record
from jobs.models import Job
from tests.factories import JobFactory, UserFactory
from tests.intelligence.rollups import read_as, request_minute

BASE = AutoscaleInputs(workers=2, min_workers=1, max_workers=4, p95_ms=80.0, queue_depth=3, previous_quiet=False,
                       margin_pct=35.0, revenue_minor=100_00, costs_minor=65_00, currency="USD",
                       spend_24h=Decimal("10.00"), spend_limit=Decimal("50.00"))
HOT = {"p95_ms": 151.0}  # pressure by latency
QUIET = {"p95_ms": 39.9, "queue_depth": 0, "previous_quiet": True}

# (case, changes to BASE, action, desired workers, held_by): every branch, in the reference's order.
CASES = [
    ("stabilize first, over the flag and pressure", {"stabilized": True, "enabled": False, **HOT}, "hold", 2, "stabilize"),
    ("stabilize holds a scale down too", {"stabilized": True, **QUIET, "workers": 3}, "hold", 3, "stabilize"),
    ("flag off holds under pressure", {"enabled": False, **HOT}, "hold", 2, "flag_off"),
    ("flag off holds when quiet", {"enabled": False, **QUIET, "workers": 3}, "hold", 3, "flag_off"),
    ("p95 over 150: one more worker", HOT, "scale_up", 3, ""),
    ("p95 of exactly 150 is no pressure", {"p95_ms": 150.0}, "hold", 2, ""),
    ("more than 10 queued: one more worker", {"queue_depth": 11}, "scale_up", 3, ""),
    ("10 queued is no pressure", {"queue_depth": 10}, "hold", 2, ""),
    ("margin under 10 % freezes under pressure", {**HOT, "margin_pct": 9.99}, "freeze", 2, ""),
    ("a margin of exactly 10 % does not freeze", {**HOT, "margin_pct": 10.0}, "scale_up", 3, ""),
    ("a negative margin freezes", {"queue_depth": 40, "margin_pct": -25.0}, "freeze", 2, ""),
    ("no revenue but costs: frozen", {**HOT, "margin_pct": None, "revenue_minor": 0, "costs_minor": 500},
     "freeze", 2, ""),
    ("no revenue and no costs: not frozen", {**HOT, "margin_pct": None, "revenue_minor": 0, "costs_minor": 0},
     "scale_up", 3, ""),
    ("spend at 90 % of the limit freezes", {**HOT, "spend_24h": Decimal("45.00")}, "freeze", 2, ""),
    ("spend just under 90 % does not", {**HOT, "spend_24h": Decimal("44.999999")}, "scale_up", 3, ""),
    ("a zero limit freezes every scale up", {**HOT, "spend_24h": Decimal(0), "spend_limit": Decimal(0)},
     "freeze", 2, ""),
    ("both frozen", {**HOT, "margin_pct": 2.0, "spend_24h": Decimal("60")}, "freeze", 2, ""),
    ("pressure at the maximum holds", {**HOT, "workers": 4}, "hold", 4, ""),
    ("pressure one below the maximum scales up to it", {**HOT, "workers": 3}, "scale_up", 4, ""),
    ("a lower maximum", {**HOT, "workers": 2, "max_workers": 2}, "hold", 2, ""),
    ("quiet twice above the minimum: one fewer", {**QUIET, "workers": 3}, "scale_down", 2, ""),
    ("quiet twice at the minimum holds", {**QUIET, "workers": 1}, "hold", 1, ""),
    ("quiet twice, a higher minimum", {**QUIET, "workers": 2, "min_workers": 2}, "hold", 2, ""),
    ("quiet now, not the sample before", {**QUIET, "previous_quiet": False, "workers": 3}, "hold", 3, ""),
    ("p95 of exactly 40 is not quiet", {**QUIET, "p95_ms": 40.0, "workers": 3}, "hold", 3, ""),
    ("one job queued is not quiet", {**QUIET, "queue_depth": 1, "workers": 3}, "hold", 3, ""),
    ("no requests and an empty queue is quiet", {**QUIET, "p95_ms": None, "workers": 3}, "scale_down", 2, ""),
    ("frozen never stops a scale down", {**QUIET, "workers": 3, "margin_pct": 1.0, "spend_24h": Decimal(49)},
     "scale_down", 2, ""),
    ("frozen without pressure holds, no freeze", {"margin_pct": 1.0}, "hold", 2, ""),
    ("within bounds", {}, "hold", 2, ""),
]


@pytest.mark.parametrize(("changes", "action", "desired", "held_by"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_the_decision_table(changes, action, desired, held_by):
    outcome = autoscale_decide(replace(BASE, **changes))
    assert (outcome.action, outcome.desired_workers, outcome.held_by) == (action, desired, held_by)
    inputs = replace(BASE, **changes)
    assert outcome.metrics["profit_margin_pct"] == inputs.margin_pct
    assert outcome.metrics["profit_frozen"] == profit_frozen(inputs.margin_pct, inputs.costs_minor)
    assert outcome.metrics["spend_frozen"] == (inputs.spend_24h >= Decimal("0.9") * inputs.spend_limit)
    assert (outcome.metrics["p95_ms"], outcome.metrics["queue_depth"], outcome.metrics["workers"]) == (
        inputs.p95_ms, inputs.queue_depth, inputs.workers)
    assert outcome.metrics["spend_24h"] == str(inputs.spend_24h)


def test_the_reasons_say_why():
    assert autoscale_decide(replace(BASE, **HOT)).reason == (
        "Under pressure (p95 151 ms over 150): one more worker, 2 -> 3.")
    frozen = autoscale_decide(replace(BASE, queue_depth=12, margin_pct=4.5, spend_24h=Decimal("47.5")))
    assert frozen.reason == ("Under pressure (12 jobs queued, over 10) but frozen (margin 4.5 % under 10 %; spend "
                             "47.50 USD in 24 h at or over 90 % of 50.00): stays at 2.")
    assert autoscale_decide(replace(BASE, **QUIET, workers=3)).reason == (
        "Quiet for 2 samples (p95 39.9 ms, 0 queued): one worker fewer, 3 -> 2.")
    assert "no revenue against costs" in autoscale_decide(
        replace(BASE, **HOT, margin_pct=None, revenue_minor=0, costs_minor=1)).reason
    assert autoscale_decide(replace(BASE, enabled=False)).reason == "AUTOSCALE_ENABLED is off: holds at 2 workers."


@pytest.mark.parametrize(("p95", "queue", "quiet"), [(None, 0, True), (39.99, 0, True), (40.0, 0, False),
                                                     (5.0, 1, False), (None, None, False)])
def test_a_quiet_sample(p95, queue, quiet):
    assert sample_quiet(p95, queue) is quiet


# --- inputs from real rows ---------------------------------------------------------------------------

def _minute(ago: int):
    return timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=ago)


@pytest.fixture
def turn(django_capture_on_commit_callbacks):
    """turn.flag(on) / turn.stabilize(on): waffle clears its cache when the change commits."""
    class Turn:
        @staticmethod
        def flag(on: bool):
            with django_capture_on_commit_callbacks(execute=True):
                Flag.objects.update_or_create(name="AUTOSCALE_ENABLED", defaults={"everyone": on})

        @staticmethod
        def stabilize(on: bool):
            with django_capture_on_commit_callbacks(execute=True):
                Switch.objects.update_or_create(name=STABILIZE_SWITCH, defaults={"active": on})
    return Turn()


@pytest.mark.django_db
def test_p95_is_the_requests_of_the_5_finished_minutes_before_this_one():
    for ago in range(1, 6):
        request_minute(_minute(ago), [20.0] * 90 + [300.0] * 10, route=f"/r{ago}")
    request_minute(_minute(6), [5000.0] * 500)  # before the window
    request_minute(_minute(0), [5000.0] * 500)  # this minute: not finished
    inputs = autoscale_inputs(now=timezone.now())
    assert inputs.p95_ms == read_as(300.0)
    request_minute(_minute(2), [20.0] * 1000, route="/busy")
    assert autoscale_inputs(now=timezone.now()).p95_ms == read_as(20.0)


@pytest.mark.django_db
def test_no_requests_no_p95():
    assert autoscale_inputs(now=timezone.now()).p95_ms is None


@pytest.mark.django_db
def test_the_queue_depth_is_the_due_queued_jobs():
    owner = UserFactory()
    Job.objects.bulk_create(JobFactory.build(owner=owner) for _ in range(4))
    JobFactory(owner=owner, next_attempt_at=timezone.now() + timedelta(minutes=5))  # a retry not due yet
    JobFactory(owner=owner, status=Job.Status.RUNNING)
    JobFactory(owner=owner, status=Job.Status.SUCCEEDED)
    assert autoscale_inputs(now=timezone.now()).queue_depth == 4


@pytest.mark.django_db
def test_the_margin_is_the_ledgers_30_days_in_the_billing_currency(settings):
    settings.BILLING_CURRENCY = "usd"
    today = timezone.now().date()

    def entry(kind, amount, currency="USD", days_ago=1):
        ledger_entry_record(day=today - timedelta(days=days_ago), kind=kind, amount_minor=amount, currency=currency,
                            source=f"t:{kind}:{amount}:{currency}:{days_ago}")

    inputs = autoscale_inputs(now=timezone.now())
    assert (inputs.margin_pct, inputs.revenue_minor, inputs.costs_minor, inputs.currency) == (None, 0, 0, "USD")
    assert not profit_frozen(inputs.margin_pct, inputs.costs_minor)  # nothing earned, nothing spent
    entry(LedgerEntry.Kind.AI_COST, 3000)
    inputs = autoscale_inputs(now=timezone.now())
    assert (inputs.margin_pct, inputs.costs_minor) == (None, 3000)
    assert profit_frozen(inputs.margin_pct, inputs.costs_minor)  # costs without revenue
    entry(LedgerEntry.Kind.REVENUE, 10000)
    entry(LedgerEntry.Kind.STRIPE_FEE, 600)
    entry(LedgerEntry.Kind.REVENUE, 99999, currency="EUR")  # another currency: not ours
    entry(LedgerEntry.Kind.REVENUE, 99999, days_ago=31)  # older than 30 days
    inputs = autoscale_inputs(now=timezone.now())
    assert (inputs.margin_pct, inputs.revenue_minor, inputs.costs_minor) == (64.0, 10000, 3600)
    entry(LedgerEntry.Kind.INFRA_COST, 5500)
    inputs = autoscale_inputs(now=timezone.now())
    assert inputs.margin_pct == 9.0 and profit_frozen(inputs.margin_pct, inputs.costs_minor)


@pytest.mark.django_db
def test_spend_is_the_live_jobs_cost_of_the_last_24_hours():
    owner = UserFactory()
    now = timezone.now()
    JobFactory(owner=owner, status=Job.Status.SUCCEEDED, actual_cost=Decimal("10.5"), estimated_cost=Decimal("20"),
               finished_at=now - timedelta(hours=23))
    JobFactory(owner=owner, status=Job.Status.FAILED, actual_cost=Decimal("2.25"), finished_at=now - timedelta(hours=1))
    JobFactory(owner=owner, status=Job.Status.CANCELLED, actual_cost=None, estimated_cost=Decimal("9"),
               finished_at=now - timedelta(hours=1))  # cancelled before it ran: cost nothing
    JobFactory(owner=owner, status=Job.Status.RUNNING, actual_cost=Decimal("1"), estimated_cost=Decimal("5"))
    JobFactory(owner=owner, status=Job.Status.RUNNING, estimated_cost=Decimal("0.75"))
    # Not counted: finished 25 hours ago, test mode, queued.
    JobFactory(owner=owner, status=Job.Status.SUCCEEDED, actual_cost=Decimal("100"), finished_at=now - timedelta(hours=25))
    JobFactory(owner=owner, status=Job.Status.SUCCEEDED, actual_cost=Decimal("100"), test_mode=True)
    JobFactory(owner=owner, status=Job.Status.RUNNING, estimated_cost=Decimal("100"), test_mode=True)
    JobFactory(owner=owner, estimated_cost=Decimal("100"))
    spend = autoscale_inputs(now=now).spend_24h
    assert spend == Decimal("19.5") and str(spend) == "19.500000"  # 10.5 + 2.25 + (1 + 5) + 0.75


@pytest.mark.django_db
def test_workers_are_the_previous_decisions_within_the_range(settings):
    now = timezone.now()
    assert autoscale_inputs(now=now).workers == 1  # none yet: the minimum
    _decision(minutes_ago=1, desired=4)
    assert autoscale_inputs(now=now).workers == 4
    settings.AUTOSCALE_MAX_WORKERS = 3
    assert autoscale_inputs(now=now).workers == 3
    settings.AUTOSCALE_MIN_WORKERS = 5  # a minimum over the maximum: the minimum wins
    assert (autoscale_inputs(now=now).workers, autoscale_inputs(now=now).max_workers) == (5, 5)


def _decision(*, minutes_ago, desired=2, p95=None, queue=0):
    at = timezone.now() - timedelta(minutes=minutes_ago)
    return AutoscaleDecision.objects.create(at=at, minute=at.replace(second=0, microsecond=0), action="hold",
                                            desired_workers=desired, previous_workers=desired, reason="test",
                                            metrics={"p95_ms": p95, "queue_depth": queue})


@pytest.mark.django_db
@pytest.mark.parametrize(("minutes_ago", "p95", "queue", "quiet"), [
    (1, 12.0, 0, True), (1, None, 0, True), (1, 45.0, 0, False), (1, 10.0, 2, False), (6, 12.0, 0, False)])
def test_the_previous_sample_is_the_previous_decisions_metrics_when_recent(minutes_ago, p95, queue, quiet):
    _decision(minutes_ago=minutes_ago, p95=p95, queue=queue)
    assert autoscale_inputs(now=timezone.now()).previous_quiet is quiet


# --- the run, minute by minute ---------------------------------------------------------------------

def _queue(n):
    owner = UserFactory()
    Job.objects.bulk_create(JobFactory.build(owner=owner) for _ in range(n))


@pytest.mark.django_db
def test_the_first_run_holds_at_the_minimum_and_keeps_the_decision():
    decision = autoscale_run()
    assert (decision.action, decision.desired_workers, decision.previous_workers, decision.held_by) == (
        "hold", 1, 1, "flag_off")
    assert decision.metrics["profit_margin_pct"] is None and decision.metrics["profit_frozen"] is False
    assert decision.metrics["queue_depth"] == 0 and decision.metrics["spend_24h"] == "0.000000"
    assert AutoscaleDecision.objects.get() == decision and not HeldAction.objects.exists()


@pytest.mark.django_db
def test_up_under_pressure_to_the_maximum_then_down_one_at_a_time_after_two_quiet_samples(clock, settings, turn):
    settings.AUTOSCALE_MAX_WORKERS = 3
    turn.flag(True)
    _queue(11)
    seen = []
    for _ in range(4):
        decision = autoscale_run()
        seen.append((decision.action, decision.desired_workers))
        clock.advance(60)
    assert seen == [("scale_up", 2), ("scale_up", 3), ("hold", 3), ("hold", 3)]  # at the maximum of 3
    Job.objects.all().delete()  # the queue drains; no requests: quiet
    for _ in range(5):
        decision = autoscale_run()
        seen.append((decision.action, decision.desired_workers))
        clock.advance(60)
    # The first quiet sample follows a busy one: held; then one fewer a minute, down to the minimum.
    assert seen[4:] == [("hold", 3), ("scale_down", 2), ("scale_down", 1), ("hold", 1), ("hold", 1)]
    assert not HeldAction.objects.exists()


@pytest.mark.django_db
def test_a_gap_in_the_samples_is_not_two_quiet_samples(clock, turn):
    turn.flag(True)
    _decision(minutes_ago=0, desired=3, p95=10.0, queue=0)  # quiet, but taken long before the next one
    clock.advance(10 * 60)
    decision = autoscale_run()
    assert (decision.action, decision.desired_workers) == ("hold", 3)
    clock.advance(60)
    decision = autoscale_run()
    assert (decision.action, decision.desired_workers) == ("scale_down", 2)


@pytest.mark.django_db
def test_frozen_by_the_ledger_it_freezes_under_pressure(clock, turn):
    turn.flag(True)
    ledger_entry_record(day=timezone.now().date(), kind=LedgerEntry.Kind.INFRA_COST, amount_minor=2000, currency="USD",
                        source="infra:test")
    _queue(12)
    decision = autoscale_run()
    assert (decision.action, decision.desired_workers) == ("freeze", 1)
    assert decision.metrics["profit_frozen"] is True and decision.metrics["profit_margin_pct"] is None


@pytest.mark.django_db
def test_frozen_by_the_spend_of_24_hours(settings, turn):
    turn.flag(True)
    settings.AUTOSCALE_DAILY_SPEND_LIMIT = Decimal("10.00")
    JobFactory(status=Job.Status.SUCCEEDED, actual_cost=Decimal("9.00"), finished_at=timezone.now())
    _queue(12)
    decision = autoscale_run()
    assert decision.action == "freeze"
    assert (decision.metrics["spend_24h"], decision.metrics["spend_limit"], decision.metrics["spend_frozen"]) == (
        "9.000000", "10.00", True)


@pytest.mark.django_db
def test_stabilize_mode_holds_a_change_and_the_guard_records_it(clock, turn):
    turn.flag(True)
    turn.stabilize(True)
    _queue(11)
    decision = autoscale_run()
    assert (decision.action, decision.desired_workers, decision.held_by) == ("hold", 1, "stabilize")
    assert decision.reason.startswith("Stabilize mode is on: holds at 1 worker. It would scale up: Under pressure")
    held = HeldAction.objects.get()
    assert (held.action, held.reason) == ("autoscale", "stabilize_mode")
    assert held.detail == {"would": "scale_up", "workers": 1, "desired_workers": 2,
                           "reason": "Under pressure (11 jobs queued, over 10): one more worker, 1 -> 2."}
    clock.advance(60)
    Job.objects.all().delete()
    decision = autoscale_run()  # nothing to change: held by stabilize all the same, nothing recorded as held
    assert (decision.action, decision.held_by) == ("hold", "stabilize") and HeldAction.objects.count() == 1
    turn.stabilize(False)
    _queue(11)
    clock.advance(60)
    decision = autoscale_run()
    assert decision.action == "scale_up", decision.reason


@pytest.mark.django_db
def test_the_flag_off_holds_and_records_nothing_held():
    _queue(50)
    decision = autoscale_run()
    assert (decision.action, decision.held_by, decision.desired_workers) == ("hold", "flag_off", 1)
    assert decision.metrics["enabled"] is False and not HeldAction.objects.exists()


@pytest.mark.django_db
def test_one_decision_a_minute(turn):
    turn.flag(True)
    _queue(11)
    first = autoscale_run()
    assert autoscale_run() == first and tasks.autoscale() == {"action": "scale_up", "desired_workers": 2}
    assert AutoscaleDecision.objects.count() == 1


@pytest.mark.django_db
def test_old_decisions_are_purged(settings):
    settings.AUTOSCALE_RETENTION_DAYS = 14
    old = _decision(minutes_ago=14 * 24 * 60 + 5)
    kept = _decision(minutes_ago=14 * 24 * 60 - 5)
    assert autoscale_purge() == 1 and tasks.autoscale_purge() == 0
    assert list(AutoscaleDecision.objects.all()) == [kept] and not AutoscaleDecision.objects.filter(pk=old.pk).exists()


@pytest.mark.django_db
def test_a_run_is_a_handful_of_queries(django_assert_max_num_queries, turn):
    turn.flag(True)
    _decision(minutes_ago=1)
    autoscale_run()  # warm the flag and switch caches
    AutoscaleDecision.objects.order_by("-minute").first().delete()
    # taken this minute?, the previous decision, requests (2), queue, ledger (2), spend (runs ended, jobs
    # running), savepoint + insert
    with django_assert_max_num_queries(12):
        autoscale_run()
