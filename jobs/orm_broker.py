"""django-q2's ORM broker (the embedded setup's queue: a table in our own SQLite database) with a
wake-up instead of a busy poll, and the token row written with SQL built once.

django-q2's own ORM broker sleeps `poll` seconds whenever the queue is empty: pickup costs half a
poll on average (26 ms at poll 0.05) and an idle cluster queries the table 20 times a second. Here
the pusher waits on a FIFO (a named pipe beside the SQLite file) that every enqueue pokes with one
byte once its transaction commits; the wait has a timeout (WORKER_ORM_WAKE_MAX_WAIT_SECONDS, 1 s)
after which the pusher looks at the table anyway, so a lost poke (a process killed between commit
and poke, a full pipe) costs at most that. Every process that enqueues on this machine shares the
SQLite file, so it finds the FIFO; several pushers (two clusters) may wait on it: one byte wakes
one of them, which takes the task, and the table stays the truth.

The pusher takes a batch (Q_CLUSTER bulk) of due tasks in one statement (UPDATE ... RETURNING,
with SKIP LOCKED on PostgreSQL), where django-q2's broker read them and locked each with its own
UPDATE. A task's lock runs Q_CLUSTER retry seconds as in django-q2: an unacknowledged task is
handed out again after it.

On a database other than SQLite (the ORM broker on PostgreSQL without Redis) the enqueuer may be on
another machine, so there is no FIFO: the pusher polls every `poll` seconds, as django-q2's does."""

import contextlib
import errno
import logging
import os
import re
import select
import threading
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone
from django_q.brokers.orm import ORM
from django_q.conf import Conf
from django_q.models import OrmQ

from jobs.fastsql.token import orm_queue_insert

logger = logging.getLogger("levqor.jobs")

_OPEN_RETRY_SECONDS = 1.0


def wake_path(list_key: str) -> Path | None:
    """The FIFO of queue `list_key`: beside the SQLite file of the broker's database; None when that
    database is not a file on this machine."""
    db = connections[Conf.ORM]
    if db.vendor != "sqlite":
        return None
    name = str(db.settings_dict["NAME"])
    if not name or name == ":memory:" or name.startswith("file:"):
        return None
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", list_key)
    return Path(name).with_name(f".{Path(name).name}.qwake-{safe}")


class OrmBroker(ORM):
    """See the module's docstring. Q_CLUSTER broker_class in the embedded setup."""

    def __init__(self, list_key: str = None):
        super().__init__(list_key=list_key or Conf.CLUSTER_NAME)
        self._reader: int | None = None
        self._reader_failed = False

    # --- enqueue (web processes, workers) -----------------------------------------------------

    def enqueue(self, task):
        orm_queue_insert(list_key=self.list_key or Conf.CLUSTER_NAME, payload=task)
        db = connections[Conf.ORM]
        if db.in_atomic_block:
            transaction.on_commit(self.wake, using=Conf.ORM)  # before the commit the pusher would not see it
        else:
            self.wake()

    def wake(self) -> None:
        """Poke the waiting pusher(s): one byte in the FIFO. Never raises; without a cluster (no
        FIFO, or nobody reading it) it does nothing, trying to open again at most once a second.
        One write end per FIFO and process, whatever the number of broker objects (one per thread)."""
        path = wake_path(self.list_key)
        if path is not None:
            _poke(str(path))

    # --- dequeue (the cluster's pusher) ---------------------------------------------------------

    def dequeue(self):
        tasks = self._take()
        if tasks:
            return tasks
        if self._wait():
            return self._take() or None
        return None

    def _wait(self) -> bool:
        """Wait for a poke (True) or the fallback timeout (False)."""
        fd = self._reader_fd()
        if fd is None:
            time.sleep(Conf.POLL)
            return False
        ready, _, _ = select.select([fd], [], [], settings.WORKER_ORM_WAKE_MAX_WAIT_SECONDS)
        if not ready:
            return False
        with contextlib.suppress(BlockingIOError):
            while os.read(fd, 4096):
                pass
        return True

    def _reader_fd(self) -> int | None:
        if self._reader is None:
            path = None if self._reader_failed else wake_path(self.list_key)
            if path is None:
                return None
            try:
                with contextlib.suppress(FileExistsError):
                    os.mkfifo(path, 0o600)
                # Read-write: the pipe never reports end-of-file while this pusher holds it, and a
                # writer's open succeeds as long as one pusher is waiting.
                self._reader = os.open(path, os.O_RDWR | os.O_NONBLOCK)
            except OSError as exc:  # e.g. a read-only directory: poll as django-q2 does, and say it once
                self._reader_failed = True
                logger.warning("no wake-up FIFO for the ORM queue (%s); polling every %s s", exc, Conf.POLL,
                               extra={"errno": errno.errorcode.get(exc.errno, "")})
                return None
        return self._reader

    def _take(self) -> list[tuple[int, str]]:
        """Lock up to Q_CLUSTER bulk due tasks for Q_CLUSTER retry seconds, in one statement;
        [(id, payload)] oldest first."""
        self.get_connection()  # django-q2's ORM broker: drop a stale connection outside a transaction
        db = connections[Conf.ORM]
        table = OrmQ._meta.db_table
        now = timezone.now()
        lock_until = now + timedelta(seconds=Conf.RETRY)  # as django-q2's broker locks a task
        skip_locked = " FOR UPDATE SKIP LOCKED" if db.vendor == "postgresql" else ""
        key, lock = db.ops.quote_name("key"), db.ops.quote_name("lock")
        sql = (f"UPDATE {table} SET {lock} = %s WHERE id IN (SELECT id FROM {table} WHERE {key} = %s "  # noqa: S608
               f"AND {lock} < %s ORDER BY id LIMIT %s{skip_locked}) RETURNING id, payload")
        adapt = db.ops.adapt_datetimefield_value
        with db.cursor() as cursor:
            cursor.execute(sql, [adapt(lock_until), self.list_key, adapt(now), Conf.BULK])
            rows = cursor.fetchall()
        return sorted(rows)


_writers: dict[str, int] = {}  # FIFO path -> this process's write end
_writers_retry_at: dict[str, float] = {}
_writers_lock = threading.Lock()


def _poke(path: str) -> None:
    with _writers_lock:
        fd = _writers.get(path)
        if fd is None:
            now = time.monotonic()
            if now < _writers_retry_at.get(path, 0.0):
                return
            try:
                fd = _writers[path] = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:  # ENOENT: no cluster made it yet; ENXIO: no cluster reads it now
                _writers_retry_at[path] = now + _OPEN_RETRY_SECONDS
                return
        try:
            os.write(fd, b"\0")
        except BlockingIOError:
            pass  # the pipe is full of pokes: the pusher has plenty to wake for
        except OSError:  # EPIPE: the readers are gone (cluster stopped)
            with contextlib.suppress(OSError):
                os.close(fd)
            del _writers[path]
            _writers_retry_at[path] = time.monotonic() + _OPEN_RETRY_SECONDS
