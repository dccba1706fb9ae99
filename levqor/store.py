"""A shared store (Redis: cache, counters, broker; or the database) that cannot be reached right
now: callers answer "unavailable, retry shortly" (levqor.http_errors.store_down_error), never a 500."""

from django.db import InterfaceError, OperationalError
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import RedisError

STORE_DOWN = (RedisError, ConnectionInterrupted)
# PostgreSQL's SQLSTATEs of a server out of reach: class 08 (connection exception), and 57P01-57P03
# (terminated by an administrator, crash shutdown, cannot connect now: restarting, shutting down).
_PG_DOWN_CLASSES = ("08",)
_PG_DOWN_STATES = {"57P01", "57P02", "57P03"}
# What the message says when there is no SQLSTATE to go by (SQLite; a connection that failed before
# the server answered).
_DOWN_TEXTS = ("database is locked", "unable to open database", "disk i/o error", "connection",
               "server closed", "shutting down", "starting up", "terminating")


def database_down(exc: BaseException | None) -> bool:
    """The database out of reach (PostgreSQL restarting, its connection cut, SQLite locked past its
    timeout), answered like Redis out of reach: 503 with Retry-After. `make chaos` found a PostgreSQL
    restart answered as 500s. Only the loss of the server counts: an OperationalError that is our
    own fault (SQLite's syntax error or missing table, a statement timeout) stays a 500."""
    if isinstance(exc, InterfaceError):
        return True  # the connection is closed
    if not isinstance(exc, OperationalError):
        return False
    sqlstate = getattr(exc.__cause__, "sqlstate", None)
    if sqlstate:
        return sqlstate.startswith(_PG_DOWN_CLASSES) or sqlstate in _PG_DOWN_STATES
    text = str(exc).lower()
    return any(marker in text for marker in _DOWN_TEXTS)
