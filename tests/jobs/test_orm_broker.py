"""jobs.orm_broker: the embedded queue's pusher sleeps on a FIFO that each enqueue pokes after its
commit (not a busy poll), takes a batch of due tasks in one statement, and a real cluster picks a
job up in milliseconds."""

import os
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import OrmQ

from jobs import dispatch, orm_broker
from jobs.models import Job
from jobs.orm_broker import OrmBroker, wake_path
from tests.jobs.support import job_submit, worker_env

pytestmark = [pytest.mark.django_db,
              pytest.mark.skipif(bool(settings.REDIS_URL), reason="the embedded (ORM) broker; Redis is configured")]


@pytest.fixture
def broker(settings):
    settings.WORKER_ORM_WAKE_MAX_WAIT_SECONDS = 0.3
    pusher = OrmBroker(list_key=f"{Conf.CLUSTER_NAME}-unit")
    enqueuer = OrmBroker(list_key=pusher.list_key)
    yield pusher, enqueuer
    if pusher._reader is not None:
        os.close(pusher._reader)
    with orm_broker._writers_lock:
        for fd in orm_broker._writers.values():
            os.close(fd)
        orm_broker._writers.clear()
        orm_broker._writers_retry_at.clear()


def test_the_wake_up_fifo_sits_beside_the_sqlite_file():
    path = wake_path("levqor")
    if connection.vendor != "sqlite":
        assert path is None, "another database may be on another machine: no FIFO, a poll"
    else:
        assert path.parent == Path(str(connection.settings_dict["NAME"])).parent
        assert path.name.endswith(".qwake-levqor")


@pytest.mark.skipif("connection.vendor != 'sqlite'")
def test_an_idle_pusher_sleeps_until_the_timeout_and_a_poke_wakes_it_at_once(broker):
    pusher, enqueuer = broker
    started = time.monotonic()
    assert pusher.dequeue() is None
    assert 0.25 <= time.monotonic() - started < 1.0, "slept to the fallback timeout, not a busy loop"
    enqueuer.enqueue("payload-1")  # outside a transaction: poked at once
    started = time.monotonic()
    [(task_id, payload)] = pusher.dequeue()
    assert payload == "payload-1"
    assert time.monotonic() - started < 0.1
    # the poke was consumed: the next wait sleeps again
    started = time.monotonic()
    assert pusher.dequeue() is None
    assert time.monotonic() - started >= 0.25


@pytest.mark.skipif("connection.vendor != 'sqlite'")
def test_a_poke_comes_only_once_the_transaction_commits(broker, django_capture_on_commit_callbacks):
    pusher, enqueuer = broker
    pusher._reader_fd()  # the pusher waits already
    with django_capture_on_commit_callbacks(execute=False) as callbacks, transaction.atomic():
        enqueuer.enqueue("in-a-transaction")
    assert callbacks == [enqueuer.wake], "the wake-up waits for the commit"
    assert pusher._wait() is False, "no poke before the commit"
    callbacks[0]()
    assert pusher._wait() is True


def test_a_take_locks_a_batch_of_due_tasks_oldest_first_once(broker):
    pusher, enqueuer = broker
    for i in range(Conf.BULK + 3):
        enqueuer.enqueue(f"t{i}")
    first = pusher._take()
    assert [p for _, p in first] == [f"t{i}" for i in range(Conf.BULK)]
    second = pusher._take()
    assert [p for _, p in second] == [f"t{i}" for i in range(Conf.BULK, Conf.BULK + 3)]
    assert pusher._take() == [], "a locked task is not handed out twice"
    # A task never acknowledged (its cluster died) is due again once its lock (Q_CLUSTER retry) runs out.
    OrmQ.objects.filter(pk=first[0][0]).update(lock=timezone.now() - timedelta(seconds=1))
    assert [p for _, p in pusher._take()] == ["t0"]


def test_without_a_cluster_an_enqueue_does_not_fail(broker):
    _, enqueuer = broker
    path = wake_path(enqueuer.list_key)
    if path is not None and path.exists():
        path.unlink()
    enqueuer.enqueue("nobody-listens")
    assert OrmQ.objects.filter(key=enqueuer.list_key, payload="nobody-listens").exists()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif("connection.vendor != 'sqlite'")
def test_a_real_embedded_cluster_picks_a_job_up_in_milliseconds(user, tmp_path):
    log = tmp_path / "qcluster.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "manage.py", "qcluster"], env=worker_env(), cwd=settings.BASE_DIR,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        pickups = []
        for i in range(15):
            time.sleep(0.05)
            enqueued = timezone.now()
            job = job_submit(user)
            deadline = time.monotonic() + 30
            while not Job.objects.filter(pk=job.pk, started_at__isnull=False).exists():
                assert proc.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.002)
            if i >= 3:  # the first ones warm the workers up
                pickups.append((Job.objects.get(pk=job.pk).started_at - enqueued).total_seconds())
    finally:
        from tests.processes import process_stop

        process_stop(proc)
    # A poll of WORKER_ORM_WAKE_MAX_WAIT_SECONDS (1 s) alone would make the median ~500 ms.
    assert statistics.median(pickups) < 0.1, pickups
    assert dispatch.queue_size() == 0


@pytest.mark.skipif("connection.vendor != 'sqlite'")
def test_without_a_usable_fifo_the_pusher_polls_and_says_so_once(broker, monkeypatch, caplog):
    pusher, _ = broker
    monkeypatch.setattr("jobs.orm_broker.wake_path", lambda list_key: Path("/nonexistent-dir/q.fifo"))
    started = time.monotonic()
    assert pusher.dequeue() is None
    assert pusher.dequeue() is None
    assert time.monotonic() - started < 0.25, "Q_CLUSTER poll (0.05 s), not the wake-up's wait"
    assert [r.message for r in caplog.records].count(caplog.records[0].message) == 1
    assert "polling" in caplog.records[0].message


def test_many_broker_objects_share_one_write_end_per_process(broker):
    """Review of issue 14: each broker object (one per thread) opened its own write end of the FIFO
    and kept it: 200 short-lived brokers held 200 descriptors."""
    pusher, _ = broker
    assert pusher._reader_fd() is not None  # a pusher reads: the FIFO can be opened for writing
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(50):
        OrmBroker(list_key=pusher.list_key).wake()
    assert len(os.listdir("/proc/self/fd")) - before <= 1
