"""Notion sync against a local fake Notion API (tests/fake_notion.py) through the real notion-client:
upsert by our id, nothing sent for unchanged rows, 429 Retry-After, the rate limit, retries, and
no request at all when Notion is not configured."""


import pytest
from django.core.cache import cache
from django_q.models import Schedule

from intelligence import tasks
from intelligence.models import NotionPage, NotionSyncRun
from intelligence.services.notion import NotionUnavailable, notion_sync
from tests.fake_notion import NOTION_VERSION, FakeNotion
from tests.intelligence.notion_support import NOTION_TEST_TOKEN, ds, fake_notion_fixture  # noqa: F401  (fake_notion)
from tests.partners.governance_support import partner_make

pytestmark = pytest.mark.django_db


def _partners(*names):
    return [partner_make(name=name) for name in names]


def test_the_first_sync_creates_a_page_per_partner_with_our_id_the_token_and_the_api_version(fake_notion):
    partners = _partners("Acme Data", "Borealis", "Cobalt")

    run = notion_sync(database="partners", source="test")

    assert (run.outcome, run.created, run.updated, run.unchanged, run.failed) == ("ok", 3, 0, 0, 0)
    pages = fake_notion.pages(ds("partners"))
    assert sorted(FakeNotion.prop(page, "Name") for page in pages) == ["Acme Data", "Borealis", "Cobalt"]
    acme = next(page for page in pages if FakeNotion.prop(page, "Name") == "Acme Data")
    assert FakeNotion.prop(acme, "Levqor ID") == f"partner:{partners[0].pk}"
    assert FakeNotion.prop(acme, "Status") == "approved"
    assert FakeNotion.prop(acme, "Verified") is True
    # The data source found once, then a query (is our id there?) and a create per row.
    assert [(r["method"], r["path"].split("/")[2]) for r in fake_notion.requests[:3]] == [
        ("GET", "databases"), ("POST", "data_sources"), ("POST", "pages")]
    assert fake_notion.count("POST", "/v1/pages") == 3 and run.requests == 7
    for request in fake_notion.requests:
        assert request["headers"]["authorization"] == f"Bearer {NOTION_TEST_TOKEN}"
        assert request["headers"]["notion-version"] == NOTION_VERSION
    assert NotionPage.objects.filter(database="partners").count() == 3


def test_a_rerun_creates_nothing_and_sends_no_request_for_unchanged_rows(fake_notion):
    _partners("Acme Data", "Borealis")
    notion_sync(database="partners")
    sent = len(fake_notion.requests)

    run = notion_sync(database="partners")

    assert (run.outcome, run.created, run.updated, run.unchanged, run.requests) == ("ok", 0, 0, 2, 0)
    assert len(fake_notion.requests) == sent
    assert len(fake_notion.pages(ds("partners"))) == 2


def test_a_changed_row_is_updated_in_place(fake_notion):
    acme, _ = _partners("Acme Data", "Borealis")
    notion_sync(database="partners")
    page_id = NotionPage.objects.get(levqor_id=f"partner:{acme.pk}").page_id
    sent = len(fake_notion.requests)
    acme.name, acme.rating_avg, acme.rating_count = "Acme Data Ltd", "4.50", 2
    acme.save()

    run = notion_sync(database="partners")

    assert (run.created, run.updated, run.unchanged) == (0, 1, 1)
    new = fake_notion.requests[sent:]
    assert [(r["method"], r["path"]) for r in new] == [("PATCH", f"/v1/pages/{page_id}")]
    page = fake_notion.store[page_id]
    assert (FakeNotion.prop(page, "Name"), FakeNotion.prop(page, "Rating")) == ("Acme Data Ltd", 4.5)
    assert len(fake_notion.pages(ds("partners"))) == 2


def test_without_the_local_map_the_page_is_found_by_our_id_not_made_twice(fake_notion):
    _partners("Acme Data")
    notion_sync(database="partners")
    NotionPage.objects.all().delete()  # a restored database, a new deployment...

    run = notion_sync(database="partners")

    assert (run.created, run.updated) == (0, 1)
    assert len(fake_notion.pages(ds("partners"))) == 1
    assert NotionPage.objects.count() == 1


def test_a_page_deleted_in_notion_is_made_again(fake_notion):
    acme, = _partners("Acme Data")
    notion_sync(database="partners")
    fake_notion.store.clear()
    acme.name = "Acme Two"
    acme.save()

    run = notion_sync(database="partners")

    assert (run.created, run.updated) == (1, 0)
    assert [FakeNotion.prop(page, "Name") for page in fake_notion.pages(ds("partners"))] == ["Acme Two"]


