"""The browser setup itself, on pages that exist on every branch: Chromium starts, the live server
serves pages with their static files, the console watch catches what it should, and screenshots
are written."""

import pytest

pytestmark = pytest.mark.browser


@pytest.fixture
def smoke_urls(settings):
    settings.ROOT_URLCONF = "tests.browser.urls_smoke"


def _static_responses(page):
    seen = []
    page.on("response", lambda r: seen.append((r.url, r.status)) if "/static/" in r.url else None)
    return seen


def test_a_page_under_the_csp_runs_its_nonced_script_and_loads_its_css(page, console, screenshot, smoke_urls):
    statics = _static_responses(page)
    page.goto("/__smoke__/good")

    assert page.text_content("#ran") == "script ran"
    # The nonce'd <style> and the site stylesheet (served by the live server) both apply.
    assert page.eval_on_selector("#ran", "e => getComputedStyle(e).letterSpacing") == "3px"
    assert page.eval_on_selector(".site-header", "e => getComputedStyle(e).borderBottomStyle") == "solid"
    assert any(url.endswith("/static/levqor/site.css") and status == 200 for url, status in statics), statics
    assert ("log", "smoke page script ran") in [(kind, text) for kind, text, _ in console.messages]
    assert page.is_visible("#cookie-settings")

    path = screenshot("page")
    assert path.name == "test_a_page_under_the_csp_runs_its_nonced_script_and_loads_its_css-page.png"
    assert path.stat().st_size > 1000 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_inline_script_without_the_nonce_is_blocked_and_reported(page, console, smoke_urls):
    page.goto("/__smoke__/bad")

    assert page.text_content("#ran") == "script did not run"
    violations = console.csp_violations()
    assert violations and any("script-src" in v for v in violations), console.errors
    with pytest.raises(pytest.fail.Exception, match="CSP violation"):
        console.assert_clean()  # what would fail a page test; it also empties the list


def test_the_admin_login_page_loads_cleanly(page, screenshot):
    statics = _static_responses(page)
    page.goto("/admin/login/")

    assert page.is_visible("input[name=username]")
    assert statics and all(status == 200 for _, status in statics), statics
    screenshot("admin-login")


def test_a_form_posts_with_its_csrf_and_session_cookies(page, screenshot):
    """Forms need the CSRF and session cookies, which are Secure outside the embedded mode:
    Chromium keeps Secure cookies on http://localhost, so signing in works on both setups."""
    from accounts.models import User

    User.objects.create_superuser("admin@example.com", "a long test password")
    page.goto("/admin/login/")
    page.fill("input[name=username]", "admin@example.com")
    page.fill("input[name=password]", "a long test password")
    page.click("input[type=submit]")

    page.wait_for_url("**/admin/")
    assert page.is_visible("#site-name")
    assert "admin@example.com" in page.text_content("#user-tools")
    screenshot("admin-index")
