"""Notion sync: keeps the Notion databases of settings.NOTION_DATABASES (health, costs, pulse,
partners, catalog, audit) holding our rows (intelligence.services.notion_rows), through notion-client.

- Upsert by our id: each page holds it in the "Levqor ID" property. NotionPage maps our id to the
  page and the hash of what was sent: an unchanged row costs no request, a changed one is updated
  in place; a row we have not sent yet is first looked for in Notion (a data source query filtered
  on our id: a run whose local map was lost adds no duplicate), then updated or created.
- Notion API 2025-09-03 (notion-client 3.1's default): a database holds data sources; pages are
  queried and created in the database's (first) data source, found with databases.retrieve once.
- Limits: at most NOTION_REQUESTS_PER_SECOND requests a second from this process (one limiter for
  every call, retries included); one sync per database at a time across processes (a cache lock).
  A 429 waits its Retry-After and tries again; a 5xx, a timeout or a connection error backs off and
  redoes the row (query first: a create that failed halfway is found, not made twice), up to
  NOTION_MAX_ATTEMPTS; then the run fails and the task hands itself to the workers again later.
- Not configured (no NOTION_TOKEN, or the database's id empty): no request, the run is logged as
  skipped with the reason. NotionSyncRun logs every run (admin: Operations > Notion sync runs)."""

import hashlib
import json
import logging
import threading
import time
import uuid
from datetime import datetime, timedelta

import httpx
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from notion_client import APIErrorCode, APIResponseError, Client
from notion_client.errors import HTTPResponseError, RequestTimeoutError

from intelligence.models import NotionPage, NotionSyncRun
from intelligence.services.notion_rows import ID_PROPERTY, NOTION_ROWS, NotionRow

logger = logging.getLogger("levqor.notion")
# notion-client's own log (request failures) into ours: its default adds a console handler per client.
_client_logger = logging.getLogger("levqor.notion.client")

DATABASES = tuple(NOTION_ROWS)  # health, costs, pulse, partners, catalog, audit
GROUPS = {"health": ("health",), "costs": ("costs",), "pulse": ("pulse",),
          "registry": ("partners", "catalog", "audit"), "all": DATABASES}
LOCK_SECONDS = 30 * 60  # a crashed sync's lock lapses after this
RETRY_AFTER_DEFAULT_SECONDS = 1.0  # a 429 without Retry-After
RETRY_AFTER_MAX_SECONDS = 60.0
RATE_LIMITED_TRIES = 5  # 429s in a row for one request before the run gives up
TASK_RETRIES = 3  # a failed run's task is handed to the workers again this many times
TASK_RETRY_MINUTES = (5, 15, 45)


class NotionUnavailable(Exception):
    """Notion kept failing (5xx, timeouts, connection errors, 429s) after every attempt."""


# --- configuration -------------------------------------------------------------------------------

def notion_not_configured(database: str) -> str:
    """Why `database` cannot be synced ("" when it can)."""
    if database not in DATABASES:
        raise ValueError(f"unknown Notion database {database!r}; one of {', '.join(DATABASES)}")
    if not settings.NOTION_TOKEN:
        return "NOTION_TOKEN is not set"
    if not settings.NOTION_DATABASES.get(database):
        return f"NOTION_DB_{database.upper()} is not set"
    return ""


def notion_status() -> dict:
    """/status "info" line (from settings only: no query, no secret)."""
    configured = [name for name in DATABASES if not notion_not_configured(name)]
    if not settings.NOTION_TOKEN:
        return {"configured": False, "detail": "NOTION_TOKEN is not set"}
    return {"configured": bool(configured), "databases": configured,
            "not_configured": [name for name in DATABASES if name not in configured]}


# --- the rate limiter ------------------------------------------------------------------------

class RateLimiter:
    """At most `rate()` calls a second, shared by every thread of the process: each call takes the
    next free slot, 1/rate after the previous one, and sleeps until it."""

    def __init__(self, rate, *, clock=time.monotonic, sleep=time.sleep):
        self._rate, self._clock, self._sleep = rate, clock, sleep
        self._lock = threading.Lock()
        self._next = 0.0

    def wait(self) -> None:
        with self._lock:
            now = self._clock()
            slot = max(self._next, now)
            self._next = slot + 1.0 / max(float(self._rate()), 0.001)
        if slot > now:
            self._sleep(slot - now)


