"""The integrity check (issue 13 §4): one job end to end through the real stack, then the parts
under it, each step timed and kept in an IntegrityRun; a failed run raises a critical alert; the
evidence is a PDF Report. README (Integrity check) says how it runs by hand and on its schedule."""

import json
import time
import uuid
from collections.abc import Callable
from datetime import timedelta

import standardwebhooks
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from intelligence.models import IntegrityRun, Report
from intelligence.services import integrity_checks as checks
from intelligence.services.integrity_checks import IntegrityFailed
from intelligence.services.integrity_receiver import CallbackReceiver

INTEGRITY_EMAIL = "integrity@levqor.internal"
WORKFLOW = "demo.flow"  # echoes its payload: no outbound call, nothing real happens
FINAL = ("succeeded", "failed", "cancelled")
STEP_NAMES = ("job submitted", "job run", "callback verified", "key revoked", "database", "cache", "broker",
              "schedules", "email configuration", "stripe configuration", "sentry")


class _Steps:
    """Runs named steps in order, timing each; a step that raises is recorded as failed and the
    run goes on (the next steps can still say something)."""

    def __init__(self, progress: Callable[[dict], None] | None):
        self.steps: list[dict] = []
        self._progress = progress

    def run(self, name: str, func: Callable[[], str]) -> bool:
        started = time.monotonic()
        try:
            detail, ok = func(), True
        except IntegrityFailed as exc:
            detail, ok = str(exc), False
        except Exception as exc:  # whatever broke is the finding
            detail, ok = f"{type(exc).__name__}: {str(exc)[:300]}", False
        step = {"name": name, "ok": ok, "ms": round((time.monotonic() - started) * 1000), "detail": detail}
        self.steps.append(step)
        if self._progress:
            self._progress(step)
        return ok

    def fail(self, name: str, detail: str) -> None:
        """A step that could not run, recorded as failed with why."""
        step = {"name": name, "ok": False, "ms": 0, "detail": detail}
        self.steps.append(step)
        if self._progress:
            self._progress(step)


class _Api:
    """The public API as a client sees it: a real HTTP request to base_url, or Django's test client
    in this process (the same middleware, views and database) when there is none."""

    def __init__(self, raw_key: str, base_url: str | None):
        self.raw_key, self.base_url = raw_key, base_url
        if base_url:
            import httpx

            self._http = httpx.Client(base_url=base_url.rstrip("/"), timeout=15)
            self.how = f"HTTP to {base_url}"
        else:
            from django.test import Client

            hosts = [h.lstrip(".") for h in settings.ALLOWED_HOSTS if h not in ("*", "")]
            self._client = Client(HTTP_HOST=hosts[0] if hosts else "testserver")
            self.how = "in-process (Django test client)"

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        headers = {"X-Api-Key": self.raw_key}
        if self.base_url:
            response = self._http.request(method, path, json=body, headers=headers)
            status, content = response.status_code, response.content
        else:
            extra = {"HTTP_X_API_KEY": self.raw_key, "secure": settings.SECURE_SSL_REDIRECT}
            if body is None:
                response = getattr(self._client, method.lower())(path, **extra)
            else:
                response = self._client.post(path, data=json.dumps(body), content_type="application/json", **extra)
            status, content = response.status_code, response.content
        try:
            return status, json.loads(content or b"{}")
        except ValueError:
            return status, {}


def _callback_deliver_here(job_id) -> bool:
    """Make the due attempt at the job's callback in this process (the engine's own code: signing,
    the SSRF guard, the POST), for when the worker that would send it cannot reach this machine's
    receiver. True when an attempt was made."""
    from levqor.webhooks.delivery import webhook_delivery_attempt
    from levqor.webhooks.models import WebhookDelivery

    delivery = WebhookDelivery.objects.filter(source=f"jobs.job:{job_id}", endpoint__isnull=True).first()
    return delivery is not None and webhook_delivery_attempt(delivery_id=delivery.pk) is not None


