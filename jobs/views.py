"""Server-rendered pages of jobs: the dashboard (my jobs, with a JSON feed its refresher polls)
and the workflow page (submit a job as the signed-in user, through the same intake checks as the API)."""

import contextlib
import json
import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_safe

from jobs import selectors, services
from jobs.intake import intake_parse
from jobs.models import Job
from jobs.workflows import workflow_all, workflow_get, workflows_for
from levqor.errors import AppError, ErrorCode
from levqor.health import read_only_json

DASHBOARD_PAGE_SIZE = 50
STATUS_POLL_MAX_IDS = 100
ACTIVE_STATUSES = (Job.Status.QUEUED, Job.Status.RUNNING)


def _mode(request) -> str:
    return "test" if request.GET.get("mode") == "test" else "live"


@login_required
@require_safe
def dashboard(request):
    mode = _mode(request)
    status = request.GET.get("status") or ""
    if status not in Job.Status.values:
        status = ""
    workflow = request.GET.get("workflow") or ""
    jobs = list(selectors.job_list_for(request.user, livemode=mode == "live", status=status or None,
                                       workflow=workflow or None)
                .only("id", "workflow", "status", "created_at", "finished_at", "attempts", "livemode")
                .order_by("-created_at", "-id")[:DASHBOARD_PAGE_SIZE])
    return render(request, "jobs/dashboard.html", {
        "jobs": jobs, "mode": mode, "status": status, "workflow": workflow, "statuses": Job.Status.values,
        "workflows": [w.name for w in workflow_all()], "page_size": DASHBOARD_PAGE_SIZE,
        "any_active": any(job.status in ACTIVE_STATUSES for job in jobs),
    })


def _owned(request, job_id) -> Job:
    # A session user sees live and test jobs alike; owner is the check.
    job = selectors.job_get_for(request.user, livemode=None, job_id=job_id)
    if job is None:
        raise Http404("No such job.")
    return job


@login_required
@require_safe
def job_detail(request, job_id):
    job = _owned(request, job_id)
    return render(request, "jobs/job_detail.html", {
        "job": job, "events": list(job.events.all()),
        "payload_json": json.dumps(job.payload, indent=2, ensure_ascii=False),
        "result_json": json.dumps(job.result, indent=2, ensure_ascii=False) if job.result is not None else "",
        "active": job.status in ACTIVE_STATUSES,
    })


@read_only_json  # another method is 405 in the error shape, not a CSRF refusal
@login_required
def dashboard_status(request):
    """The statuses of the listed jobs of mine (ids=a,b,...), for the dashboard's refresher.
    Ids that are not my jobs are simply absent."""
    ids = [i for i in request.GET.get("ids", "").split(",") if i][:STATUS_POLL_MAX_IDS]
    valid = []
    for value in ids:
        with contextlib.suppress(ValueError):  # a malformed id is just not one of mine
            valid.append(uuid.UUID(value))
    rows = (Job.objects.filter(owner=request.user, pk__in=valid)
            .values("id", "status", "attempts", "finished_at", "updated_at"))
    jobs = [{"id": str(r["id"]), "status": r["status"], "attempts": r["attempts"],
             "finished_at": r["finished_at"].isoformat() if r["finished_at"] else None,
             "updated_at": r["updated_at"].isoformat()} for r in rows]
    return JsonResponse({"jobs": jobs, "active": any(j["status"] in ACTIVE_STATUSES for j in jobs)})


def _workflows(user):
    # An account's own workflows (a module installed from the marketplace page) are its live-mode
    # ones: the page offers them in live mode only, where intake finds them.
    return [{"name": w.name, "description": w.description, "max_attempts": w.max_attempts,
             "timeout_seconds": w.timeout_seconds, "schema_json": json.dumps(w.payload_schema, indent=2),
             "live_only": workflow_get(w.name) is None}
            for w in workflows_for(owner_id=user.pk, livemode=True)]


@login_required
@require_http_methods(["GET", "POST"])
def workflow_page(request):
    context = {"workflows": _workflows(request.user), "error": None, "submitted": {}}
    if request.method == "GET":
        return render(request, "jobs/workflow.html", context)
    name = request.POST.get("workflow", "")
    payload_text = request.POST.get("payload", "")
    mode = "test" if request.POST.get("mode") == "test" else "live"
    priority = request.POST.get("priority") or "normal"
    callback_url = request.POST.get("callback_url", "").strip()
    context["submitted"] = {"workflow": name, "payload": payload_text, "mode": mode, "priority": priority,
                            "callback_url": callback_url}
    try:
        try:
            payload = json.loads(payload_text or "{}")
        except ValueError as exc:
            raise AppError(ErrorCode.INVALID_JSON, "The payload is not valid JSON.", details={"reason": str(exc)[:200]}) from exc
        body = {"workflow": name, "payload": payload, "priority": priority}
        if callback_url:
            body["callback_url"] = callback_url
        # The API's own checks, in its order, on the body the API would get.
        parsed = intake_parse(body=json.dumps(body).encode(), content_type="application/json", owner_id=request.user.pk,
                              livemode=mode == "live")
        job, _ = services.job_create(owner=request.user, api_key=None, livemode=mode == "live", request=parsed)
    except AppError as exc:
        context["error"] = {"code": exc.code, "message": exc.message,
                            "errors": (exc.details or {}).get("errors") or []}
        return render(request, "jobs/workflow.html", context, status=exc.status)
    messages.success(request, f"Job {job.pk} submitted ({mode} mode).")
    return redirect(f"/dashboard/jobs/{job.pk}")