def test_a_429_waits_its_retry_after_then_the_same_request_goes_again(fake_notion):
    _partners("Acme Data")
    fake_notion.script(429, {"code": "rate_limited", "message": "slow down"}, headers={"Retry-After": "1"})

    run = notion_sync(database="partners")

    assert (run.outcome, run.created) == ("ok", 1)
    limited, retried = fake_notion.requests[0], fake_notion.requests[1]
    assert limited["path"] == retried["path"] == "/v1/databases/db-partners"
    assert retried["at"] - limited["at"] >= 1.0
    assert run.requests == 1 + 3


def test_no_more_than_the_configured_requests_a_second(fake_notion, settings):
    settings.NOTION_REQUESTS_PER_SECOND = 3
    _partners("Acme Data", "Borealis")

    notion_sync(database="partners")

    times = [request["at"] for request in fake_notion.requests]
    assert len(times) == 5  # the data source, then a query and a create per partner
    # Arrival times at the fake: the limiter spaces the sends 1/3 s apart, and a loaded machine (CI runs
    # three suites side by side) may deliver one send late and the next on time, so each gap may read
    # up to 0.2 s short; without the limiter the five would arrive within a few milliseconds.
    assert times[-1] - times[0] >= (len(times) - 1) / 3 - 0.2
    assert all(later - earlier >= 1 / 3 - 0.2 for earlier, later in zip(times, times[1:], strict=False))


def test_a_server_error_is_retried_and_the_row_is_not_created_twice(fake_notion):
    _partners("Acme Data")
    notion_sync(database="partners")  # the data source known... then a new partner
    partner_make(name="Borealis")
    fake_notion.script(500, times=2)  # the new row's query fails twice

    run = notion_sync(database="partners")

    assert (run.outcome, run.created, run.unchanged) == ("ok", 1, 1)
    assert len(fake_notion.pages(ds("partners"))) == 2


def test_notion_down_fails_the_run_says_so_and_the_task_comes_back_later(fake_notion, settings):
    settings.NOTION_MAX_ATTEMPTS = 2
    _partners("Acme Data")
    fake_notion.script(503, {"code": "service_unavailable"}, times=50)

    with pytest.raises(NotionUnavailable):
        tasks.notion_sync_registry()

    run = NotionSyncRun.objects.get(database="partners")
    assert run.outcome == "failed" and "503" in run.error and run.finished_at is not None
    # The registry's other databases were still tried (and failed the same way).
    assert set(NotionSyncRun.objects.values_list("database", flat=True)) == {"partners", "catalog", "audit"}
    retry = Schedule.objects.get(func="intelligence.tasks.notion_sync_registry", schedule_type=Schedule.ONCE)
    assert retry.args == "(1,)"


def test_a_row_notion_refuses_is_counted_and_the_others_go_on(fake_notion):
    _partners("Acme Data", "Borealis")
    fake_notion.script(400, {"code": "validation_error", "message": "Rating is not a property that exists."},
                       times=1)

    run = notion_sync(database="partners")

    assert (run.outcome, run.failed, run.created) == ("partial", 1, 1)
    assert "validation_error" in run.error


def test_one_sync_of_a_database_at_a_time(fake_notion):
    _partners("Acme Data")
    cache.add("notion:sync:partners", "another-worker", 60)

    run = notion_sync(database="partners")

    assert (run.outcome, run.error) == ("skipped", "another sync of this database is running")
    assert fake_notion.requests == []


def test_not_configured_makes_no_request_and_says_why(fake_notion, settings):
    _partners("Acme Data")
    settings.NOTION_DATABASES = {**settings.NOTION_DATABASES, "health": ""}

    health = notion_sync(database="health")
    settings.NOTION_TOKEN = ""
    partners = notion_sync(database="partners")

    assert (health.outcome, health.error) == ("skipped", "NOTION_DB_HEALTH is not set")
    assert (partners.outcome, partners.error) == ("skipped", "NOTION_TOKEN is not set")
    assert fake_notion.requests == []
    assert NotionPage.objects.count() == 0
    assert health.finished_at is not None


def test_notion_out_of_reach_is_retried_then_the_run_fails_saying_so(fake_notion, settings, closed_port):
    settings.NOTION_BASE_URL = f"http://127.0.0.1:{closed_port}"
    settings.NOTION_MAX_ATTEMPTS = 2
    _partners("Acme Data")

    with pytest.raises(NotionUnavailable):
        notion_sync(database="partners")

    run = NotionSyncRun.objects.get()
    assert run.outcome == "failed" and run.requests == 2 and "ConnectError" in run.error
    assert NotionPage.objects.count() == 0
