"""What each Notion database gets: one NotionRow per row, with our id and its Notion properties.

Each database's Notion columns (create them in Notion with these names and types):
- every database: "Name" (title), "Levqor ID" (text: our id, what the sync finds a row by);
- health: Checked (date), Status, Database, Cache, Worker, Broker (text), Queue depth (number),
  p95 ms (number: job runs over the last hour);
- costs: Day (date), Currency (text), Revenue, Costs, Net (numbers, in the currency's minor units);
- pulse: Week (date: its Monday), Users, Signups, Jobs (numbers), Revenue (text: per currency, minor
  units);
- partners: Status (text), Rating (number), Ratings (number), Verified (checkbox);
- catalog: Category, Status, Currency (text), Price (number, minor units), Downloads, Rating (numbers);
- audit: Partner, Outcome, Trigger (text), Finished (date), Findings (number), Summary (text).
Money stays in integer minor units per currency: no exchange rate is invented."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Sum

ID_PROPERTY = "Levqor ID"
TITLE_PROPERTY = "Name"
AUDIT_DAYS = 90  # audits finished within these days are kept in Notion (older ones stay as they were)
COST_DAYS = 7  # the last days of the ledger re-sent each night (late entries change a day)


@dataclass(frozen=True)
class NotionRow:
    levqor_id: str
    title: str
    properties: dict  # Notion property values, the two above excepted

    def notion_properties(self) -> dict:
        return {TITLE_PROPERTY: {"title": _text_items(self.title)},
                ID_PROPERTY: {"rich_text": _text_items(self.levqor_id)}, **self.properties}


def _text_items(value: str) -> list:
    value = str(value)[:2000]  # Notion's limit for one text item
    return [{"type": "text", "text": {"content": value}}] if value else []


def text(value) -> dict:
    return {"rich_text": _text_items("" if value is None else value)}


def number(value) -> dict:
    return {"number": None if value is None else (int(value) if isinstance(value, int) else round(float(value), 2))}


def checkbox(value) -> dict:
    return {"checkbox": bool(value)}


def day(value: date | datetime | None) -> dict:
    return {"date": None if value is None else {"start": value.isoformat()}}


# --- health ------------------------------------------------------------------------------------

def _check_text(checks: dict, name: str) -> str:
    check = checks.get(name)
    if check is None:
        return "not checked"
    return "ok" if check["ok"] else f"fail: {check['detail']}"


def _broker_text() -> str:
    try:
        from django_q.brokers import get_broker

        return "ok" if get_broker().ping() else "fail: no answer"
    except Exception as exc:  # the row says what failed; the sync goes on
        return f"fail: {type(exc).__name__}"


def health_rows(*, now: datetime) -> list[NotionRow]:
    """One row per check: /status's readiness checks, the broker, the queue depth and the p95."""
    from intelligence.selectors.metrics import metrics_window
    from jobs.selectors import job_due_count
    from levqor.metrics import JOB_RUN
    from levqor.readiness import readiness_checks

    checks = readiness_checks()
    at = now.replace(second=0, microsecond=0)
    p95 = metrics_window(JOB_RUN, since=now - timedelta(hours=1), until=now).p95_ms
    status = "pass" if all(check["ok"] for check in checks.values()) else "fail"
    return [NotionRow(f"health:{at:%Y-%m-%dT%H:%MZ}", f"Health {at:%Y-%m-%d %H:%M} UTC", {
        "Checked": day(at), "Status": text(status), "Database": text(_check_text(checks, "database")),
        "Cache": text(_check_text(checks, "cache")), "Worker": text(_check_text(checks, "worker")),
        "Broker": text(_broker_text()), "Queue depth": number(job_due_count(now=now)), "p95 ms": number(p95),
    })]


# --- costs -------------------------------------------------------------------------------------

def costs_rows(*, now: datetime, days: int = COST_DAYS) -> list[NotionRow]:
    """A row per day per currency of the ledger (ledger_report of that day), the last `days` days."""
    from intelligence.services.ledger import ledger_report

    rows = []
    today = now.date()
    for back in range(days - 1, -1, -1):
        when = today - timedelta(days=back)
        report = ledger_report(days=1, now=datetime.combine(when, time(12), tzinfo=now.tzinfo))
        for currency, money in report["currencies"].items():
            if not (money["revenue"] or money["total_costs"]):
                continue  # a currency with only pending payouts (of other days) has nothing this day
            rows.append(NotionRow(f"costs:{when.isoformat()}:{currency}", f"{when.isoformat()} {currency}", {
                "Day": day(when), "Currency": text(currency), "Revenue": number(money["revenue"]),
                "Costs": number(money["total_costs"]), "Net": number(money["net"]),
            }))
    return rows