def _end_to_end(steps: _Steps, *, base_url: str | None, timeout: float, worker: Callable | None) -> None:
    from accounts.services.keys import api_key_create, api_key_revoke
    from accounts.services.users import user_get_or_create
    from levqor.outbound import outbound_receiver_url

    deadline = time.monotonic() + timeout
    user, _ = user_get_or_create(email=INTEGRITY_EMAIL, name="Integrity check")
    # A test-mode key: nothing real happens on its behalf; it expires on its own if the revoke fails.
    created = api_key_create(owner=user, name="integrity check", livemode=False,
                             expires_at=timezone.now() + timedelta(seconds=timeout + 300),
                             details={"via": "integrity_check"})
    api = _Api(created.raw_key, base_url)
    state: dict = {}
    with CallbackReceiver() as receiver:
        base = outbound_receiver_url(port=receiver.port, seconds=int(timeout) + 120)

        def submit() -> str:
            marker = uuid.uuid4().hex
            status, body = api.call("POST", "/api/v1/jobs", {
                "workflow": WORKFLOW, "payload": {"integrity_check": marker},
                "callback_url": f"{base}/callback"})
            if status not in (200, 201, 202) or "id" not in body:
                raise IntegrityFailed(f"POST /api/v1/jobs answered {status} {body.get('error', '')} ({api.how})")
            state.update(job_id=body["id"], marker=marker)
            return f"job {body['id']} ({WORKFLOW}, test mode) accepted with {status}, {api.how}"

        def run() -> str:
            status = ""
            while time.monotonic() < deadline:
                if worker:
                    worker(state["job_id"])
                code, body = api.call("GET", f"/api/v1/jobs/{state['job_id']}")
                status = body.get("status", f"HTTP {code}")
                if status in FINAL:
                    break
                time.sleep(0.2)
            if status != "succeeded":
                raise IntegrityFailed(f"job {state['job_id']} is {status or 'unknown'} after {timeout:.0f} s"
                                      + (" (is a qcluster running?)" if status == "queued" else ""))
            if body.get("result") != {"echo": {"integrity_check": state["marker"]}}:
                raise IntegrityFailed("the job succeeded with a result other than its payload echoed")
            return f"succeeded on attempt {body.get('attempts', '?')} " + (
                "(worker code run by this process)" if worker else "(run by the cluster's workers)")

        def callback() -> str:
            by = "a worker"
            while not receiver.arrived.is_set() and time.monotonic() < deadline:
                if worker:
                    worker(state["job_id"])
                if receiver.arrived.wait(0.2):
                    break
                # A worker on another machine cannot reach this one's 127.0.0.1: after a grace
                # period the due attempt is made here, by the engine's own code.
                if (worker or time.monotonic() > deadline - timeout / 2) and _callback_deliver_here(state["job_id"]):
                    by = "this process (engine code)"
            if not receiver.requests:
                raise IntegrityFailed(f"no callback reached the receiver within {timeout:.0f} s")
            request = receiver.requests[-1]
            code, secret = api.call("GET", "/api/v1/webhooks/secret")
            if code != 200:
                raise IntegrityFailed(f"GET /api/v1/webhooks/secret answered {code}")
            if receiver.status >= 300:
                raise IntegrityFailed(f"the receiver answered {receiver.status}: the callback was not accepted")
            try:
                standardwebhooks.Webhook(secret["secret"]).verify(request["body"], request["headers"])
            except standardwebhooks.WebhookVerificationError as exc:
                raise IntegrityFailed(f"the callback's signature does not verify: {exc}") from exc
            data = json.loads(request["body"]).get("data", {})
            if str(data.get("id")) != str(state["job_id"]) or data.get("status") != "succeeded":
                raise IntegrityFailed("the signed callback is not the job's final state")
            return f"signed callback received and verified (Standard Webhooks), sent by {by}"

        ok = steps.run("job submitted", submit)
        ok = ok and steps.run("job run", run)
        if ok:
            steps.run("callback verified", callback)
        else:
            for name in ("job run", "callback verified")[1 if "job_id" in state else 0:]:
                steps.fail(name, "not checked: the step before it failed")

    def revoke() -> str:
        api_key_revoke(api_key=created.api_key, details={"via": "integrity_check"})
        code, _ = api.call("GET", "/api/v1/jobs")
        if code != 401:
            raise IntegrityFailed(f"the revoked key was answered {code}, not 401")
        return "revoked; the API refuses it with 401"

    steps.run("key revoked", revoke)


def integrity_run(*, source: str = "command", progress: Callable[[dict], None] | None = None,
                  base_url: str | None = None, timeout: float = 60, worker: Callable | None = None) -> IntegrityRun:
    """Run the check and store it. `base_url`: submit through that running web server (else the
    in-process test client); `worker(job_id)`: called while waiting, to be the worker in this process
    (integrity_worker_here; tests); `progress(step)`: told each step as it ends. A failed run raises
    the critical alert "integrity_check"."""
    run = IntegrityRun.objects.create(source=source[:32])
    steps = _Steps(progress)
    try:
        _end_to_end(steps, base_url=base_url, timeout=timeout, worker=worker)
    except Exception as exc:  # setting up the end-to-end part failed: say so, check the rest
        steps.fail("end to end", f"{type(exc).__name__}: {str(exc)[:300]}")
    for name, func in (("database", checks.check_database), ("cache", checks.check_cache),
                       ("broker", checks.check_broker), ("schedules", checks.check_schedules),
                       ("email configuration", checks.check_email), ("stripe configuration", checks.check_stripe),
                       ("sentry", checks.check_sentry)):
        steps.run(name, func)
    run.steps, run.ok, run.finished_at = steps.steps, all(s["ok"] for s in steps.steps), timezone.now()
    run.save(update_fields=["steps", "ok", "finished_at"])
    if not run.ok:
        _alert(run)
    return run


def _alert(run: IntegrityRun) -> None:
    from intelligence.services.alerts import alert_raise

    failed = [f"{s['name']}: {s['detail']}" for s in run.steps if not s["ok"]]
    alert_raise(source="integrity", severity="critical", title="Integrity check failed",
                body=f"Run {run.pk} ({run.source}): " + "; ".join(failed), dedup_key="integrity_check")


def integrity_report_create(*, run: IntegrityRun | None = None, actor=None, source: str = "") -> Report:
    """The evidence PDF of `run` (a new run when None) stored as a Report of kind integrity, linked
    from the run."""
    from intelligence.services.pdf import pdf_pages, pdf_render

    run = run or integrity_run(source=source or "command")
    context = {"run": run, "steps": run.steps, "environment": checks.environment(),
               "failed": sum(not s["ok"] for s in run.steps),
               "total_ms": sum(s["ms"] for s in run.steps), "generated_at": timezone.now()}
    pdf = pdf_render(template="reports/integrity.html", context=context)
    outcome = "passed" if run.ok else "FAILED"
    with transaction.atomic():
        report = Report.objects.create(
            kind=Report.Kind.INTEGRITY, title=f"Integrity check {run.started_at:%Y-%m-%d %H:%M} UTC: {outcome}",
            period_start=run.started_at, period_end=run.finished_at or timezone.now(), pdf=pdf,
            size_bytes=len(pdf), pages=pdf_pages(pdf), created_by=actor, source=(source or run.source)[:32])
        run.report = report
        run.save(update_fields=["report"])
    return report
