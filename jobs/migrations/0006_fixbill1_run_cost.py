# Each run's cost on the event that ends it, so costs are counted on the day they were spent (a
# retried job's earlier runs are not spent again on the day the retry finishes).

from django.db import migrations, models
from django.db.models import OuterRef, Subquery

RUN_ENDS = ["succeeded", "failed", "cancelled", "retry_scheduled", "lease_expired"]


def costs_onto_last_run(apps, schema_editor):
    """Jobs from before: their runs' costs were only summed on the job, so the whole actual_cost
    goes on the event that ended the job's latest run (where the ledger counted it until now)."""
    Job = apps.get_model("jobs", "Job")
    JobEvent = apps.get_model("jobs", "JobEvent")
    last_end = (JobEvent.objects.filter(job=OuterRef("job_id"), kind__in=RUN_ENDS)
                .order_by("-at", "-id").values("id")[:1])
    (JobEvent.objects.filter(kind__in=RUN_ENDS, cost__isnull=True, job__actual_cost__isnull=False,
                             id=Subquery(last_end))
     .update(cost=Subquery(Job.objects.filter(pk=OuterRef("job_id")).values("actual_cost")[:1])))


class Migration(migrations.Migration):

    dependencies = [
        ('jobs', '0005_job_finished'),
    ]

    operations = [
        migrations.AddField(
            model_name='jobevent',
            name='cost',
            field=models.DecimalField(blank=True, decimal_places=6, max_digits=12, null=True),
        ),
        migrations.AddIndex(
            model_name='jobevent',
            index=models.Index(condition=models.Q(('cost__isnull', False)), fields=['at'], name='jobevent_run_cost_at'),
        ),
        migrations.RunPython(costs_onto_last_run, migrations.RunPython.noop),
    ]