_limiter = RateLimiter(lambda: settings.NOTION_REQUESTS_PER_SECOND)


# --- one sync run ----------------------------------------------------------------------------

def content_hash(row: NotionRow) -> str:
    return hashlib.sha256(json.dumps(row.notion_properties(), sort_keys=True, default=str).encode()).hexdigest()


class _Session:
    """A run's requests to one database: every call through the limiter, 429s waited out."""

    def __init__(self, run: NotionSyncRun, database_id: str):
        self.run, self.database_id = run, database_id
        self.client = Client(auth=settings.NOTION_TOKEN, base_url=settings.NOTION_BASE_URL,
                             timeout_ms=int(settings.NOTION_TIMEOUT_SECONDS * 1000), retry=False,
                             logger=_client_logger, log_level=logging.WARNING)
        self._data_source_id = None

    def call(self, endpoint, *args, **kwargs):
        for _ in range(RATE_LIMITED_TRIES):
            _limiter.wait()
            self.run.requests += 1
            try:
                return endpoint(*args, **kwargs)
            except APIResponseError as error:
                if error.code != APIErrorCode.RateLimited:
                    raise
                wait = _retry_after(error)
                logger.info("notion rate limited; waiting %.1f s", wait)
                time.sleep(wait)
        raise NotionUnavailable(f"Notion answered 429 rate_limited {RATE_LIMITED_TRIES} times in a row")

    def data_source_id(self) -> str:
        if self._data_source_id is None:
            database = self.call(self.client.databases.retrieve, self.database_id)
            sources = database.get("data_sources") or []
            if not sources:
                raise ValueError("the Notion database has no data source")
            self._data_source_id = sources[0]["id"]
        return self._data_source_id

    def page_find(self, levqor_id: str) -> str | None:
        found = self.call(self.client.data_sources.query, self.data_source_id(), page_size=1,
                          filter={"property": ID_PROPERTY, "rich_text": {"equals": levqor_id}})
        results = found.get("results") or []
        return results[0]["id"] if results else None

    def page_create(self, properties: dict) -> str:
        page = self.call(self.client.pages.create, properties=properties,
                         parent={"type": "data_source_id", "data_source_id": self.data_source_id()})
        return page["id"]

    def page_update(self, page_id: str, properties: dict) -> None:
        self.call(self.client.pages.update, page_id, properties=properties)

    def close(self):
        self.client.close()


def _retry_after(error: APIResponseError) -> float:
    try:
        seconds = float(error.headers.get("retry-after"))
    except (TypeError, ValueError):
        return RETRY_AFTER_DEFAULT_SECONDS
    return min(max(seconds, 0.0), RETRY_AFTER_MAX_SECONDS)


def _transient(error: Exception) -> bool:
    if isinstance(error, (RequestTimeoutError, httpx.TransportError, NotionUnavailable)):
        return True
    return isinstance(error, HTTPResponseError) and error.status >= 500


def _row_upsert(session: _Session, row: NotionRow, digest: str, known: NotionPage | None) -> str:
    """Send one new or changed row and record its page: "created" or "updated"."""
    properties = row.notion_properties()
    page_id, outcome = None, "updated"
    if known is not None:
        try:
            session.page_update(known.page_id, properties)
            page_id = known.page_id
        except APIResponseError as error:
            if error.code != APIErrorCode.ObjectNotFound:
                raise
            # The page was deleted in Notion: look for our id, else make it again.
    if page_id is None:
        page_id = session.page_find(row.levqor_id)
        if page_id is not None:
            session.page_update(page_id, properties)
        else:
            page_id, outcome = session.page_create(properties), "created"
    NotionPage.objects.update_or_create(database=session.run.database, levqor_id=row.levqor_id,
                                        defaults={"page_id": page_id, "content_hash": digest,
                                                  "synced_at": timezone.now()})
    return outcome


