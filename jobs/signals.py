"""Signals of the jobs app.

job_finished(sender=Job, job=...): a job reached a final state, sent inside the transaction that
made it so. jobs.callbacks connects here (from JobsConfig.ready()) to hand the callback and the
job.completed / job.failed event to the webhook engine once that transaction commits; the services
send it, so they need not import the callbacks module and the API serializers behind it."""

from django.dispatch import Signal

job_finished = Signal()
