"""Profit-driven autoscale (original-behaviour.md §4), one decision a minute (schedule
"intelligence.autoscale"), each kept as an AutoscaleDecision that GET /ops/autoscale and its
autoscaler-shaped twins serve.

The reference's order:
1. stabilize mode on -> hold (the automation guard records a held change as a HeldAction);
2. AUTOSCALE_ENABLED off -> hold;
3. the 30-day margin under 10 % -> profit frozen;
4. the live jobs' spend of the last 24 hours at or over 90 % of AUTOSCALE_DAILY_SPEND_LIMIT -> spend frozen;
5. p95 over 150 ms or more than 10 due jobs queued (pressure): freeze when frozen, else scale_up by
   one up to AUTOSCALE_MAX_WORKERS (at the maximum: hold);
6. otherwise, p95 under 40 ms and an empty queue in this sample and the previous one (quiet), and
   more than AUTOSCALE_MIN_WORKERS: scale_down by one (a freeze never stops a scale down: it saves money);
7. otherwise hold.

autoscale_decide() is that rule as a pure function of AutoscaleInputs (tested as a table);
autoscale_inputs() reads the inputs from real rows; autoscale_run() does both and keeps the decision.

Inputs, and what the reference left open:
- p95: http.request over the 5 finished minutes before this one (the rollup of the minute just
  finished may still be on its way: then the 4 before it). No request in the window: no p95, which is no pressure and counts
  as quiet (nothing is waiting on the web).
- queue depth: the due, queued jobs now (jobs.selectors.job_due_count, what the queue.depth gauge reads).
- margin: the ledger's 30-day margin in BILLING_CURRENCY. Without revenue there is no margin (None):
  not frozen when there are no costs either (nothing earned, nothing spent: a new installation), frozen
  when there are costs (every cost is a loss).
- spend: jobs.selectors.job_live_spend_since over the last 24 hours, in USD as job costs are.
- workers: what the previous decision wanted (AUTOSCALE_MIN_WORKERS before the first), kept within
  [AUTOSCALE_MIN_WORKERS, AUTOSCALE_MAX_WORKERS] when those settings change.
- the previous sample: the previous decision's metrics when it was taken within the last 5 minutes;
  older (the schedule stopped), it is not "the last sample" and nothing is scaled down yet."""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from intelligence.known_flags import AUTOSCALE_ENABLED
from intelligence.models import AutoscaleDecision
from intelligence.selectors.autoscale import autoscale_decision_before, autoscale_decision_latest
from intelligence.selectors.incidents import metric_window_totals
from intelligence.services.automation import automation_allowed, stabilize_active
from intelligence.services.flags import flag_active
from intelligence.services.ledger import ledger_report
from jobs.selectors import job_due_count, job_live_spend_since
from levqor.histogram import histogram_percentile

ACTION = "autoscale"
P95_PRESSURE_MS, QUEUE_PRESSURE = 150.0, 10
P95_QUIET_MS = 40.0
MARGIN_MIN_PCT = 10.0
SPEND_FREEZE_SHARE = Decimal("0.9")
LEDGER_DAYS = 30
P95_WINDOW = timedelta(minutes=5)
SPEND_WINDOW = timedelta(hours=24)
PREVIOUS_SAMPLE_MAX_AGE = timedelta(minutes=5)
SPEND_CURRENCY = "USD"  # job costs are in USD

Action, HeldBy = AutoscaleDecision.Action, AutoscaleDecision.HeldBy


@dataclass(frozen=True)
class AutoscaleInputs:
    workers: int  # what the previous decision wanted, within [min_workers, max_workers]
    min_workers: int
    max_workers: int
    p95_ms: float | None  # None: no request in the window
    queue_depth: int
    previous_quiet: bool  # the previous sample (recent enough) was quiet
    margin_pct: float | None  # the ledger's; None without revenue
    revenue_minor: int
    costs_minor: int
    currency: str
    spend_24h: Decimal
    spend_limit: Decimal
    enabled: bool = True  # AUTOSCALE_ENABLED
    stabilized: bool = False  # the automation guard held it


@dataclass(frozen=True)
class AutoscaleOutcome:
    action: str
    desired_workers: int
    reason: str
    held_by: str
    metrics: dict