def _row_sync(session: _Session, row: NotionRow, known: NotionPage | None) -> str:
    """One row, retried on transient errors with backoff: created, updated or unchanged."""
    digest = content_hash(row)
    if known is not None and known.content_hash == digest:
        return "unchanged"
    attempts = max(int(settings.NOTION_MAX_ATTEMPTS), 1)
    for attempt in range(attempts):
        try:
            return _row_upsert(session, row, digest, known)
        except Exception as error:
            if not _transient(error) or attempt == attempts - 1:
                raise
            delay = settings.NOTION_RETRY_BASE_SECONDS * (2 ** attempt)
            logger.info("notion request failed (%s); row %s again in %.1f s", type(error).__name__,
                        row.levqor_id, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")


def _error_text(error: Exception) -> str:
    if isinstance(error, HTTPResponseError):
        code = getattr(error, "code", "")
        return f"{error.status} {getattr(code, 'value', code)}: {error}"[:500]
    return f"{type(error).__name__}: {error}"[:500]


def _finish(run: NotionSyncRun, outcome: str, error: str = "") -> NotionSyncRun:
    run.outcome, run.error, run.finished_at = outcome, error[:500], timezone.now()
    run.save()
    return run


def notion_sync(*, database: str, now: datetime | None = None, source: str = "") -> NotionSyncRun:
    """Sync one Notion database (a key of settings.NOTION_DATABASES) and log the run. Raises
    NotionUnavailable when Notion kept failing (the run says so first); a row Notion refuses (a
    4xx: a missing column...) is counted failed and the others go on (outcome partial)."""
    now = now or timezone.now()
    run = NotionSyncRun.objects.create(database=database, started_at=timezone.now(), source=source[:32])
    reason = notion_not_configured(database)
    if reason:
        return _finish(run, NotionSyncRun.Outcome.SKIPPED, reason)
    lock_key, token = f"notion:sync:{database}", uuid.uuid4().hex
    if not cache.add(lock_key, token, LOCK_SECONDS):
        return _finish(run, NotionSyncRun.Outcome.SKIPPED, "another sync of this database is running")
    session = _Session(run, settings.NOTION_DATABASES[database])
    first_error = ""
    try:
        rows = NOTION_ROWS[database](now=now)
        known = {page.levqor_id: page for page in
                 NotionPage.objects.filter(database=database, levqor_id__in=[row.levqor_id for row in rows])}
        for row in rows:
            try:
                outcome = _row_sync(session, row, known.get(row.levqor_id))
            except Exception as error:
                if _transient(error):
                    raise
                run.failed += 1
                first_error = first_error or f"{row.levqor_id}: {_error_text(error)}"
                logger.warning("notion refused row %s of %s: %s", row.levqor_id, database, _error_text(error))
                continue
            setattr(run, outcome, getattr(run, outcome) + 1)
    except Exception as error:
        detail = _error_text(error)
        _finish(run, NotionSyncRun.Outcome.FAILED, f"{detail} (after {run.requests} requests)")
        if _transient(error):
            raise NotionUnavailable(detail) from error
        raise
    finally:
        session.close()
        if cache.get(lock_key) == token:
            cache.delete(lock_key)
    return _finish(run, NotionSyncRun.Outcome.PARTIAL if run.failed else NotionSyncRun.Outcome.OK, first_error)


def notion_sync_group(*, group: str, now: datetime | None = None, source: str = "") -> list[NotionSyncRun]:
    """Sync each database of `group` (health, costs, pulse, registry, all). A database whose sync
    fails does not stop the others; NotionUnavailable is raised at the end if any failed so."""
    if group not in GROUPS:
        raise ValueError(f"unknown Notion sync {group!r}; one of {', '.join(GROUPS)}")
    runs, unavailable = [], None
    for database in GROUPS[group]:
        try:
            runs.append(notion_sync(database=database, now=now, source=source))
        except NotionUnavailable as error:
            unavailable = error
            runs.append(NotionSyncRun.objects.filter(database=database).order_by("-started_at", "-pk").first())
    if unavailable is not None:
        raise unavailable
    return runs


def notion_sync_task_run(*, group: str, attempt: int = 0) -> dict:
    """A task's run: sync the group; when Notion was unavailable, hand this task to the workers
    again (TASK_RETRY_MINUTES, up to TASK_RETRIES times) and raise, so django-q2 records the failure."""
    from levqor.tasks_queue import task_push

    try:
        runs = notion_sync_group(group=group, source="schedule" if attempt == 0 else f"retry {attempt}")
    except NotionUnavailable:
        if attempt < TASK_RETRIES:
            when = timezone.now() + timedelta(minutes=TASK_RETRY_MINUTES[attempt])
            task_push(f"intelligence.tasks.notion_sync_{group}", attempt + 1, when=when)
        raise
    return {run.database: {"outcome": run.outcome, "created": run.created, "updated": run.updated,
                           "unchanged": run.unchanged, "failed": run.failed} for run in runs}
