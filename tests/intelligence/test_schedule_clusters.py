"""Two real `qcluster` processes on Redis, sharing one queue and one database: every tick of a
schedule runs exactly once, none is lost, and both clusters' schedulers take ticks.

django-q2's scheduler looks every ~30 s in each cluster, counted from the cluster's start. So
that every look of either cluster finds due ticks (instead of one tick a minute), the test moves
each probe schedule's next_run back into the past as soon as a tick is taken, as time passing
would: each tick is one next_run, handed to the probe task as its `tick` (intended_date_kwarg),
and the probe writes one row per run. Then: one row per tick issued, never two.

The second cluster starts STAGGER_SECONDS after the first, so that its looks fall between the
first's and both are seen taking ticks (clusters started together look within milliseconds of
each other, and the second then finds every tick taken: the case
tests/intelligence/test_schedules.py holds with two schedulers started at the same instant)."""

import re
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.models import Schedule

from tests.intelligence.schedule_probe import probe_runs, probe_table_create, probe_table_drop
from tests.jobs.support import worker_env
from tests.processes import process_stop

pytestmark = [pytest.mark.redis, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PROBE = "tests.intelligence.schedule_probe.probe_run"
SCHEDULES = [f"probe.cluster.{n}" for n in range(4)]
STAGGER_SECONDS = 15
ISSUE_FOR_SECONDS = 72  # the first cluster looks at ~31 s and ~62 s, the second at ~46 s
CREATED = re.compile(r"created task \S+ from schedule \[(probe\.cluster\.\d+)\]")


def _log(path) -> str:
    return path.read_text(errors="replace")


def test_two_clusters_on_redis_run_every_tick_exactly_once(tmp_path):
    assert type(get_broker()).__name__ == "Redis"
    probe_table_create()
    clusters = []
    try:
        Schedule.objects.filter(name__startswith="probe.").delete()
        issued: set[tuple[str, str]] = set()
        for name in SCHEDULES:
            due = timezone.now() - timedelta(seconds=1)
            Schedule.objects.create(name=name, func=PROBE, kwargs=repr({"schedule": name}), intended_date_kwarg="tick",
                                    schedule_type=Schedule.MINUTES, minutes=1, repeats=-1, next_run=due)
            issued.add((name, due.isoformat()))

        env = {**worker_env(), "Q_WORKERS": "1", "Q_LOG_LEVEL": "INFO"}

        def cluster_start(n):
            log = tmp_path / f"qcluster-{n}.log"
            with log.open("w") as out:
                clusters.append((subprocess.Popen([sys.executable, "manage.py", "qcluster"],  # noqa: S603
                                                  env=env, cwd=settings.BASE_DIR, stdout=out, stderr=subprocess.STDOUT,
                                                  start_new_session=True), log))

        started = time.monotonic()
        cluster_start(0)
        while time.monotonic() < started + ISSUE_FOR_SECONDS:
            if len(clusters) == 1 and time.monotonic() >= started + STAGGER_SECONDS:
                cluster_start(1)
            for proc, log in clusters:
                if proc.poll() is not None:
                    pytest.fail(f"a cluster exited ({proc.returncode}):\n{_log(log)[-3000:]}")
            now = timezone.now()
            for name in SCHEDULES:
                # Taken (next_run moved past now): the next tick is due at once.
                tick = now - timedelta(seconds=1)
                if Schedule.objects.filter(name=name, next_run__gt=now).update(next_run=tick):
                    issued.add((name, tick.isoformat()))
            time.sleep(0.05)
        # Stop: a tick not taken yet is withdrawn (a conditional update, so never one being taken).
        for name in SCHEDULES:
            schedule = Schedule.objects.get(name=name)
            if Schedule.objects.filter(pk=schedule.pk, next_run__lte=timezone.now()).update(
                    next_run=timezone.now() + timedelta(days=1)):
                issued.discard((name, schedule.next_run.isoformat()))

        wait_until = time.monotonic() + 30
        while {(s, t) for s, t, _ in probe_runs()} < issued and time.monotonic() < wait_until:
            time.sleep(0.1)
        time.sleep(2)  # a second run of any tick would have landed by now: the queue is idle
    finally:
        for proc, _ in clusters:
            process_stop(proc)
        runs = probe_runs()
        probe_table_drop()

    per_tick = Counter((schedule, tick) for schedule, tick, _ in runs)
    assert [tick for tick, n in per_tick.items() if n > 1] == [], "a tick ran more than once"
    assert set(per_tick) == issued, "a tick was lost, or ran without being due"
    per_schedule = Counter(schedule for schedule, _ in per_tick)
    assert all(per_schedule[name] >= 2 for name in SCHEDULES), per_schedule
    # Both clusters' schedulers took ticks, and between them made one task per tick.
    created = [Counter(CREATED.findall(_log(log))) for _, log in clusters]
    assert all(sum(c.values()) > 0 for c in created), created
    assert sum(created, Counter()) == per_schedule
