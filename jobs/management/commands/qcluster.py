"""`manage.py qcluster`: django-q2's cluster as its own command starts it, with what jobs.cluster
adds in the main process: the lease reaper on its own interval, and an orderly stop when SIGTERM
or SIGINT reaches the whole process group. Same options as django-q2's command."""

import os

from django.conf import settings
from django_q.cluster import Cluster
from django_q.management.commands.qcluster import Command as DjangoQClusterCommand

from jobs.cluster import serve


class Command(DjangoQClusterCommand):
    help = "Starts a django-q2 cluster with the jobs reaper in its main process (see jobs/cluster.py)."

    def handle(self, *args, **options):
        settings.SECRET_KEY  # noqa: B018  (as django-q2's command: signing needs it, fail early)
        if options.get("cluster_name"):
            os.environ["Q_CLUSTER_NAME"] = options["cluster_name"]
        serve(Cluster(), run_once=options.get("run_once", False))
