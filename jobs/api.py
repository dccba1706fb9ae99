"""Jobs API: thin DRF views that parse, call a service and serialize."""

import functools
import json

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder
from rest_framework.views import APIView

from accounts.authentication import api_key_from_headers
from accounts.models import ApiKey
from accounts.services.key_auth import api_key_authenticate_request
from jobs import selectors, services
from jobs.intake import intake_parse
from jobs.models import Job
from jobs.serializers import JobCreateSerializer, JobDetailSerializer, JobPageSerializer, JobSerializer
from jobs.workflows import workflows_for
from levqor.client_ip import client_ip
from levqor.errors import AppError, ErrorCode
from levqor.http_errors import error_body, error_headers, store_down_response
from levqor.pagination import NewestFirstPagination
from levqor.store import STORE_DOWN


def _livemode(request) -> bool:
    return request.auth.livemode if isinstance(request.auth, ApiKey) else True


def _api_key(request) -> ApiKey | None:
    return request.auth if isinstance(request.auth, ApiKey) else None


def _owned_job(request, job_id) -> Job:
    job = selectors.job_get_for(request.user, livemode=_livemode(request), job_id=job_id)
    if job is None:
        raise AppError(ErrorCode.NOT_FOUND, "No such job.", details={"job_id": str(job_id)})
    return job






def _create(request, *, owner, api_key: ApiKey | None, legacy: bool, render) -> tuple[int, dict, dict]:
    """Shared intake path of POST /jobs and the old POST /intake, for a DRF request or a plain one
    (the API-key fast path): (status, body, headers)."""
    livemode = api_key.livemode if api_key is not None else True
    try:
        body = request.body
    except RequestDataTooBig as exc:
        raise AppError(ErrorCode.REQUEST_TOO_LARGE, "The request body is too large.",
                       details={"limit_bytes": settings.MAX_REQUEST_BODY_BYTES}) from exc
    key = request.headers.get("Idempotency-Key", "").strip()
    endpoint = "intake" if legacy else "jobs"
    fingerprint = ""
    if key:
        fingerprint = services.request_fingerprint(endpoint=endpoint, body=body)
        replay = services.idempotency_lookup(owner=owner, livemode=livemode, key=key, fingerprint=fingerprint)
        if replay is not None:
            return _replayed(replay)
    parsed = intake_parse(body=body, content_type=request.content_type, legacy=legacy, owner_id=owner.pk,
                          livemode=livemode)
    job, stored = services.job_create(owner=owner, api_key=api_key, livemode=livemode, request=parsed,
                                      idempotency_key=key, render=render, fingerprint=fingerprint, endpoint=endpoint)
    if job is None:  # a concurrent twin with the same key won: replay its answer
        return _replayed(stored)
    status_code, body = (stored.status, stored.body) if stored else render(job)
    return status_code, body, {"Location": f"/api/v1/jobs/{job.pk}"}


def _replayed(stored: services.StoredResponse) -> tuple[int, dict, dict]:
    """The first answer again, headers included (Stripe semantics), marked as a replay."""
    headers = {"Idempotent-Replayed": "true"}
    body = stored.body if isinstance(stored.body, dict) else {}
    job_id = body.get("id") or body.get("job_id")
    if job_id:
        headers["Location"] = f"/api/v1/jobs/{job_id}"
    return stored.status, stored.body, headers


def _drf_create(request, *, legacy: bool, render) -> Response:
    status_code, body, headers = _create(request, owner=request.user, api_key=_api_key(request), legacy=legacy,
                                         render=render)
    return Response(body, status=status_code, headers=headers)


def _render_job(job: Job) -> tuple[int, dict]:
    return 201, dict(JobSerializer(job).data)


def _render_intake(job: Job) -> tuple[int, dict]:
    return 202, {"job_id": str(job.pk), "status": job.status}


class JobCollectionView(APIView):
    required_scopes = {"GET": "jobs:read", "POST": "jobs:write"}

    @extend_schema(
        parameters=[OpenApiParameter("status", enum=Job.Status.values), OpenApiParameter("workflow", str),
                    OpenApiParameter("cursor", str), OpenApiParameter("limit", int)],
        responses=JobPageSerializer, summary="List my jobs, newest first", operation_id="jobs_list",
    )
    def get(self, request):
        status_filter = request.query_params.get("status")
        if status_filter and status_filter not in Job.Status.values:
            raise AppError(ErrorCode.VALIDATION_FAILED, f"status must be one of {', '.join(Job.Status.values)}.",
                           details={"field": "status"})
        jobs = selectors.job_list_for(request.user, livemode=_livemode(request), status=status_filter,
                                      workflow=request.query_params.get("workflow"))
        paginator = NewestFirstPagination()
        page = paginator.paginate_queryset(jobs, request, view=self)
        return paginator.get_paginated_response(JobSerializer(page, many=True).data)

    @extend_schema(request=JobCreateSerializer, responses={201: JobSerializer}, summary="Submit a job",
                   parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER)])
    def post(self, request):
        return _drf_create(request, legacy=False, render=_render_job)


