"""Adaptive pricing (issue 11 §3; original-behaviour.md §4): the pro tier's monthly price from the
last 30 days, by the reference formula, kept as a PriceSuggestion with its inputs.

    load       = min(2.0, 0.5 + runs/1000)
    perf       = -2 if p95 < 80 ms, 0 if p95 < 150 ms, +2 otherwise (0 without traffic: no p95)
    cost_floor = (ops + infra + refunds) * 1.3 / max(1, runs/1000)
    price      = round(max(19.0 * load + perf, max(9.0, cost_floor)), 2)

computed in Decimal (round half to even, as Python's round) from real rows: runs = live-mode jobs
created in the window; p95 = the live http.request metrics over the window; ops = AI cost +
Stripe fees, infra and refunds from the ledger in BILLING_CURRENCY, in major units.

The first daily run of a month computes (the schedule "intelligence.pricing"); with
PRICING_AUTO_APPLY on and automation_allowed("pricing.apply"), the suggestion becomes the tier's
new Stripe Price for new subscriptions (marketplace.services.prices.tier_price_publish), held
under stabilize mode. Otherwise it waits for an operator, who applies or dismisses it in admin."""

from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from intelligence.known_flags import PRICING_AUTO_APPLY
from intelligence.models import PriceSuggestion
from intelligence.selectors.metrics import metrics_window
from intelligence.services.automation import automation_allowed
from intelligence.services.flags import flag_active
from intelligence.services.ledger import ledger_report
from jobs.models import Job
from levqor.errors import AppError, ErrorCode
from marketplace.services.prices import tier_price_current_minor, tier_price_publish

TIER = "pro"
WINDOW_DAYS = 30
APPLY_ACTION = "pricing.apply"
BASE = Decimal("19.0")
LOAD_CAP, LOAD_START, RUNS_UNIT = Decimal("2.0"), Decimal("0.5"), Decimal(1000)
P95_FAST_MS, P95_OK_MS = 80, 150
PERF_FAST, PERF_OK, PERF_SLOW = Decimal(-2), Decimal(0), Decimal(2)
COST_MARGIN, PRICE_FLOOR = Decimal("1.3"), Decimal("9.0")
CENT = Decimal("0.01")
MINOR_PER_MAJOR = 100  # BILLING_CURRENCY is a two-decimal currency (usd, eur, gbp)
FORMULA = ("price = round(max(19.0 * min(2.0, 0.5 + runs/1000) + perf, max(9.0, (ops + infra + refunds) * 1.3 / "
           "max(1, runs/1000))), 2); perf = -2 if p95 < 80 ms, 0 if < 150 ms, +2 otherwise, 0 without a p95; "
           "ops = ai_cost + stripe_fee")


def price_formula(*, runs: int, p95_ms: float | None, ops: Decimal, infra: Decimal, refunds: Decimal) -> dict:
    """The reference formula, in Decimal: {"price", "load", "perf", "cost_floor", "demand_price"}
    (amounts in major units). Without a p95 (no traffic) perf is 0."""
    per_thousand = Decimal(runs) / RUNS_UNIT
    load = min(LOAD_CAP, LOAD_START + per_thousand)
    if p95_ms is None:
        perf = PERF_OK
    elif p95_ms < P95_FAST_MS:
        perf = PERF_FAST
    elif p95_ms < P95_OK_MS:
        perf = PERF_OK
    else:
        perf = PERF_SLOW
    cost_floor = (ops + infra + refunds) * COST_MARGIN / max(Decimal(1), per_thousand)
    demand_price = BASE * load + perf
    price = max(demand_price, max(PRICE_FLOOR, cost_floor)).quantize(CENT, rounding=ROUND_HALF_EVEN)
    return {"price": price, "load": load, "perf": perf, "cost_floor": cost_floor, "demand_price": demand_price}


def _major(minor: int) -> Decimal:
    return Decimal(int(minor)) / MINOR_PER_MAJOR


