"""Browser tests: Playwright (sync API) driving Debian's Chromium at /usr/bin/chromium against
pytest-django's live_server, which runs in this process (so django.core.mail.outbox and the test
database are shared with the test) and serves static files through Django's StaticFilesHandler
(the finders: static/ and the apps' static folders), so pages load their CSS and JS as deployed.

Every page a test opens is watched: a console error, an uncaught exception or a Content Security
Policy violation fails the test. Screenshots go to test-artifacts/screenshots/<test>-<step>.png.

Playwright's own browser download is never used (it fetches builds from outside the package
registries): scripts/browser_setup.sh installs Debian's chromium. Without it, or without the
playwright package, the tests marked `browser` are skipped with the reason."""

import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest
from django.conf import settings

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# Headless, no sandbox (we run as root), and nothing that reaches out on its own: no QUIC, no
# background networking, component updates or sync. The profile is a fresh temporary directory.
CHROMIUM_ARGS = [
    "--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SCREENSHOTS = Path(settings.BASE_DIR) / "test-artifacts" / "screenshots"
TIMEOUT_MS = 30_000  # generous: the suites run side by side with the fuzz, and a busy machine renders slowly


def browser_unavailable() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -r requirements-dev.txt)"
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return f"no Chromium at {CHROMIUM} (scripts/browser_setup.sh installs Debian's chromium)"
    return None


def pytest_collection_modifyitems(config, items):
    reason = browser_unavailable()
    if reason:
        for item in items:
            if "browser" in item.keywords:
                item.add_marker(pytest.mark.skip(reason=f"browser tests: {reason}"))


@pytest.fixture(scope="module")
def _playwright():
    from playwright.sync_api import expect, sync_playwright

    # expect()'s waits get the actions' budget too (its own default is 5 s): a page that renders
    # slowly on a busy machine (the suites run side by side) is waited for, a broken one still fails.
    expect.set_options(timeout=TIMEOUT_MS)
    # Playwright's sync API keeps an event loop running in this thread while it is started, and
    # Django's ORM refuses to run where a loop runs, although the tests' calls are plain
    # synchronous ones made between page steps. Allowed for one module of browser tests at a
    # time, so the rest of the suite keeps Django's check.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as pw:
            yield pw
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def browser_context(_playwright, live_server):
    """A Chromium of its own for each test, with a fresh profile directory (user-data-dir), so no
    cookie, storage or cache crosses from one test to the next."""
    profile = tempfile.mkdtemp(prefix="levqor-chromium-")
    context = _playwright.chromium.launch_persistent_context(
        profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
        base_url=live_server.url, viewport={"width": 1280, "height": 900}, locale="en-GB",
    )
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context
    finally:
        context.close()
        shutil.rmtree(profile, ignore_errors=True)


class ConsoleWatch:
    """What the pages of a test said: console messages, uncaught errors and CSP violations."""

    def __init__(self):
        self.messages = []   # (type, text, url)
        self.errors = []     # problems that fail the test

    def attach(self, page):
        page.on("console", self._on_console)
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught JS error on {page.url}: {exc}"))
        # A listener that runs before any page script, so every violation is reported once more
        # with its directive, whether or not the browser also logs it.
        page.add_init_script(
            "document.addEventListener('securitypolicyviolation', e => console.error("
            "'CSP violation: ' + e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + "
            "' at ' + e.sourceFile + ':' + e.lineNumber));"
        )

    def _on_console(self, msg):
        location = msg.location or {}
        url = location.get("url", "")
        self.messages.append((msg.type, msg.text, url))
        if url.endswith("/favicon.ico"):
            return  # the browser asks for it on its own; no page of ours links one
        if msg.type == "error" or "Content Security Policy" in msg.text:
            self.errors.append(f"console {msg.type} on {url or '?'}: {msg.text}")

    def csp_violations(self):
        return [e for e in self.errors if "CSP violation" in e or "Content Security Policy" in e]

    def assert_clean(self):
        errors, self.errors = self.errors, []
        if errors:
            pytest.fail("the browser console reported problems:\n  " + "\n  ".join(errors))


@pytest.fixture
def console():
    return ConsoleWatch()


@pytest.fixture
def page(browser_context, console):
    """A page of the live server (relative URLs: page.goto("/login")) whose console is watched;
    any console error, uncaught exception or CSP violation fails the test when it ends."""
    page = browser_context.pages[0] if browser_context.pages else browser_context.new_page()
    console.attach(page)
    browser_context.on("page", console.attach)  # pages opened later (new tabs, popups)
    return page


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """After a test that passed, what its pages said in the console decides: a failure of the
    test itself (not an error in teardown), with every message listed."""
    result = yield
    watch = getattr(item, "funcargs", {}).get("console")
    if isinstance(watch, ConsoleWatch):
        watch.assert_clean()
    return result


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:120]


@pytest.fixture
def screenshot(page, request):
    """screenshot("step") saves the whole page to test-artifacts/screenshots/<test>-<step>.png
    and returns the path; full_page=False keeps to the window (a page many screens long, like the
    API reference, would take longer to capture than it is worth)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(step: str, target=None, *, full_page: bool = True) -> Path:
        path = SCREENSHOTS / f"{_slug(request.node.name)}-{_slug(step)}.png"
        # Written aside, then renamed into place: the SQLite and the PostgreSQL runs of
        # scripts/test.sh run at the same time and take the same screenshots, so each file is
        # one whole image (the last run's), never two writes interleaved.
        partial = path.with_name(f".{path.stem}.{os.getpid()}.png")
        if target is None:
            page.screenshot(path=str(partial), full_page=full_page)
        else:
            target.screenshot(path=str(partial))
        os.replace(partial, path)
        return path

    return take