def sample_quiet(p95_ms: float | None, queue_depth: int | None) -> bool:
    """A quiet sample: p95 under 40 ms (or no request at all) and nothing queued."""
    return (p95_ms is None or p95_ms < P95_QUIET_MS) and queue_depth == 0


def profit_frozen(margin_pct: float | None, costs_minor: int) -> bool:
    """The margin under 10 %; without revenue (no margin), frozen only when there are costs."""
    if margin_pct is None:
        return costs_minor > 0
    return margin_pct < MARGIN_MIN_PCT


def spend_frozen(spend_24h: Decimal, spend_limit: Decimal) -> bool:
    return spend_24h >= SPEND_FREEZE_SHARE * spend_limit


def _count(workers: int) -> str:
    return f"{workers} worker" if workers == 1 else f"{workers} workers"


def _ms(value: float | None) -> str:
    return "no requests" if value is None else f"{value:g} ms"


def autoscale_decide(inputs: AutoscaleInputs) -> AutoscaleOutcome:
    """The reference decision, in its order, from these inputs alone (no I/O)."""
    workers = inputs.workers
    profit = profit_frozen(inputs.margin_pct, inputs.costs_minor)
    spend = spend_frozen(inputs.spend_24h, inputs.spend_limit)
    quiet = sample_quiet(inputs.p95_ms, inputs.queue_depth)
    metrics = {
        "p95_ms": inputs.p95_ms, "queue_depth": inputs.queue_depth, "workers": workers,
        "min_workers": inputs.min_workers, "max_workers": inputs.max_workers,
        "quiet": quiet, "previous_quiet": inputs.previous_quiet,
        "profit_margin_pct": inputs.margin_pct, "profit_frozen": profit,
        "revenue_minor": inputs.revenue_minor, "costs_minor": inputs.costs_minor, "currency": inputs.currency,
        "spend_24h": str(inputs.spend_24h), "spend_limit": str(inputs.spend_limit),
        "spend_currency": SPEND_CURRENCY, "spend_frozen": spend, "enabled": inputs.enabled,
    }

    def outcome(action, desired, reason, held_by=HeldBy.NOTHING):
        return AutoscaleOutcome(str(action), desired, reason, str(held_by), metrics)

    if inputs.stabilized:
        return outcome(Action.HOLD, workers, f"Stabilize mode is on: holds at {_count(workers)}.", HeldBy.STABILIZE)
    if not inputs.enabled:
        return outcome(Action.HOLD, workers, f"{AUTOSCALE_ENABLED} is off: holds at {_count(workers)}.",
                       HeldBy.FLAG_OFF)
    frozen = []
    if profit:
        frozen.append("no revenue against costs" if inputs.margin_pct is None
                      else f"margin {inputs.margin_pct:g} % under {MARGIN_MIN_PCT:g} %")
    if spend:
        frozen.append(f"spend {inputs.spend_24h:.2f} {SPEND_CURRENCY} in 24 h at or over 90 % of "
                      f"{inputs.spend_limit:.2f}")
    pressure = []
    if inputs.p95_ms is not None and inputs.p95_ms > P95_PRESSURE_MS:
        pressure.append(f"p95 {_ms(inputs.p95_ms)} over {P95_PRESSURE_MS:g}")
    if inputs.queue_depth > QUEUE_PRESSURE:
        pressure.append(f"{inputs.queue_depth} jobs queued, over {QUEUE_PRESSURE}")
    if pressure:
        under = "Under pressure (" + ", ".join(pressure) + ")"
        if frozen:
            return outcome(Action.FREEZE, workers, f"{under} but frozen ({'; '.join(frozen)}): stays at {workers}.")
        if workers >= inputs.max_workers:
            return outcome(Action.HOLD, workers, f"{under} but already at the maximum of {inputs.max_workers}.")
        return outcome(Action.SCALE_UP, workers + 1, f"{under}: one more worker, {workers} -> {workers + 1}.")
    figures = f"p95 {_ms(inputs.p95_ms)}, {inputs.queue_depth} queued"
    frozen_note = f" Frozen ({'; '.join(frozen)}): no scale up." if frozen else ""
    if quiet and inputs.previous_quiet:
        if workers > inputs.min_workers:
            return outcome(Action.SCALE_DOWN, workers - 1,
                           f"Quiet for 2 samples ({figures}): one worker fewer, {workers} -> {workers - 1}.{frozen_note}")
        return outcome(Action.HOLD, workers, f"Quiet ({figures}), at the minimum of {inputs.min_workers}.{frozen_note}")
    if quiet:
        return outcome(Action.HOLD, workers,
                       f"Quiet this sample ({figures}), not the one before: holds at {workers}.{frozen_note}")
    return outcome(Action.HOLD, workers, f"Within bounds ({figures}): holds at {workers}.{frozen_note}")


