"""The API reference (/api/v1/docs) in a real browser: Redoc, served from our static files, renders
the schema under the normal page policy, with no CSP violation (the console watch fails the test
on any) and nothing loaded from another origin."""

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_redoc_renders_the_schema_offline_under_the_page_policy(page, live_server, console, screenshot):
    requested = []
    page.on("request", lambda r: requested.append(r.url))
    # Any request to another origin is refused, as offline: the page must not need one.
    page.route(lambda url: urlsplit(url).netloc != urlsplit(live_server.url).netloc, lambda route: route.abort())

    page.goto("/api/v1/docs")

    # Redoc parses the whole schema (~360 KB) in the browser before it draws: allow a loaded machine time.
    expect(page.locator("h1")).to_contain_text("Levqor API", timeout=30_000)
    # Operations of the schema are listed, and the search (a blob: worker) answers.
    expect(page.locator("h2", has_text="Submit a job").first).to_be_visible(timeout=30_000)
    page.get_by_placeholder("Search...").fill("cancel")
    expect(page.locator("[role=search] li").first).to_contain_text("Cancel", timeout=30_000)
    # Redoc's styles apply: its styled-components ones (by the nonce: a sticky 260px sidebar) and
    # perfect-scrollbar's (by their hash: .ps { overflow: hidden }).
    assert page.eval_on_selector(".menu-content", "e => [getComputedStyle(e).position, getComputedStyle(e).width]") == [
        "sticky", "260px"]
    assert page.eval_on_selector(".scrollbar-container.ps", "e => getComputedStyle(e).overflow") == "hidden"
    # Redocly's logo (from their CDN) was never asked for; its link stays.
    assert page.locator("img").count() == 0
    expect(page.get_by_role("link", name="API docs by Redocly")).to_be_visible()
    screenshot("api-docs", full_page=False)

    origin = urlsplit(live_server.url).netloc
    assert requested and all(urlsplit(u).netloc == origin or u.startswith(("blob:", "data:")) for u in requested), \
        requested
