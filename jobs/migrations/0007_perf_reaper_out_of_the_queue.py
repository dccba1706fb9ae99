"""The lease reaper runs in each qcluster's main process (jobs/cluster.py), no longer as a django-q2
schedule: its old Schedule row goes, or the scheduler would keep queueing it too."""

from django.db import migrations

REAPER_SCHEDULE_NAME = "jobs.reap (lease reaper, dispatcher, heartbeat)"


def reaper_schedule_delete(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.using(schema_editor.connection.alias).filter(name=REAPER_SCHEDULE_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0006_fixbill1_run_cost"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(reaper_schedule_delete, migrations.RunPython.noop)]
