"""What each Notion database receives (health, costs, pulse, catalog, audits), the command, the
tasks, the sync log in admin and /status saying whether Notion is configured."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from intelligence import tasks
from intelligence.models import NotionSyncRun
from intelligence.services.ledger import ledger_entry_record
from intelligence.services.notion import notion_sync
from marketplace.models import Listing
from partners.models import PartnerAudit
from tests.factories import UserFactory
from tests.fake_notion import FakeNotion
from tests.intelligence.notion_support import ds, fake_notion_fixture  # noqa: F401  (fake_notion)
from tests.marketplace.store_support import listing_make
from tests.partners.governance_support import partner_make

pytestmark = pytest.mark.django_db
prop = FakeNotion.prop


def _only(fake, name):
    pages = fake.pages(ds(name))
    assert len(pages) == 1
    return pages[0]


def test_a_health_row_per_check_with_the_status_checks_queue_depth_and_p95(fake_notion):
    now = datetime(2026, 11, 27, 6, 0, 30, tzinfo=UTC)

    run = notion_sync(database="health", now=now)
    notion_sync(database="health", now=now + timedelta(hours=6))

    assert run.created == 1
    pages = fake_notion.pages(ds("health"))
    assert len(pages) == 2  # a row per check
    first = next(page for page in pages if prop(page, "Levqor ID") == "health:2026-11-27T06:00Z")
    assert prop(first, "Database") == "ok" and prop(first, "Cache") == "ok"
    assert prop(first, "Status") in ("pass", "fail") and prop(first, "Worker")
    assert prop(first, "Broker") == "ok"
    assert prop(first, "Queue depth") == 0
    assert prop(first, "Checked") == "2026-11-27T06:00:00+00:00"


def test_costs_a_row_per_day_per_currency_from_the_ledger_in_minor_units(fake_notion):
    today = timezone.now().date()
    yesterday = today - timedelta(days=1)
    ledger_entry_record(day=yesterday, kind="revenue", amount_minor=10000, currency="GBP", source="t:1")
    ledger_entry_record(day=yesterday, kind="stripe_fee", amount_minor=320, currency="GBP", source="t:2")
    ledger_entry_record(day=today, kind="revenue", amount_minor=5000, currency="USD", source="t:3")

    run = notion_sync(database="costs")

    assert run.created == 2
    pages = {prop(page, "Levqor ID"): page for page in fake_notion.pages(ds("costs"))}
    gbp = pages[f"costs:{yesterday.isoformat()}:GBP"]
    assert (prop(gbp, "Revenue"), prop(gbp, "Costs"), prop(gbp, "Net")) == (10000, 320, 9680)
    assert prop(gbp, "Currency") == "GBP" and prop(gbp, "Day") == yesterday.isoformat()
    assert prop(pages[f"costs:{today.isoformat()}:USD"], "Net") == 5000
    # A late entry for yesterday changes that row only.
    ledger_entry_record(day=yesterday, kind="refund", amount_minor=1000, currency="GBP", source="t:4")
    again = notion_sync(database="costs")
    assert (again.created, again.updated, again.unchanged) == (0, 1, 1)
    assert prop(fake_notion.store[gbp["id"]], "Net") == 8680


def test_pulse_a_row_per_week_updated_through_the_week(fake_notion, settings):
    settings.REPORTS_TIME_ZONE = "Europe/London"
    friday = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)
    UserFactory(created_at=datetime(2026, 11, 20, 9, 0, tzinfo=UTC))  # the week before
    UserFactory(created_at=datetime(2026, 11, 24, 9, 0, tzinfo=UTC))
    ledger_entry_record(day=date(2026, 11, 25), kind="revenue", amount_minor=4200, currency="EUR", source="p:1")

    notion_sync(database="pulse", now=friday)

    page = _only(fake_notion, "pulse")
    assert prop(page, "Levqor ID") == "pulse:2026-W48" and prop(page, "Week") == "2026-11-23"
    assert (prop(page, "Users"), prop(page, "Signups"), prop(page, "Jobs")) == (2, 1, 0)
    assert prop(page, "Revenue") == "EUR 4200"
    UserFactory(created_at=datetime(2026, 11, 27, 10, 0, tzinfo=UTC))
    again = notion_sync(database="pulse", now=friday + timedelta(hours=1))
    assert (again.created, again.updated) == (0, 1)
    assert prop(_only(fake_notion, "pulse"), "Signups") == 2


def test_the_catalog_holds_published_listings_and_says_when_one_is_delisted(fake_notion):
    listing = listing_make(name="Summariser", amount_minor=1900, currency="gbp", downloads=12)
    listing_make(status=Listing.Status.PENDING_REVIEW)

    notion_sync(database="catalog")

    page = _only(fake_notion, "catalog")
    assert (prop(page, "Name"), prop(page, "Price"), prop(page, "Currency")) == ("Summariser", 1900, "GBP")
    assert (prop(page, "Downloads"), prop(page, "Category"), prop(page, "Status")) == (12, "module", "published")
    Listing.objects.filter(pk=listing.pk).update(status=Listing.Status.DELISTED)
    notion_sync(database="catalog")
    assert prop(_only(fake_notion, "catalog"), "Status") == "delisted"


def test_audits_with_their_outcome_and_failing_findings(fake_notion):
    partner = partner_make(name="Acme Data")
    now = timezone.now()
    PartnerAudit.objects.create(partner=partner, trigger="scheduled", started_at=now, finished_at=now, outcome="warn",
                                policy_version=1, findings=[
                                    {"check": "https", "ok": True, "severity": "info", "detail": "https"},
                                    {"check": "deliveries", "ok": False, "severity": "warning", "detail": "3 failed"}])

    notion_sync(database="audit")

    page = _only(fake_notion, "audit")
    assert (prop(page, "Partner"), prop(page, "Outcome"), prop(page, "Findings")) == ("Acme Data", "warn", 1)
    assert prop(page, "Summary") == "deliveries (warning)"


def test_the_registry_task_syncs_partners_catalog_and_audits(fake_notion):
    listing_make(name="Summariser")  # and its partner

    result = tasks.notion_sync_registry()

    assert result["partners"]["created"] == 1 and result["catalog"]["created"] == 1
    assert result["audit"] == {"outcome": "ok", "created": 0, "updated": 0, "unchanged": 0, "failed": 0}


def test_the_command_prints_each_database_with_its_counts(fake_notion, settings, capsys):
    partner_make(name="Acme Data")
    settings.NOTION_DATABASES = {**settings.NOTION_DATABASES, "audit": ""}

    call_command("notion_sync", "registry")

    out = capsys.readouterr().out
    assert "partners: ok: 1 created, 0 updated, 0 unchanged, 0 failed, 3 requests" in out
    assert "catalog: ok: 0 created" in out
    assert "audit: skipped: NOTION_DB_AUDIT is not set" in out


def test_the_sync_log_in_admin_and_not_configured_said_there_and_on_status(operator, settings):
    settings.NOTION_TOKEN = ""
    notion_sync(database="health")

    page = operator.get(reverse("admin:intelligence_notionsyncrun_changelist"))
    status = operator.get("/status").json()["info"]["notion"]

    assert page.status_code == 200
    body = page.content.decode()
    assert "Notion is not configured: NOTION_TOKEN is not set" in body
    assert "NOTION_TOKEN is not set" in body and "skipped" in body.lower()
    run = NotionSyncRun.objects.get()
    detail = operator.get(reverse("admin:intelligence_notionsyncrun_change", args=[run.pk]))
    assert detail.status_code == 200 and b"NOTION_TOKEN is not set" in detail.content
    assert status == {"configured": False, "detail": "NOTION_TOKEN is not set"}


def test_status_lists_the_databases_configured(fake_notion, settings, client):
    settings.NOTION_DATABASES = {**settings.NOTION_DATABASES, "pulse": ""}

    notion = client.get("/status").json()["info"]["notion"]

    assert notion["configured"] is True and notion["not_configured"] == ["pulse"]
    assert fake_notion.requests == []  # /status answers from settings
