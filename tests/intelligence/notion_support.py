"""The fake Notion API started for a test, with the sync configured against it."""

import pytest

from tests.fake_notion import FakeNotion, fake_notion_serve

NOTION_TEST_TOKEN = "ntn_levqor_fake_token"
DATABASE_IDS = {name: f"db-{name}" for name in ("health", "costs", "pulse", "partners", "catalog", "audit")}


@pytest.fixture(name="fake_notion")
def fake_notion_fixture(settings):
    """notion-client pointed at a local fake Notion; requests unlimited (the rate test sets its own),
    retries quick."""
    fake = FakeNotion(token=NOTION_TEST_TOKEN, databases=DATABASE_IDS)
    server = fake_notion_serve(fake)
    settings.NOTION_TOKEN = NOTION_TEST_TOKEN
    settings.NOTION_BASE_URL = fake.url
    settings.NOTION_DATABASES = dict(DATABASE_IDS)
    settings.NOTION_REQUESTS_PER_SECOND = 1000
    settings.NOTION_RETRY_BASE_SECONDS = 0.05
    settings.NOTION_TIMEOUT_SECONDS = 5
    yield fake
    server.shutdown()
    server.server_close()
    assert fake.problems == []  # every request carried the token and the Notion-Version


def ds(name: str) -> str:
    return f"ds-{DATABASE_IDS[name]}"
