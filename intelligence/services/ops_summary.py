"""The daily ops summary (issue 13 §2): the previous local day (REPORTS_TIME_ZONE, Europe/London)
in figures, emailed to OPS_EMAILS at 09:00 London (schedule intelligence.ops_summary_email).

Every figure is read from the rows the product already keeps: jobs (created in the day, finished
in it as succeeded or failed), requests (the http.request rollups: MetricMinute/MetricHour through
intelligence.selectors.metrics), incidents and alerts (opened / resolved in the day), money
(intelligence.services.ledger.ledger_report for that one ledger day: the ledger's days are UTC
days) and users (accounts created in the day, first payments). Nothing is estimated."""

import logging
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives
from django.db.models import Count, Q
from django.template.loader import render_to_string
from django.utils import timezone

from intelligence.models import Alert, Incident
from intelligence.models.growth import GrowthEvent
from intelligence.selectors.metrics import metrics_window
from intelligence.services.ledger import ledger_report
from jobs.models import Job

logger = logging.getLogger(__name__)

REQUESTS = "http.request"
TOP_WORKFLOWS = 5


def ops_summary_day(*, now: datetime | None = None) -> date:
    """The local day the summary sent at `now` is about: yesterday in REPORTS_TIME_ZONE."""
    local = (now or timezone.now()).astimezone(ZoneInfo(settings.REPORTS_TIME_ZONE))
    return local.date() - timedelta(days=1)


def _window(day: date) -> tuple[datetime, datetime]:
    """The local day as [since, until) in UTC (23 or 25 hours on the days the clocks change)."""
    zone = ZoneInfo(settings.REPORTS_TIME_ZONE)
    since = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    until = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return since, until


def _jobs(since: datetime, until: datetime) -> dict:
    created = Q(created_at__gte=since, created_at__lt=until)
    finished = Q(finished_at__gte=since, finished_at__lt=until)
    succeeded = finished & Q(status=Job.Status.SUCCEEDED)
    failed = finished & Q(status=Job.Status.FAILED)
    totals = Job.objects.aggregate(created=Count("pk", filter=created), succeeded=Count("pk", filter=succeeded),
                                   failed=Count("pk", filter=failed))
    rows = (Job.objects.filter(created | finished).values("workflow")
            .annotate(created=Count("pk", filter=created), succeeded=Count("pk", filter=succeeded),
                      failed=Count("pk", filter=failed))
            .order_by("-created", "-failed", "workflow")[:TOP_WORKFLOWS])
    return {**totals, "by_workflow": [dict(row) for row in rows]}


def _requests(since: datetime, until: datetime) -> dict:
    summary = metrics_window(REQUESTS, since=since, until=until)
    return {"count": summary.count, "errors": summary.errors,
            "error_rate_pct": None if summary.error_rate is None else round(summary.error_rate * 100, 2),
            "p95_ms": None if summary.p95_ms is None else round(summary.p95_ms, 1)}


def _incidents_and_alerts(since: datetime, until: datetime) -> tuple[dict, dict]:
    incidents = {
        "opened": Incident.objects.filter(opened_at__gte=since, opened_at__lt=until).count(),
        "resolved": Incident.objects.filter(resolved_at__gte=since, resolved_at__lt=until).count(),
        "open_now": Incident.objects.filter(status=Incident.Status.OPEN).count(),
    }
    raised = Alert.objects.filter(first_seen__gte=since, first_seen__lt=until)
    by_severity = {row["severity"]: row["n"] for row in raised.values("severity").annotate(n=Count("pk")).order_by()}
    alerts = {"raised": sum(by_severity.values()), "by_severity": dict(sorted(by_severity.items())),
              "resolved": Alert.objects.filter(resolved_at__gte=since, resolved_at__lt=until).count()}
    return incidents, alerts


def _money(day: date) -> dict:
    """The ledger's entries of `day` per currency (minor units): revenue, refunds, fees, costs."""
    report = ledger_report(days=1, now=datetime.combine(day, time(12), tzinfo=UTC))
    return {currency: {"revenue": f["revenue"], "refunds": f["refunds"], "stripe_fees": f["stripe_fees"],
                       "platform_fees": f["platform_fees"], "ai_cost": f["ai_cost"], "infra_cost": f["infra_cost"],
                       "payouts": f["payouts"], "total_costs": f["total_costs"], "net": f["net"]}
            for currency, f in report["currencies"].items()}


def ops_summary_build(*, day: date) -> dict:
    """The local day `day` (REPORTS_TIME_ZONE) in figures: {day, time_zone, since, until, jobs,
    requests, incidents, alerts, money {CUR: {...}}, users}. Amounts in minor units per currency."""
    since, until = _window(day)
    incidents, alerts = _incidents_and_alerts(since, until)
    users = {
        "signups": get_user_model().objects.filter(created_at__gte=since, created_at__lt=until).count(),
        "first_payments": GrowthEvent.objects.filter(kind=GrowthEvent.Kind.PAID, at__gte=since, at__lt=until).count(),
    }
    return {"day": day.isoformat(), "time_zone": settings.REPORTS_TIME_ZONE, "since": since.isoformat(),
            "until": until.isoformat(), "jobs": _jobs(since, until), "requests": _requests(since, until),
            "incidents": incidents, "alerts": alerts, "money": _money(day), "users": users}


def _major(amount_minor: int, currency: str) -> str:
    """Minor units shown in major ones (2 decimals; 0 for the zero-decimal currencies)."""
    if currency.upper() in ZERO_DECIMAL:
        return f"{amount_minor:,} {currency}"
    sign = "-" if amount_minor < 0 else ""
    whole, cents = divmod(abs(amount_minor), 100)
    return f"{sign}{whole:,}.{cents:02d} {currency}"


# Stripe's zero-decimal currencies (no minor unit): amounts are already whole units.
ZERO_DECIMAL = frozenset({"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV",
                          "XAF", "XOF", "XPF"})


def ops_summary_render(summary: dict) -> tuple[str, str, str]:
    """(subject, text, html) of the email."""
    money = [{"currency": cur, **{k: _major(v, cur) for k, v in figures.items()}}
             for cur, figures in summary["money"].items()]
    context = {"s": summary, "money": money}
    subject = f"Levqor ops summary for {summary['day']}"
    return (subject, render_to_string("intelligence/email/ops_summary.txt", context),
            render_to_string("intelligence/email/ops_summary.html", context))


def ops_summary_send(*, now: datetime | None = None, day: date | None = None) -> list[str]:
    """Email yesterday's (local, as of `now`) summary, or `day`'s, to OPS_EMAILS; the addresses it
    went to. OPS_EMAILS empty:
    nothing is built nor sent ("not configured" logged), []. A backend's failure propagates: the
    task fails and shows in the workers' failures."""
    recipients = [address for address in settings.OPS_EMAILS if address]
    if not recipients:
        logger.info("ops summary: not configured (OPS_EMAILS is empty), nothing sent")
        return []
    summary = ops_summary_build(day=day or ops_summary_day(now=now))
    subject, text, html = ops_summary_render(summary)
    message = EmailMultiAlternatives(subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=recipients)
    message.attach_alternative(html, "text/html")
    message.send()
    logger.info("ops summary sent", extra={"day": summary["day"], "recipients": len(recipients)})
    return recipients
