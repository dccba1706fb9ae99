"""Job callbacks moved onto the webhook engine: every stored CallbackDelivery attempt becomes a
WebhookAttempt of a WebhookDelivery (one per message id, owner = the job's owner, source
"jobs.job:<id>"), then the table goes.

The old table did not keep the bodies sent; a moved delivery's body records the job id and status
and notes that. A callback still pending at the move is not continued under its old message id
(whose body is not stored): its moved delivery ends failed with that reason, and the job's callback
is marked for a fresh hand-over (callback_attempts 0), which the reaper gives the engine with the
job's full body once its old next attempt time has passed."""

import json
from collections import defaultdict

from django.db import migrations

MOVED = "moved to the webhook engine"


def forward(apps, schema_editor):
    CallbackDelivery = apps.get_model("jobs", "CallbackDelivery")
    Job = apps.get_model("jobs", "Job")
    WebhookDelivery = apps.get_model("webhooks", "WebhookDelivery")
    WebhookAttempt = apps.get_model("webhooks", "WebhookAttempt")
    groups = defaultdict(list)
    for row in CallbackDelivery.objects.order_by("job_id", "attempt", "id").iterator():
        groups[(row.job_id, row.webhook_id)].append(row)
    jobs = Job.objects.in_bulk({job_id for job_id, _ in groups})
    for (job_id, msg_id), rows in groups.items():
        job = jobs[job_id]
        last = rows[-1]
        delivered = any(r.succeeded for r in rows)
        still_pending = (not delivered and job.callback_status == "pending"
                         and msg_id == f"msg_{job.pk.hex}_{job.attempts}")
        body = json.dumps({"id": msg_id, "type": f"job.{job.status}",
                           "timestamp": rows[0].at.isoformat().replace("+00:00", "Z"),
                           "data": {"id": str(job.pk), "status": job.status, "note": f"{MOVED}; body not stored"}},
                          separators=(",", ":"))
        delivery = WebhookDelivery.objects.create(
            msg_id=msg_id, owner_id=job.owner_id, endpoint=None, url=last.url or job.callback_url or "http://invalid",
            event_type=f"job.{job.status}", source=f"jobs.job:{job.pk}", body=body,
            status="delivered" if delivered else "failed", attempts=max(r.attempt for r in rows),
            next_attempt_at=None, last_status_code=last.status_code,
            last_error=(f"{MOVED}; sent again as a new message" if still_pending else last.error)[:500],
            created_at=rows[0].at, delivered_at=next((r.at for r in rows if r.succeeded), None))
        WebhookAttempt.objects.bulk_create([
            WebhookAttempt(delivery=delivery, number=r.attempt, at=r.at, url=r.url or delivery.url,
                           status_code=r.status_code, succeeded=r.succeeded, duration_ms=r.duration_ms,
                           error=r.error[:500])
            for r in rows])
        if still_pending:
            Job.objects.filter(pk=job.pk).update(callback_attempts=0)


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0002_drop_redundant_fk_indexes"),
        ("webhooks", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(forward, migrations.RunPython.noop),
        migrations.DeleteModel(name="CallbackDelivery"),
    ]