class IntakeView(APIView):
    """The old intake: same checks, answers 202 {"job_id", "status"}."""

    required_scopes = {"POST": "jobs:write"}

    @extend_schema(request=JobCreateSerializer, summary="Submit a job (old Levqor contract)",
                   responses={202: inline_serializer("IntakeAccepted", {"job_id": serializers.UUIDField(),
                                                                        "status": serializers.CharField()})})
    def post(self, request):
        return _drf_create(request, legacy=True, render=_render_intake)


class JobDetailView(APIView):
    required_scopes = {"GET": "jobs:read"}

    @extend_schema(responses=JobDetailSerializer, summary="One job, with its event log")
    def get(self, request, job_id):
        job = _owned_job(request, job_id)
        return Response(JobDetailSerializer(job).data)


class JobCancelView(APIView):
    required_scopes = {"POST": "jobs:write"}

    @extend_schema(request=None, responses=JobSerializer, summary="Cancel a queued or running job")
    def post(self, request, job_id):
        job = services.job_cancel(job=_owned_job(request, job_id))
        return Response(JobSerializer(job).data, status=status.HTTP_200_OK)


class JobRetryView(APIView):
    required_scopes = {"POST": "jobs:write"}

    @extend_schema(request=None, responses={202: JobSerializer}, summary="Run a failed or cancelled job again")
    def post(self, request, job_id):
        job = services.job_retry(job=_owned_job(request, job_id))
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class LegacyStatusView(APIView):
    required_scopes = {"GET": "jobs:read"}

    @extend_schema(summary="A job's status (old Levqor contract)", responses=inline_serializer(
        "LegacyStatus", {"job_id": serializers.UUIDField(), "status": serializers.CharField(),
                         "created_at": serializers.DateTimeField(), "result": serializers.JSONField(),
                         "error": serializers.JSONField()}))
    def get(self, request, job_id):
        job = selectors.job_get_for(request.user, livemode=_livemode(request), job_id=job_id,
                                    fields=("id", "status", "created_at", "result", "error_code", "error_message"))
        if job is None:  # the old shape kept job_id at the top level
            raise AppError(ErrorCode.NOT_FOUND, "No such job.", details={"job_id": str(job_id)},
                           legacy_fields={"job_id": str(job_id)})
        error = {"code": job.error_code, "message": job.error_message} if job.error_code else None
        return Response({"job_id": str(job.pk), "status": job.status, "created_at": job.created_at,
                         "result": job.result, "error": error})


class WorkflowListView(APIView):
    required_scopes = {"GET": "jobs:read"}

    @extend_schema(summary="The workflows a job can run, with their payload schemas", responses=inline_serializer(
        "WorkflowList", {"data": serializers.ListField(child=serializers.DictField())}))
    def get(self, request):
        return Response({"data": [
            {"name": w.name, "description": w.description, "payload_schema": w.payload_schema,
             "timeout_seconds": w.timeout_seconds, "max_attempts": w.max_attempts}
            for w in workflows_for(owner_id=request.user.pk, livemode=_livemode(request))
        ]})


# --- the API-key fast path of the two intake endpoints ----------------------------------------

def _json_only(request) -> bool:
    """The client asks for JSON (or anything): not the browsable API, not another format."""
    accept = request.META.get("HTTP_ACCEPT", "")
    if "format" in request.GET or "text/html" in accept:
        return False
    return not accept or any(kind in accept for kind in ("application/json", "*/*", "application/*"))


_INTAKE_SCOPE = "jobs:write"


def intake_fast_path(view_class: type[APIView], *, legacy: bool, render):
    """The view of an intake endpoint: a POST presenting an API key and asking for JSON is served
    here, with the same services and answers, but without DRF's per-request machinery (request
    wrapping, authenticator and permission loops, content negotiation, renderer lookup), which
    cost more than the intake's own work. The key is checked as on the DRF path, by
    api_key_authenticate_request (a refused key, the quota and the jobs:write scope give the
    same answers). Everything else (other methods, sessions and the browsable API, no key, other
    formats) goes to the DRF view. The DRF view's attributes are kept, so the OpenAPI schema
    still describes it."""
    drf_view = view_class.as_view()

    @functools.wraps(drf_view)
    def view(request, *args, **kwargs):
        raw_key = api_key_from_headers(request.headers) if request.method == "POST" else None
        if raw_key is None or not _json_only(request):
            return drf_view(request, *args, **kwargs)
        try:
            api_key = api_key_authenticate_request(raw_key, ip=client_ip(request), scope=_INTAKE_SCOPE, counted=True)
            request.user, request.auth = api_key.owner, api_key
            status_code, body, headers = _create(request, owner=api_key.owner, api_key=api_key, legacy=legacy,
                                                 render=render)
        except AppError as exc:
            status_code, body, headers = exc.status, error_body(exc), error_headers(exc)
        except STORE_DOWN:
            return store_down_response()
        response = HttpResponse(json.dumps(body, cls=JSONEncoder, ensure_ascii=False, separators=(",", ":")),
                                status=status_code, content_type="application/json")
        for name, value in headers.items():
            response[name] = value
        response["Vary"] = "Accept"
        return response

    # Every POST by a valid key counts against the quota (the DRF view's too): the rate limiter's
    # round trip may count it (accounts.authentication.api_key_trip_extras).
    view.quota_counted_early = True
    return view


job_collection_view = intake_fast_path(JobCollectionView, legacy=False, render=_render_job)
intake_view = intake_fast_path(IntakeView, legacy=True, render=_render_intake)