def pricing_inputs(*, now: datetime) -> dict:
    """What the formula is fed, from the last WINDOW_DAYS days up to `now` (JSON-ready: amounts as
    strings of major units, with the minor units beside them)."""
    since = now - timedelta(days=WINDOW_DAYS)
    runs = Job.objects.filter(livemode=True, created_at__gte=since, created_at__lt=now).count()
    requests = metrics_window("http.request", since=since, until=now)
    currency = settings.BILLING_CURRENCY.upper()
    money = ledger_report(days=WINDOW_DAYS, now=now)["currencies"].get(currency, {})
    ai_cost, stripe_fees = money.get("ai_cost", 0), money.get("stripe_fees", 0)
    infra, refunds = money.get("infra_cost", 0), money.get("refunds", 0)
    p95 = round(requests.p95_ms, 3) if requests.p95_ms is not None else None
    return {
        "from": since.isoformat(), "to": now.isoformat(), "days": WINDOW_DAYS,
        "runs": runs, "runs_counted": "live-mode jobs created in the window",
        "requests": requests.count, "p95_ms": p95,
        "p95_note": "" if p95 is not None else "no http.request traffic in the window: perf taken as 0",
        "currency": currency,
        "ai_cost_minor": ai_cost, "stripe_fees_minor": stripe_fees,
        "ops_minor": ai_cost + stripe_fees, "infra_minor": infra, "refunds_minor": refunds,
        "ops": str(_major(ai_cost + stripe_fees)), "infra": str(_major(infra)), "refunds": str(_major(refunds)),
    }


def price_suggestion_compute(*, now: datetime | None = None, trigger: str = PriceSuggestion.Trigger.ADMIN,
                             actor=None, month: date | None = None) -> PriceSuggestion:
    """Run the formula on the last 30 days and keep the result as a suggestion (status suggested),
    with its inputs, the formula's parts and the tier's current price. Applies nothing."""
    now = now or timezone.now()
    inputs = pricing_inputs(now=now)
    result = price_formula(runs=inputs["runs"], p95_ms=inputs["p95_ms"], ops=Decimal(inputs["ops"]),
                           infra=Decimal(inputs["infra"]), refunds=Decimal(inputs["refunds"]))
    current_minor, currency, current_from = tier_price_current_minor(tier=TIER, livemode=True)
    inputs.update({"load": str(result["load"]), "perf": str(result["perf"]), "cost_floor": str(result["cost_floor"]),
                   "demand_price": str(result["demand_price"]), "price": str(result["price"]),
                   "current_price_from": current_from})
    return PriceSuggestion.objects.create(
        tier=TIER, currency=currency, suggested_minor=int(result["price"] * MINOR_PER_MAJOR),
        current_minor=current_minor, inputs=inputs, formula=FORMULA, trigger=trigger, month=month, created_at=now,
        created_by=actor)


def pricing_monthly_run(*, now: datetime | None = None) -> PriceSuggestion | None:
    """The daily schedule's run: on the first run of a month (the 1st, or the first day the cluster
    was up), compute the month's suggestion and, with PRICING_AUTO_APPLY on and not stabilized,
    apply it. None when this month has its suggestion already."""
    now = now or timezone.now()
    month = now.date().replace(day=1)
    if PriceSuggestion.objects.filter(tier=TIER, trigger=PriceSuggestion.Trigger.SCHEDULE, month=month).exists():
        return None
    try:
        with transaction.atomic():
            suggestion = price_suggestion_compute(now=now, trigger=PriceSuggestion.Trigger.SCHEDULE, month=month)
    except IntegrityError:
        return None  # another run took this month at the same moment
    _auto_apply(suggestion)
    suggestion.refresh_from_db()
    return suggestion


def _note(suggestion: PriceSuggestion, note: str, **fields) -> None:
    for name, value in fields.items():
        setattr(suggestion, name, value)
    suggestion.note = note[:255]
    suggestion.save(update_fields=["note", *fields])


def _auto_apply(suggestion: PriceSuggestion) -> None:
    if suggestion.suggested_minor == suggestion.current_minor:
        _note(suggestion, "Same as the current price: nothing to apply.")
    elif not flag_active(PRICING_AUTO_APPLY):
        _note(suggestion, "PRICING_AUTO_APPLY is off: waiting for an operator to apply or dismiss it.")
    elif not automation_allowed(APPLY_ACTION, detail={"suggestion": suggestion.pk, "tier": suggestion.tier,
                                                      "current_minor": suggestion.current_minor,
                                                      "suggested_minor": suggestion.suggested_minor}):
        _note(suggestion, "Held: stabilize mode is on.", status=PriceSuggestion.Status.HELD)
    else:
        try:
            price_suggestion_apply(suggestion=suggestion, actor=None)
        except AppError as exc:
            _note(suggestion, f"Not applied: {exc.message}")


