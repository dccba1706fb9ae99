"""The baselines the intake is compared with, and the no-op task of the raw django-q2 drain.

- bare: a plain Django view returning JSON (the floor: gunicorn + middleware + URL routing).
- MinimalDrfView: the least a DRF intake can do: parse JSON, validate it with a jsonschema
  validator compiled once, one indexed SELECT (the API key by its hash) and one INSERT into a
  table the bench creates itself (BASELINE_TABLE_DDL), no ORM model, so no migration.

The schema is a copy of the intake envelope, kept here so the baseline does not move when
application code changes.
"""

import hashlib
import json
import uuid

from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
from jsonschema import Draft202012Validator
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from jobs.intake import INTAKE_SCHEMA

BASELINE_TABLE = "bench_baseline_event"
BASELINE_TABLE_DDL = (
    f"CREATE TABLE IF NOT EXISTS {BASELINE_TABLE} ("
    " id varchar(32) PRIMARY KEY, owner_id varchar(64) NOT NULL, workflow varchar(128) NOT NULL,"
    " payload text NOT NULL, created_at varchar(40) NOT NULL)"
)

# The same old intake schema the real endpoint validates against, so the baseline does the same check.
SCHEMA = INTAKE_SCHEMA
VALIDATOR = Draft202012Validator(SCHEMA)  # compiled once, at import


def bare(request):
    return JsonResponse({"ok": True})


class MinimalDrfView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    def post(self, request):
        data = request.data
        errors = [e.message for e in VALIDATOR.iter_errors(data)]
        if errors:
            return Response({"error": "validation_failed", "details": errors}, status=400)
        digest = hashlib.sha256(request.headers.get("X-Api-Key", "").encode()).hexdigest()
        with connection.cursor() as cursor:
            cursor.execute("SELECT id, owner_id FROM accounts_apikey WHERE key_hash = %s", [digest])
            row = cursor.fetchone()
            if row is None:
                return Response({"error": "invalid_api_key"}, status=401)
            event_id = uuid.uuid4().hex
            cursor.execute(
                f"INSERT INTO {BASELINE_TABLE} (id, owner_id, workflow, payload, created_at) VALUES (%s, %s, %s, %s, %s)",
                [event_id, str(row[1]), data["workflow"], json.dumps(data["payload"]), timezone.now().isoformat()],
            )
        return Response({"job_id": event_id, "status": "queued"}, status=202)


def noop():
    """The raw django-q2 task: does nothing, so the drain measures django-q2 alone."""
    return None