def _worker_bounds() -> tuple[int, int]:
    low = max(0, int(settings.AUTOSCALE_MIN_WORKERS))
    return low, max(low, int(settings.AUTOSCALE_MAX_WORKERS))


def autoscale_inputs(*, now: datetime) -> AutoscaleInputs:
    """The decision's inputs from real rows (the guard's verdict is added by autoscale_run)."""
    minute = now.replace(second=0, microsecond=0)
    low, high = _worker_bounds()
    previous = autoscale_decision_before(minute)
    workers = min(high, max(low, previous.desired_workers)) if previous is not None else low
    previous_quiet = bool(previous is not None and previous.at >= now - PREVIOUS_SAMPLE_MAX_AGE
                          and sample_quiet(previous.metrics.get("p95_ms"), previous.metrics.get("queue_depth")))
    requests = metric_window_totals("http.request", start=minute - P95_WINDOW, end=minute)
    p95 = histogram_percentile(requests["histogram"], 95)
    currency = settings.BILLING_CURRENCY.upper()
    money = ledger_report(days=LEDGER_DAYS, now=now)["currencies"].get(currency, {})
    return AutoscaleInputs(
        workers=workers, min_workers=low, max_workers=high, p95_ms=None if p95 is None else round(p95, 3),
        queue_depth=job_due_count(now=now), previous_quiet=previous_quiet, margin_pct=money.get("margin_pct"),
        revenue_minor=money.get("revenue", 0), costs_minor=money.get("total_costs", 0), currency=currency,
        spend_24h=job_live_spend_since(since=now - SPEND_WINDOW),
        spend_limit=Decimal(settings.AUTOSCALE_DAILY_SPEND_LIMIT), enabled=flag_active(AUTOSCALE_ENABLED))


def autoscale_run(*, now: datetime | None = None) -> AutoscaleDecision:
    """Take this minute's decision and keep it (the one already taken this minute, if any). A
    change of the worker count that stabilize mode holds is recorded by the automation guard."""
    now = now or timezone.now()
    minute = now.replace(second=0, microsecond=0)
    taken = AutoscaleDecision.objects.filter(minute=minute).first()
    if taken is not None:
        return taken
    inputs = autoscale_inputs(now=now)
    proposal = autoscale_decide(inputs)
    try:
        with transaction.atomic():
            if proposal.desired_workers != inputs.workers:
                held = not automation_allowed(ACTION, detail={
                    "would": proposal.action, "workers": inputs.workers, "desired_workers": proposal.desired_workers,
                    "reason": proposal.reason})
            else:
                held = stabilize_active()
            decided = autoscale_decide(replace(inputs, stabilized=True)) if held else proposal
            reason = decided.reason
            if held and proposal.action != decided.action:
                reason = f"{reason} It would {proposal.action.replace('_', ' ')}: {proposal.reason}"
            return AutoscaleDecision.objects.create(
                at=now, minute=minute, action=decided.action, desired_workers=decided.desired_workers,
                previous_workers=inputs.workers, reason=reason[:500], held_by=decided.held_by, metrics=decided.metrics)
    except IntegrityError:  # taken by another run this very minute
        return AutoscaleDecision.objects.get(minute=minute)


def autoscale_current(*, now: datetime | None = None) -> AutoscaleDecision:
    """The latest decision; when none was ever taken (a new installation), this minute's, taken now."""
    return autoscale_decision_latest() or autoscale_run(now=now)


def autoscale_purge(*, now: datetime | None = None) -> int:
    """Daily (schedule "intelligence.autoscale_purge"): decisions older than AUTOSCALE_RETENTION_DAYS go."""
    now = now or timezone.now()
    deleted, _ = AutoscaleDecision.objects.filter(
        minute__lt=now - timedelta(days=settings.AUTOSCALE_RETENTION_DAYS)).delete()
    return deleted
