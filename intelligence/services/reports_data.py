"""The figures behind the weekly governance report, read from the services and tables that own
them (ledger_report, governance_risk, flag_states, ...). Nothing here writes; a figure with no data
is empty and the template says "Nothing yet", never a made-up number.

The week is the 7 UTC days ending now: today (UTC, so far) and the 6 days before it, the same days
ledger_report counts. Money stays per currency in minor units with its display beside it."""

from datetime import UTC, date, datetime, time, timedelta

from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.models import User
from intelligence.models import GrowthEvent, Incident, LedgerEntry
from intelligence.selectors.growth import growth_formulas
from intelligence.services.automation import stabilize_active
from intelligence.services.flag_state import flag_states, switch_states
from intelligence.services.ledger import ledger_report
from intelligence.services.report_svg import svg_bars, svg_line
from intelligence.services.risk import governance_risk
from jobs.models import Job
from levqor.money import minor_display, minor_to_major
from marketplace.models import PromotionCode
from partners.models import PartnerAudit

WEEK_DAYS = 7
MONEY_DAYS = 30
MONEY_KEYS = ("revenue", "refunds", "stripe_fees", "ai_cost", "infra_cost", "payouts", "total_costs", "net")


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def week_days(now: datetime) -> list[date]:
    """The report's 7 UTC days, oldest first, today (UTC) last."""
    today = now.astimezone(UTC).date()
    return [today - timedelta(days=n) for n in range(WEEK_DAYS - 1, -1, -1)]


def _per_day(queryset, field: str, days: list[date]) -> list[int]:
    counts = {row["d"]: row["n"] for row in queryset.annotate(d=TruncDate(field, tzinfo=UTC)).values("d")
              .annotate(n=Count("pk")).order_by()}
    return [counts.get(d, 0) for d in days]


def _money(now: datetime) -> list[dict]:
    report = ledger_report(days=MONEY_DAYS, now=now)
    rows = []
    for currency, figures in report["currencies"].items():
        rows.append({"currency": currency,
                     **{key: minor_display(figures[key], currency) for key in MONEY_KEYS},
                     "payouts_pending": minor_display(figures["payouts_pending"], currency),
                     "margin_pct": figures["margin_pct"]})
    return rows


def _revenue_charts(days: list[date], labels: list[str]) -> list[dict]:
    """One line per currency: the revenue entered in the ledger each day (major units)."""
    rows = (LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REVENUE, day__gte=days[0], day__lte=days[-1])
            .values("currency", "day").annotate(total=Sum("amount_minor")).order_by())
    per: dict[str, dict[date, int]] = {}
    for row in rows:
        per.setdefault(row["currency"], {})[row["day"]] = int(row["total"])
    charts = []
    for currency in sorted(per):
        values = [float(minor_to_major(per[currency].get(d, 0), currency)) for d in days]
        charts.append({"currency": currency,
                       "svg": svg_line(values=values, labels=labels, title=f"Revenue per day ({currency})")})
    return charts


def _discounts(now: datetime) -> list[dict]:
    codes = PromotionCode.objects.filter(active=True, livemode=True).exclude(valid_until__lte=now).order_by("code")
    return [{"code": c.code, "percent_off": c.percent_off, "reason": c.reason or "-",
             "valid_until": c.valid_until} for c in codes]


def _audits(since: datetime, now: datetime) -> list[dict]:
    audits = (PartnerAudit.objects.filter(started_at__gte=since, started_at__lte=now,
                                          outcome__in=[PartnerAudit.Outcome.FAIL, PartnerAudit.Outcome.WARN])
              .select_related("partner").order_by("started_at", "id"))
    return [{"partner": audit.partner.name, "outcome": audit.get_outcome_display(), "at": audit.started_at,
             "findings": [f for f in audit.findings if not f.get("ok", False)]} for audit in audits]


def weekly_figures(*, now: datetime | None = None) -> dict:
    """Everything the weekly governance report shows, as a template context."""
    now = now or timezone.now()
    days = week_days(now)
    since = day_start(days[0])
    labels = [f"{d:%a %d}" for d in days]
    events = GrowthEvent.objects.filter(day__gte=days[0], day__lte=days[-1])
    funnel = {row["kind"]: row["n"] for row in events.values("kind").annotate(n=Count("pk")).order_by()}
    visits, signups = funnel.get(GrowthEvent.Kind.VISIT, 0), funnel.get(GrowthEvent.Kind.SIGNUP, 0)
    paid = funnel.get(GrowthEvent.Kind.PAID, 0)
    signups_daily = _per_day(GrowthEvent.objects.filter(kind=GrowthEvent.Kind.SIGNUP, at__gte=since, at__lte=now),
                             "at", days)
    jobs_daily = _per_day(Job.objects.filter(livemode=True, created_at__gte=since, created_at__lte=now),
                          "created_at", days)
    flags = flag_states()
    incidents = list(Incident.objects.filter(opened_at__gte=since, opened_at__lte=now).order_by("opened_at"))
    return {
        "now": now, "since": since, "days": days,
        "users": {"total": User.objects.filter(created_at__lte=now).count(),
                  "new": User.objects.filter(created_at__gte=since, created_at__lte=now).count()},
        "funnel": {"visits": visits, "signups": signups, "paid": paid,
                   "conversion_pct": growth_formulas(visits=visits, signups=signups, revenue_minor={})["conversion_pct"],
                   "paid_pct": round(paid * 100 / signups, 2) if signups else None},
        "signups_chart": svg_bars(values=signups_daily, labels=labels, title="Signups per day"),
        "signups_total": sum(signups_daily),
        "jobs_chart": svg_bars(values=jobs_daily, labels=labels, title="Jobs submitted per day"),
        "jobs_total": sum(jobs_daily),
        "revenue_charts": _revenue_charts(days, labels),
        "flags": flags, "switches": switch_states(), "stabilize": stabilize_active(),
        "discounts": _discounts(now),
        "money": _money(now), "money_days": MONEY_DAYS,
        "risk": governance_risk(now=now),
        "audits": _audits(since, now),
        "incidents": incidents,
    }


def weekly_headline(figures: dict) -> list[tuple[str, str]]:
    """The few figures an email shows above the attachment: (label, value)."""
    lines = [("Users", f"{figures['users']['total']} ({figures['users']['new']} new this week)"),
             ("Signups", str(figures["funnel"]["signups"])),
             ("Paid conversions", str(figures["funnel"]["paid"])),
             ("Governance risk", f"{figures['risk']['score']} ({figures['risk']['level']})")]
    for row in figures["money"]:
        lines.append((f"Revenue {row['currency']} ({figures['money_days']} days)", row["revenue"]))
        lines.append((f"Net {row['currency']} ({figures['money_days']} days)", row["net"]))
    lines.append(("Incidents this week", str(len(figures["incidents"]))))
    return lines