# --- pulse -------------------------------------------------------------------------------------

def pulse_rows(*, now: datetime) -> list[NotionRow]:
    """This week's pulse (Monday 00:00 in REPORTS_TIME_ZONE until now): users in all, signups,
    jobs and revenue (per currency) in the week. Re-runs in the same week update its row."""
    from accounts.models import User
    from intelligence.models import LedgerEntry
    from jobs.models import Job

    zone = ZoneInfo(settings.REPORTS_TIME_ZONE)
    local = now.astimezone(zone)
    monday = local.date() - timedelta(days=local.weekday())
    since = datetime.combine(monday, time(0), tzinfo=zone)
    year, week, _ = monday.isocalendar()
    revenue = (LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REVENUE, day__gte=monday, day__lte=now.date())
               .values("currency").annotate(total=Sum("amount_minor")).order_by("currency"))
    revenue_text = ", ".join(f"{row['currency']} {row['total']}" for row in revenue) or "none"
    return [NotionRow(f"pulse:{year}-W{week:02d}", f"Week {year}-W{week:02d}", {
        "Week": day(monday), "Users": number(User.objects.count()),
        "Signups": number(User.objects.filter(created_at__gte=since, created_at__lte=now).count()),
        "Jobs": number(Job.objects.filter(created_at__gte=since, created_at__lte=now).count()),
        "Revenue": text(revenue_text),
    })]


# --- registry: partners, catalog, audits -------------------------------------------------------

def partner_rows(*, now: datetime) -> list[NotionRow]:
    """A row per partner (deleted ones included, with their status, so Notion does not keep a stale one)."""
    from partners.models import Partner

    return [NotionRow(f"partner:{partner.pk}", partner.name, {
        "Status": text("deleted" if partner.deleted_at else partner.status),
        "Rating": number(partner.rating_avg), "Ratings": number(partner.rating_count),
        "Verified": checkbox(partner.verified_at is not None),
    }) for partner in Partner.objects.order_by("created_at", "pk")]


def catalog_rows(*, now: datetime) -> list[NotionRow]:
    """A row per published listing, and for every listing once sent whatever its status now (a
    delisted one says so rather than staying "published" in Notion)."""
    from intelligence.models import NotionPage
    from marketplace.models import Listing

    sent = NotionPage.objects.filter(database="catalog").values_list("levqor_id", flat=True)
    sent_ids = [levqor_id.split(":", 1)[1] for levqor_id in sent]
    listings = (Listing.objects.filter(status=Listing.Status.PUBLISHED) | Listing.objects.filter(pk__in=sent_ids))
    return [NotionRow(f"listing:{listing.pk}", listing.name, {
        "Category": text(listing.category), "Status": text(listing.status),
        "Currency": text(listing.currency.upper()), "Price": number(listing.amount_minor),
        "Downloads": number(listing.downloads), "Rating": number(listing.rating_avg),
    }) for listing in listings.distinct().order_by("created_at", "pk")]


def _findings_summary(findings) -> str:
    """The findings that did not pass (partners.services.audits.Finding: check, ok, severity, detail)."""
    return "; ".join(f"{finding.get('check', '?')} ({finding.get('severity', '?')})"
                     for finding in _failing(findings)) or "all checks passed"


def _failing(findings) -> list[dict]:
    return [finding for finding in findings or [] if isinstance(finding, dict) and not finding.get("ok", True)]


def audit_rows(*, now: datetime) -> list[NotionRow]:
    """A row per partner audit finished within AUDIT_DAYS, with its outcome."""
    from partners.models import PartnerAudit

    audits = (PartnerAudit.objects.select_related("partner").filter(finished_at__gte=now - timedelta(days=AUDIT_DAYS))
              .order_by("finished_at", "pk"))
    return [NotionRow(f"audit:{audit.pk}", f"{audit.partner.name} {audit.finished_at:%Y-%m-%d}", {
        "Partner": text(audit.partner.name), "Outcome": text(audit.outcome), "Trigger": text(audit.trigger),
        "Finished": day(audit.finished_at), "Findings": number(len(_failing(audit.findings))),
        "Summary": text(_findings_summary(audit.findings)),
    }) for audit in audits]


NOTION_ROWS: dict[str, Callable[..., list[NotionRow]]] = {
    "health": health_rows, "costs": costs_rows, "pulse": pulse_rows,
    "partners": partner_rows, "catalog": catalog_rows, "audit": audit_rows,
}