DECIDED = (PriceSuggestion.Status.APPLIED, PriceSuggestion.Status.DISMISSED, PriceSuggestion.Status.APPLYING)


def _decided(suggestion: PriceSuggestion) -> AppError:
    state = "is being applied" if suggestion.status == PriceSuggestion.Status.APPLYING else f"was {suggestion.status} already"
    return AppError(ErrorCode.SUGGESTION_DECIDED, f"Price suggestion #{suggestion.pk} {state}.",
                    details={"suggestion": suggestion.pk, "status": suggestion.status})


def price_suggestion_apply(*, suggestion: PriceSuggestion, actor=None) -> PriceSuggestion:
    """Make the suggestion the tier's price for new subscriptions (a new Stripe Price taking the
    tier's lookup key; existing subscriptions keep theirs), recorded on the suggestion with who
    applied it (nobody: PRICING_AUTO_APPLY). suggestion_decided when it was applied or dismissed,
    or is being applied; price_unchanged when the tier costs that already; billing_not_configured
    without Stripe.

    The row is claimed first (its status moved to applying by a compare-and-set, committed), so a
    dismissal or another apply arriving while Stripe is asked is refused rather than overwritten;
    a failure gives the row back its status (a retry reuses the same idempotency key)."""
    suggestion = PriceSuggestion.objects.get(pk=suggestion.pk)
    if suggestion.status in DECIDED:
        raise _decided(suggestion)
    was = suggestion.status
    if not PriceSuggestion.objects.filter(pk=suggestion.pk, status=was).update(status=PriceSuggestion.Status.APPLYING):
        raise _decided(PriceSuggestion.objects.get(pk=suggestion.pk))  # decided between the read and the claim
    try:
        current_minor, currency, _from = tier_price_current_minor(tier=suggestion.tier, livemode=True)
        if current_minor == suggestion.suggested_minor and currency == suggestion.currency:
            raise AppError(ErrorCode.PRICE_UNCHANGED, f"The {suggestion.tier} tier costs {current_minor / 100:.2f} "
                           f"{currency.upper()} already: nothing to apply.", details={"suggestion": suggestion.pk})
        tier_price = tier_price_publish(tier=suggestion.tier, amount_minor=suggestion.suggested_minor,
                                        currency=suggestion.currency, livemode=True,
                                        idempotency_key=f"levqor-price-suggestion-{suggestion.pk}")
    except BaseException:
        PriceSuggestion.objects.filter(pk=suggestion.pk, status=PriceSuggestion.Status.APPLYING).update(status=was)
        raise
    who = "an operator" if actor is not None else "PRICING_AUTO_APPLY"
    suggestion.status, suggestion.decided_at, suggestion.decided_by = (PriceSuggestion.Status.APPLIED,
                                                                       timezone.now(), actor)
    suggestion.stripe_price_id = tier_price.stripe_price_id
    suggestion.note = (f"Applied by {who}: {tier_price.stripe_price_id} is the {suggestion.tier} price for new "
                       f"subscriptions (was {(current_minor or 0) / 100:.2f}).")
    suggestion.save(update_fields=["status", "decided_at", "decided_by", "stripe_price_id", "note"])
    return suggestion


def price_suggestion_dismiss(*, suggestion: PriceSuggestion, actor) -> PriceSuggestion:
    """An operator's no: the suggestion stays on record, dismissed, and can no longer be applied.
    suggestion_decided when it was applied or dismissed, or is being applied."""
    with transaction.atomic():
        suggestion = PriceSuggestion.objects.select_for_update().get(pk=suggestion.pk)
        if suggestion.status in DECIDED:
            raise _decided(suggestion)
        suggestion.status, suggestion.decided_at, suggestion.decided_by = (PriceSuggestion.Status.DISMISSED,
                                                                           timezone.now(), actor)
        suggestion.note = "Dismissed by an operator."
        suggestion.save(update_fields=["status", "decided_at", "decided_by", "note"])
    return suggestion
